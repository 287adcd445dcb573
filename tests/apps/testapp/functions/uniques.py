"""Insert-if-absent through an index (tests/test_concurrency.py)."""

from livebase import mutation, query, v


@mutation(args={"key": v.string(), "owner": v.string()})
def claim(ctx, key, owner):
    existing = ctx.db.query("uniques").with_index("by_key", lambda q: q.eq("key", key)).first()
    if existing is not None:
        return {"created": False, "owner": existing["owner"]}
    ctx.db.insert("uniques", {"key": key, "owner": owner})
    return {"created": True, "owner": owner}


@query(args={"prefix": v.string()})
def by_prefix(ctx, prefix):
    return [
        {"key": d["key"], "owner": d["owner"]}
        for d in ctx.db.query("uniques")
        if d["key"].startswith(prefix)
    ]
