"""Functions that schedule other functions, for tests/test_scheduler.py."""

import asyncio
from datetime import datetime, timedelta

from livebase import AppError, action, api, internal_action, internal_mutation, mutation, query

# -- targets -------------------------------------------------------------------


@internal_mutation
def write_note(ctx, text):
    ctx.db.insert("notes", {"text": text, "at": ctx.now()})


@internal_mutation
def fail(ctx, text):
    ctx.db.insert("notes", {"text": text})
    raise AppError(f"failing on purpose: {text}")


@internal_action
async def slow_action(ctx, tag, ms):
    """Writes a "start" note, sleeps, writes an "end" note."""
    await ctx.run_mutation(write_note, {"text": f"{tag}:start"})
    await asyncio.sleep(ms / 1000)
    await ctx.run_mutation(write_note, {"text": f"{tag}:end"})
    return tag


@internal_action
async def action_schedules_children(ctx, tag, ms):
    """Sleeps, then schedules a note: canceled if this job was canceled meanwhile."""
    await ctx.run_mutation(write_note, {"text": f"{tag}:start"})
    await asyncio.sleep(ms / 1000)
    return await ctx.scheduler.run_after(0, write_note, {"text": f"{tag}:child"})


@query
def lookup(ctx):
    return 1


# -- scheduling ----------------------------------------------------------------


@mutation
def schedule_note(ctx, text, delay=50):
    # An api reference ...
    return ctx.scheduler.run_after(delay, api.jobs.write_note, {"text": text})


@mutation
def schedule_note_at(ctx, text, when):
    # ... a function definition ...
    return ctx.scheduler.run_at(when, write_note, {"text": text})


@mutation
def schedule_note_at_datetime(ctx, text, seconds_from_now):
    when = datetime.fromtimestamp(ctx.now() / 1000).astimezone() + timedelta(seconds=seconds_from_now)
    return ctx.scheduler.run_at(when, "jobs:write_note", {"text": text})


@mutation
def schedule_then_fail(ctx, text):
    # ... or a path string.
    ctx.scheduler.run_after(0, "jobs:write_note", {"text": text})
    raise AppError("rolled back")


@mutation
def schedule_failing(ctx, text):
    return ctx.scheduler.run_after(0, fail, {"text": text})


@mutation
def schedule_identity_check(ctx, text):
    """Records who called, and schedules a mutation that records who it runs as."""
    caller = ctx.auth.get_user_identity()
    ctx.db.insert("notes", {"text": f"{text}:caller:{caller.subject if caller else None}"})
    return ctx.scheduler.run_after(0, record_identity, {"text": text})


@internal_mutation
def record_identity(ctx, text):
    identity = ctx.auth.get_user_identity()
    ctx.db.insert("notes", {"text": f"{text}:scheduled:{identity.subject if identity else None}"})


@mutation
def schedule_many(ctx, n, text):
    return [ctx.scheduler.run_after(0, write_note, {"text": text}) for _ in range(n)]


@mutation
def schedule_action(ctx, fn, tag, ms, delay=0):
    return ctx.scheduler.run_after(delay, fn, {"tag": tag, "ms": ms})


@mutation
def schedule_actions(ctx, n, tag, ms):
    return [ctx.scheduler.run_after(0, slow_action, {"tag": f"{tag}{i}", "ms": ms}) for i in range(n)]


@mutation
def schedule_bad(ctx, case):
    s = ctx.scheduler
    if case == "missing":
        s.run_after(0, "jobs:nope", {})
    elif case == "query":
        s.run_after(0, api.jobs.lookup, {})
    elif case == "bad_args":
        s.run_after(0, write_note, {"text": 1, "extra": True})
    elif case == "missing_args":
        s.run_after(0, write_note, {})
    elif case == "not_a_value":
        s.run_after(0, write_note, {"text": {1, 2}})
    elif case == "negative":
        s.run_after(-5, write_note, {"text": "x"})
    elif case == "naive":
        s.run_at(datetime(2030, 1, 1), write_note, {"text": "x"})
    elif case == "nan":
        s.run_at(float("nan"), write_note, {"text": "x"})
    elif case == "too_big":
        s.run_after(0, write_note, {"text": "x" * 1_100_000})
    elif case == "too_many":
        for _ in range(1001):
            s.run_after(0, write_note, {"text": "x"})
    elif case == "cancel_wrong_table":
        s.cancel(ctx.db.insert("notes", {"text": "x"}))
    return None


@mutation
def cancel(ctx, id):
    ctx.scheduler.cancel(id)


@action
async def schedule_from_action(ctx, text, delay=0):
    return await ctx.scheduler.run_after(delay, api.jobs.write_note, {"text": text})


@action
async def cancel_from_action(ctx, id):
    await ctx.scheduler.cancel(id)


# -- reading -------------------------------------------------------------------


@query
def notes(ctx, text):
    return len([n for n in ctx.db.query("notes").collect() if n["text"] == text])


@query
def job(ctx, id):
    return ctx.db.system.get(id)


@query
def jobs(ctx):
    return ctx.db.system.query("_scheduled_functions").collect()


@query
def note_times(ctx, text):
    return sorted(n["at"] for n in ctx.db.query("notes").collect() if n["text"] == text)
