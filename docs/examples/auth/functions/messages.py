from livebase import AppError, mutation, query, v

from .users import current_user


@mutation(args={"body": v.string()})
def send(ctx, body):
    user = current_user(ctx)
    if user is None:
        raise AppError({"code": "unauthenticated", "message": "sign in to send messages"})
    return ctx.db.insert("messages", {"author": user["_id"], "body": body})


@query
def list(ctx):
    messages = ctx.db.query("messages").order("desc").take(50)
    return [{"author": ctx.db.get(m["author"])["name"], "body": m["body"]} for m in messages]
