"""The fan-out benchmark's query and mutation (see bench/SYNC.md)."""

from livebase import mutation, query, v


@query(args={"name": v.string()})
def get(ctx, name):
    return ctx.db.query("counters").with_index("by_name", lambda q: q.eq("name", name)).unique()


@mutation(args={"name": v.string(), "tag": v.string(), "pad": v.string()})
def set(ctx, name, tag, pad):  # shadows a builtin: the Convex-style function name
    # `tag` carries the round marker the clients look for; `pad` sets the size.
    doc = ctx.db.query("counters").with_index("by_name", lambda q: q.eq("name", name)).unique()
    if doc is None:
        return ctx.db.insert("counters", {"name": name, "tag": tag, "pad": pad})
    ctx.db.patch(doc["_id"], {"tag": tag, "pad": pad})
    return doc["_id"]
