from livebase import mutation, query, v


@mutation(args={"text": v.string(), "minutes": v.number()})
def add(ctx, text, minutes):
    due = ctx.now() + minutes * 60_000  # ms since the epoch, fixed for this call
    return ctx.db.insert("reminders", {"text": text, "due": due})


@query(args={})
def list(ctx):
    return ctx.db.query("reminders").collect()
