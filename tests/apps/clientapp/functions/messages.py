"""A chat: the documentation's examples run against these."""

import time

from livebase import internal_mutation, mutation, query, v


@query(args={})
def list(ctx):
    return ctx.db.query("messages").order("desc").take(50)


@query(args={})
def count(ctx):
    return len(ctx.db.query("messages").collect())


@query(args={"author": v.string()})
def by_author(ctx, author):
    return [m["body"] for m in ctx.db.query("messages").with_index("by_author", lambda q: q.eq("author", author))]


@mutation(args={"author": v.string(), "body": v.string()})
def send(ctx, author, body):
    print("sending", body)
    return ctx.db.insert("messages", {"author": author, "body": body})


@internal_mutation(args={})
def clear(ctx):
    for m in ctx.db.query("messages"):
        ctx.db.delete(m["_id"])


@query(args={"salt": v.number()})
def count_slowly(ctx, salt):
    # Slow to re-run: a client subscribed to a few of these (different
    # salts) gets its Transition well after a MutationResponse, so one that
    # resolved mutations on the response alone would show stale results
    # (tests/test_client.py, read-your-writes).
    time.sleep(0.03)
    return len(ctx.db.query("messages").collect())
