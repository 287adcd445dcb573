from livebase import api, internal_action, internal_mutation, mutation, query, v


@mutation(args={"item": v.string(), "charge_after_ms": v.number()})
def place(ctx, item, charge_after_ms):
    order = ctx.db.insert("orders", {"item": item, "status": "placed"})
    job = ctx.scheduler.run_after(charge_after_ms, api.orders.charge, {"order": order})
    ctx.db.patch(order, {"job": job})
    return order


@internal_action(args={"order": v.id("orders")})
async def charge(ctx, order):
    # Talk to the payment provider here: an action may call other services.
    await ctx.run_mutation(api.orders.set_status, {"order": order, "status": "charged"})


@internal_mutation(args={"order": v.id("orders"), "status": v.string()})
def set_status(ctx, order, status):
    ctx.db.patch(order, {"status": status})


@mutation(args={"order": v.id("orders")})
def cancel(ctx, order):
    ctx.scheduler.cancel(ctx.db.get(order)["job"])
    ctx.db.patch(order, {"status": "canceled"})


@query(args={"order": v.id("orders")})
def status(ctx, order):
    doc = ctx.db.get(order)
    job = ctx.db.system.get(doc["job"])
    return {"order": doc["status"], "job": job["state"]["kind"]}
