"""Keyed inserts: exactly-once checks count the documents of a key."""

import time

from livebase import mutation, query, v


@mutation(args={"key": v.string()})
def put(ctx, key):
    return ctx.db.insert("writes", {"key": key})


@mutation(args={"key": v.string(), "seconds": v.number()})
def put_slowly(ctx, key, seconds):
    # Keeps the mutation running while the test drops the client's socket.
    time.sleep(seconds)
    return ctx.db.insert("writes", {"key": key})


@query(args={"key": v.string()})
def count(ctx, key):
    return len(ctx.db.query("writes").with_index("by_key", lambda q: q.eq("key", key)).collect())


@query(args={"key": v.string()})
def ids(ctx, key):
    return [d["_id"] for d in ctx.db.query("writes").with_index("by_key", lambda q: q.eq("key", key))]
