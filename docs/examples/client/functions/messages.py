from livebase import AppError, mutation, query, v


@query(args={})
def list(ctx):
    """The 20 newest messages, newest first."""
    return ctx.db.query("messages").order("desc").take(20)


@query(args={})
def count(ctx):
    return len(ctx.db.query("messages").collect())


@mutation(args={"author": v.string(), "body": v.string()})
def send(ctx, author, body):
    if not author:
        raise AppError({"code": "missing_author"})
    return ctx.db.insert("messages", {"author": author, "body": body})
