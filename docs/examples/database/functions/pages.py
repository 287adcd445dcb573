from livebase import query, v

pagination_opts = v.object({"numItems": v.number(), "cursor": v.union(v.string(), v.null())})


@query(args={"paginationOpts": pagination_opts})
def tasks(ctx, paginationOpts):
    """All tasks, oldest first, one page at a time."""
    return ctx.db.query("tasks").paginate(paginationOpts)
