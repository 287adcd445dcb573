from livebase import internal_mutation, mutation, query, v


@mutation(args={"text": v.string(), "seconds": v.number()})
def send_expiring(ctx, text, seconds):
    message = ctx.db.insert("messages", {"text": text})
    # Written in this mutation's transaction: if the mutation fails,
    # nothing is scheduled.
    ctx.scheduler.run_after(seconds * 1000, destruct, {"id": message})
    return message


@internal_mutation(args={"id": v.id("messages")})
def destruct(ctx, id):
    if ctx.db.get(id) is not None:
        ctx.db.delete(id)


@query
def list(ctx):
    return [m["text"] for m in ctx.db.query("messages").collect()]
