from livebase import AppError, mutation, query, v


@query(args={})
def is_open(ctx):
    """Subscribed clients get a new result as soon as SIGNUPS_OPEN changes."""
    return ctx.env.get("SIGNUPS_OPEN") == "yes"


@mutation(args={"email": v.string()})
def sign_up(ctx, email):
    if ctx.env.get("SIGNUPS_OPEN") != "yes":
        raise AppError({"code": "signups_closed"})
    return ctx.db.insert("signups", {"email": email})
