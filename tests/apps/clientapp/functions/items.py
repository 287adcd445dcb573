"""Items in groups, read through an index range."""

from livebase import mutation, query, v


@mutation(args={"group": v.string(), "n": v.number()})
def add(ctx, group, n):
    return ctx.db.insert("items", {"group": group, "n": n})


@query(args={"group": v.string()})
def in_group(ctx, group):
    return [d["n"] for d in ctx.db.query("items").with_index("by_group", lambda q: q.eq("group", group))]
