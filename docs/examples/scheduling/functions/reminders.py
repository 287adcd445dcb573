from datetime import UTC, datetime, timedelta

from livebase import internal_mutation, mutation, query, v


@mutation(args={"text": v.string(), "minutes": v.number()})
def remind(ctx, text, minutes):
    # run_at takes ms since the epoch or a timezone-aware datetime.
    when = datetime.fromtimestamp(ctx.now() / 1000, UTC) + timedelta(minutes=minutes)
    return ctx.scheduler.run_at(when, fire, {"text": text})


@internal_mutation(args={"text": v.string()})
def fire(ctx, text):
    ctx.db.insert("fired", {"text": text})


@query
def pending(ctx):
    """The reminders still waiting, read from the _scheduled_functions system table."""
    jobs = (
        ctx.db.system.query("_scheduled_functions")
        .filter(lambda q: q.and_(q.eq(q.field("name"), "reminders:fire"), q.eq(q.field("state.kind"), "pending")))
        .collect()
    )
    return [{"text": job["args"][0]["text"], "at": job["scheduledTime"]} for job in jobs]


@query
def fired(ctx):
    return [f["text"] for f in ctx.db.query("fired").collect()]
