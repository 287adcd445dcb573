from livebase import query, v


@query(args={"owner": v.string(), "min_priority": v.number()})
def important(ctx, owner, min_priority):
    """The owner's tasks with priority >= min_priority, highest first."""
    return (
        ctx.db.query("tasks")
        .with_index("by_owner", lambda q: q.eq("owner", owner).gte("priority", min_priority))
        .order("desc")
        .collect()
    )


@query(args={"title": v.string()})
def by_title(ctx, title):
    """The task with this title, None if there is none, an error if there are several."""
    return ctx.db.query("tasks").with_index("by_title", lambda q: q.eq("title", title)).unique()


@query(args={"since": v.number()})
def created_since(ctx, since):
    """Tasks created after ``since`` (ms since the epoch), oldest first."""
    return (
        ctx.db.query("tasks")
        .with_index("by_creation_time", lambda q: q.gt("_creationTime", since))
        .collect()
    )


@query(args={})
def newest(ctx):
    return ctx.db.query("tasks").order("desc").first()
