"""Client-keyed inserts (tests/test_durability.py)."""

from livebase import mutation, query, v


@mutation(args={"key": v.string()})
def put(ctx, key):
    return ctx.db.insert("writes", {"key": key})


@query(args={"cursor": v.union(v.string(), v.null()), "num": v.number()})
def page(ctx, cursor, num):
    return ctx.db.query("writes").paginate({"numItems": num, "cursor": cursor})


@query(args={"key": v.string()})
def count_key(ctx, key):
    return len(ctx.db.query("writes").with_index("by_key", lambda q: q.eq("key", key)).collect())
