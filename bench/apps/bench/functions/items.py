"""The functions the HTTP throughput benchmark calls (see bench/README.md)."""

from livebase import mutation, query, v


@mutation(args={"owner": v.string(), "n": v.number(), "body": v.string()})
def add(ctx, owner, n, body):
    return ctx.db.insert("items", {"owner": owner, "n": n, "body": body})


@query(args={"owner": v.string(), "nonce": v.optional(v.number())})
def byOwner(ctx, owner, nonce=None):  # camelCase: the Convex-style function name
    # The 10 newest items of one owner, through the index. `nonce` is ignored:
    # the benchmark sends a unique one to keep the query cache from answering.
    return (
        ctx.db.query("items")
        .with_index("by_owner", lambda q: q.eq("owner", owner))
        .order("desc")
        .take(10)
    )


@mutation(args={"owners": v.number(), "start": v.number(), "count": v.number()})
def seed(ctx, owners, start, count):
    # Seeding only (not measured): `count` items spread over `owners` owners.
    for i in range(int(start), int(start + count)):
        ctx.db.insert("items", {"owner": f"o{i % int(owners)}", "n": i, "body": f"seed item {i}"})
    return count
