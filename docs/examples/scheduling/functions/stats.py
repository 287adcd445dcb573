from livebase import internal_mutation, query


@internal_mutation
def refresh(ctx):
    count = len(ctx.db.query("messages").collect())
    ctx.db.insert("stats", {"messages": count, "at": ctx.now()})


@query
def latest(ctx):
    return ctx.db.query("stats").order("desc").first()
