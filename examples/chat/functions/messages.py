"""Messages: read a channel, post to it."""

from livebase import AppError, mutation, pagination_opts_validator, query, v

MAX_BODY = 2000


@query(args={"channel": v.id("channels")})
def list(ctx, channel):
    """The channel's 50 newest messages, newest first."""
    return (
        ctx.db.query("messages")
        .with_index("by_channel", lambda q: q.eq("channel", channel))
        .order("desc")
        .take(50)
    )


@query(args={"channel": v.id("channels"), "paginationOpts": pagination_opts_validator()})
def paginated(ctx, channel, paginationOpts):
    """The channel's history one page at a time, newest first."""
    return (
        ctx.db.query("messages")
        .with_index("by_channel", lambda q: q.eq("channel", channel))
        .order("desc")
        .paginate(paginationOpts)
    )


@mutation(args={"channel": v.id("channels"), "author": v.string(), "body": v.string()})
def send(ctx, channel, author, body):
    """Post a message; returns its id."""
    # No sign-in yet: the client says who it is.
    author, body = author.strip(), body.strip()
    if not author:
        raise AppError({"code": "invalid_author", "message": "author must not be empty"})
    if not body or len(body) > MAX_BODY:
        raise AppError({"code": "invalid_body", "message": f"a message has 1 to {MAX_BODY} characters"})
    if ctx.db.get(channel) is None:
        raise AppError({"code": "channel_not_found", "channel": channel})
    return ctx.db.insert("messages", {"channel": channel, "author": author, "body": body})
