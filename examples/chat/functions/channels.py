"""Channels: list them, create one (names are unique)."""

from livebase import AppError, mutation, query, v


@query(args={})
def list(ctx):
    """Every channel, in name order."""
    return ctx.db.query("channels").with_index("by_name").collect()


@mutation(args={"name": v.string()})
def create(ctx, name):
    """Create a channel and return its id; refuses a name that is taken."""
    name = name.strip().lower()
    if not name or len(name) > 40:
        raise AppError({"code": "invalid_name", "message": "a channel name has 1 to 40 characters"})
    # The lookup and the insert are one transaction, so names stay unique
    # even when several creates of the same name run at once.
    taken = ctx.db.query("channels").with_index("by_name", lambda q: q.eq("name", name)).first()
    if taken is not None:
        raise AppError({"code": "channel_exists", "channel": taken["_id"]})
    return ctx.db.insert("channels", {"name": name})
