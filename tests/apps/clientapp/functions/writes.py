"""Keyed inserts: exactly-once checks count the documents of a key."""

from livebase import mutation, query, v


@mutation(args={"key": v.string()})
def put(ctx, key):
    return ctx.db.insert("writes", {"key": key})


@query(args={"key": v.string()})
def count(ctx, key):
    return len(ctx.db.query("writes").with_index("by_key", lambda q: q.eq("key", key)).collect())


@query(args={"prefix": v.string()})
def keys(ctx, prefix):
    """Every key starting with ``prefix``, duplicates included, sorted."""
    return sorted(d["key"] for d in ctx.db.query("writes") if d["key"].startswith(prefix))
