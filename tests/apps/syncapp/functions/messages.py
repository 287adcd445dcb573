"""Messages in channels, read through an index range on the channel."""

import time

from livebase import AppError, mutation, query, v


def _in(ctx, channel):
    return ctx.db.query("messages").with_index("by_channel", lambda q: q.eq("channel", channel)).collect()


@mutation(args={"channel": v.string(), "body": v.string()})
def send(ctx, channel, body):
    return ctx.db.insert("messages", {"channel": channel, "body": body})


@query(args={"channel": v.string()})
def list(ctx, channel):
    return [{"_id": m["_id"], "body": m["body"]} for m in _in(ctx, channel)]


@query(args={"channel": v.string()})
def count(ctx, channel):
    return len(_in(ctx, channel))


@query(args={"channel": v.string(), "salt": v.number()})
def count_slowly(ctx, channel, salt):
    # Slow to re-run: a client subscribed to a few of these gets its
    # Transition well after the MutationResponse, so a server that let the
    # mutation resolve before its results were pushed would show stale data.
    time.sleep(0.02)
    return len(_in(ctx, channel))


@query(args={"channel": v.string(), "limit": v.number()})
def count_at_most(ctx, channel, limit):
    """Fails with AppError data once the channel holds more than ``limit`` messages."""
    n = len(_in(ctx, channel))
    if n > limit:
        raise AppError({"code": "too_many", "count": n, "limit": limit})
    return n
