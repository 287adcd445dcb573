from livebase import internal_query


@internal_query(args={})
def count(ctx):
    return len(ctx.db.query("notes").collect())
