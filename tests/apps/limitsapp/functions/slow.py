import time

from livebase import action, mutation, query


@query
def spin(ctx):
    """Never returns on its own: only the time limit stops it."""
    n = 0
    while True:
        n += 1


@mutation
def spin_then_write(ctx):
    ctx.db.insert("marks", {"n": 1})
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        pass
    return "finished"


@query
def count(ctx):
    return len(ctx.db.query("marks").collect())


@query
def quick(ctx):
    return "ok"


@action
async def raises_timeout_error(ctx):
    raise TimeoutError("the upstream service timed out")
