"""A module in a sub-folder: its functions are ``"nested/deep:..."``."""

from livebase import query, v


@query(args={"name": v.string()})
def hello(ctx, name):
    return f"hello {name} from nested/deep"


@query(args={})
def default(ctx):
    return "nested default export"
