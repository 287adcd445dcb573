from livebase import mutation, query, v


@mutation(args={"name": v.string()})
def increment(ctx, name):
    """Read, add one, write: safe under any number of concurrent calls."""
    counter = ctx.db.query("counters").with_index("by_name", lambda q: q.eq("name", name)).unique()
    if counter is None:
        ctx.db.insert("counters", {"name": name, "value": 1})
        return 1
    ctx.db.patch(counter["_id"], {"value": counter["value"] + 1})
    return counter["value"] + 1


@query(args={"name": v.string()})
def get(ctx, name):
    counter = ctx.db.query("counters").with_index("by_name", lambda q: q.eq("name", name)).unique()
    return 0 if counter is None else counter["value"]
