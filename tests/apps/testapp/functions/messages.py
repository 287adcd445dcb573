from livebase import internal_mutation, mutation, query, v


@query(args={})
def list(ctx):
    return ctx.db.query("messages").order("desc").take(100)


@query(args={})
def count(ctx):
    return len(ctx.db.query("messages").collect())


@mutation(args={"author": v.string(), "body": v.string()})
def send(ctx, author, body):
    print("sending", body)
    return ctx.db.insert("messages", {"author": author, "body": body})


@internal_mutation(args={})
def clear(ctx):
    for m in ctx.db.query("messages"):
        ctx.db.delete(m["_id"])


@query(args={})
def default(ctx):
    # The default export: path "messages" (no colon).
    return "messages default export"
