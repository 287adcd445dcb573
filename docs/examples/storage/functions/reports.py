import csv
import io

from livebase import action, v


@action(args={"rows": v.array(v.array(v.string()))})
async def export_csv(ctx, rows):
    text = io.StringIO()
    csv.writer(text).writerows(rows)
    storage_id = await ctx.storage.store(text.getvalue().encode(), content_type="text/csv")
    return {"storageId": storage_id, "url": await ctx.storage.get_url(storage_id)}


@action(args={"storage_id": v.id("_storage")})
async def count_lines(ctx, storage_id):
    file = await ctx.storage.open(storage_id)
    if file is None:
        return None
    lines = 0
    async for chunk in file:  # streamed: a big file is never held in memory
        lines += chunk.count(b"\n")
    return lines


@action(args={"storage_id": v.id("_storage")})
async def first_row(ctx, storage_id):
    data = await ctx.storage.get(storage_id)  # the whole file, in memory
    if data is None:
        return None
    return next(csv.reader(io.StringIO(data.decode())))


@action(args={"storage_id": v.id("_storage")})
async def discard(ctx, storage_id):
    await ctx.storage.delete(storage_id)
