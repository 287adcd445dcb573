from livebase import query, v


@query(args={"name": v.string()}, returns=v.string())
def hello(ctx, name):
    return f"Hello, {name}!"


@query
def default(ctx):
    return "Hello, world!"
