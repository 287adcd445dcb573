"""Channels of messages: the invalidation and memory benchmarks (see bench/SYNC.md)."""

from livebase import mutation, query, v


@query(args={"channel": v.string()})
def list(ctx, channel):  # shadows a builtin: the Convex-style function name
    # The 10 newest messages of one channel: the read set is that channel's
    # range of the by_channel index, so writes to other channels don't touch it.
    return (
        ctx.db.query("messages")
        .with_index("by_channel", lambda q: q.eq("channel", channel))
        .order("desc")
        .take(10)
    )


@mutation(args={"channel": v.string(), "body": v.string()})
def send(ctx, channel, body):
    return ctx.db.insert("messages", {"channel": channel, "body": body})


@mutation(args={"prefix": v.string(), "start": v.number(), "count": v.number(), "body": v.string()})
def seed(ctx, prefix, start, count, body):
    # Setup only (not measured): one message in each channel prefix+i.
    for i in range(int(start), int(start + count)):
        ctx.db.insert("messages", {"channel": f"{prefix}{i}", "body": body})
    return count
