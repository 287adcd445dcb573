"""Actions that call other functions, or take their time."""

import asyncio

from livebase import action, v


@action(args={"author": v.string(), "body": v.string()})
async def send_and_count(ctx, author, body):
    await ctx.run_mutation("messages:send", {"author": author, "body": body})
    return await ctx.run_query("messages:count", {})


@action(args={"seconds": v.number()})
async def sleep(ctx, seconds):
    await asyncio.sleep(seconds)
    return seconds
