from livebase import query, v


@query(args={"owner": v.string()})
def unfinished(ctx, owner):
    """The owner's unfinished tasks: an index range, then a filter."""
    return (
        ctx.db.query("tasks")
        .with_index("by_owner", lambda q: q.eq("owner", owner))
        .filter(lambda q: q.eq(q.field("done"), False))
        .collect()
    )


@query(args={})
def needs_attention(ctx):
    """Unfinished tasks that are urgent (priority >= 3) or have no owner."""
    return (
        ctx.db.query("tasks")
        .filter(
            lambda q: q.and_(
                q.eq(q.field("done"), False),
                q.or_(q.gte(q.field("priority"), 3), q.eq(q.field("owner"), "")),
            )
        )
        .collect()
    )
