"""Sample data: ``livebase run seed --dir examples/chat``."""

from livebase import internal_mutation


@internal_mutation(args={})
def default(ctx):
    """Create the "general" channel with a welcome message (once)."""
    general = ctx.db.query("channels").with_index("by_name", lambda q: q.eq("name", "general")).first()
    if general is not None:
        return general["_id"]
    channel = ctx.db.insert("channels", {"name": "general"})
    ctx.db.insert("messages", {"channel": channel, "author": "livebase", "body": "Welcome to #general!"})
    return channel
