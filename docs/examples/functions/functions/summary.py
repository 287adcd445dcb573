from livebase import action, api


@action(args={})
async def digest(ctx):
    """Read the notes, then write a note that counts them."""
    notes = await ctx.run_query(api.notes.list)
    count = await ctx.run_query("admin/reports:count")
    await ctx.run_mutation(api.notes.add, {"text": f"notes so far: {count}"})
    return [note["text"] for note in notes]
