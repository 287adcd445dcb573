from livebase import mutation, query, v


@query(args={})
def blob(ctx):
    """A large result (about 32 KB) that changes with every write."""
    doc = ctx.db.query("blobs").order("desc").first()
    n = doc["n"] if doc else 0
    return {"n": n, "pad": "x" * 32_000}


@mutation(args={"n": v.number()})
def bump(ctx, n):
    ctx.db.insert("blobs", {"n": n})
