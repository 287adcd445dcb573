from livebase import query


@query(args={})
def count(ctx):
    """How many messages there are."""
    return len(ctx.db.query("messages").collect())
