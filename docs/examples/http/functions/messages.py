from livebase import mutation, query, v


@mutation(args={"author": v.string(), "body": v.string()})
def send(ctx, author, body):
    return ctx.db.insert("messages", {"author": author, "body": body})


@query(args={})
def list(ctx):
    return [{"author": m["author"], "body": m["body"]} for m in ctx.db.query("messages").collect()]
