import logging

from livebase import AppError, action, mutation, query, v

log = logging.getLogger(__name__)


@mutation(args={"item": v.string(), "quantity": v.number()})
def place(ctx, item, quantity):
    if quantity < 1:
        raise AppError({"code": "bad_quantity", "quantity": quantity})
    order = ctx.db.insert("orders", {"item": item, "quantity": quantity})
    print("placed order", order)
    log.info("%d x %s", quantity, item)
    return order


@query(args={})
def total(ctx):
    return sum(order["quantity"] for order in ctx.db.query("orders").collect())


@query(args={"item": v.string()})
def share(ctx, item):
    """The part of all ordered units that are ``item``."""
    orders = ctx.db.query("orders").collect()
    mine = sum(o["quantity"] for o in orders if o["item"] == item)
    return mine / sum(o["quantity"] for o in orders)


@action(args={})
async def report(ctx):
    total = await ctx.run_query("orders:total")
    if total > 100:
        log.warning("%d units ordered: time to restock", total)
    return total
