from livebase import mutation, query, v


@query(args={})
def list(ctx):
    """The 50 most recent messages, newest first."""
    return ctx.db.query("messages").order("desc").take(50)


@mutation(args={"author": v.string(), "body": v.string()})
def send(ctx, author, body):
    return ctx.db.insert("messages", {"author": author, "body": body})
