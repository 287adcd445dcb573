from livebase import pagination_opts_validator, query


@query(args={"paginationOpts": pagination_opts_validator()})
def tasks(ctx, paginationOpts):
    """All tasks, oldest first, one page at a time."""
    return ctx.db.query("tasks").paginate(paginationOpts)
