"""Functions that read environment variables, for tests/test_env.py.

Queries return ``ctx.random.random()`` beside their value: every run then
gives a new result, so a subscriber sees each re-run, not only each change.
"""

from livebase import action, mutation, query, v


@query(args={"name": v.string()})
def get(ctx, name):
    return ctx.env.get(name)


@query(args={"name": v.string()})
def watched(ctx, name):
    return {"value": ctx.env.get(name), "run": ctx.random.random()}


@query(args={})
def unrelated(ctx):
    """Reads no variable (and no document)."""
    return {"run": ctx.random.random()}


@query(args={})
def names(ctx):
    """Iterating ctx.env depends on every variable, set or not yet set."""
    return sorted(ctx.env)


@query(args={"name": v.string()})
def has(ctx, name):
    return name in ctx.env


@query(args={"name": v.string()})
def strict(ctx, name):
    return ctx.env[name]


@mutation(args={"name": v.string()})
def remember(ctx, name):
    value = ctx.env.get(name)
    ctx.db.insert("seen", {"name": name, "value": value})
    return value


@action(args={"name": v.string()})
async def fetch(ctx, name):
    # The action's own view, and the one of a query it runs.
    return {"action": ctx.env.get(name), "query": await ctx.run_query("config:get", {"name": name})}
