"""File storage from queries, mutations and actions (tests/test_storage.py)."""

from livebase import action, mutation, query, v


@mutation(args={})
def upload_url(ctx):
    return ctx.storage.generate_upload_url()


@mutation(args={"seconds": v.number()})
def short_upload_url(ctx, seconds):
    return ctx.storage.generate_upload_url(expires_in=seconds)


@query(args={"id": v.id("_storage")})
def metadata(ctx, id):
    return ctx.db.system.get(id)


@query(args={"id": v.id("_storage")})
def legacy_metadata(ctx, id):
    return ctx.storage.get_metadata(id)


@query(args={"id": v.id("_storage")})
def url(ctx, id):
    return ctx.storage.get_url(id)


@query(args={"id": v.string()})
def url_of_anything(ctx, id):
    return ctx.storage.get_url(id)


@query(args={})
def count(ctx):
    return len(ctx.db.system.query("_storage").collect())


@query(args={"sha256": v.string()})
def by_hash(ctx, sha256):
    rows = (
        ctx.db.system.query("_storage")
        .with_index("by_sha256", lambda q: q.eq("sha256", sha256))
        .collect()
    )
    return [row["_id"] for row in rows]


@mutation(args={"id": v.id("_storage")})
def remove(ctx, id):
    ctx.storage.delete(id)


@mutation(args={"id": v.id("_storage")})
def remove_then_fail(ctx, id):
    ctx.storage.delete(id)
    raise RuntimeError("rolled back")


@action(args={"text": v.string(), "content_type": v.optional(v.string())})
async def store_text(ctx, text, content_type=None):
    return await ctx.storage.store(text.encode(), content_type=content_type)


@action(args={"chunks": v.number(), "size": v.number()})
async def store_generated(ctx, chunks, size):
    async def produce():
        for i in range(chunks):
            yield bytes([i % 256]) * size

    return await ctx.storage.store(produce())


@action(args={"id": v.id("_storage")})
async def read_text(ctx, id):
    data = await ctx.storage.get(id)
    return None if data is None else data.decode()


@action(args={"id": v.id("_storage")})
async def streamed_size(ctx, id):
    f = await ctx.storage.open(id)
    if f is None:
        return None
    total = 0
    async for chunk in f:
        total += len(chunk)
    return {"total": total, "size": f.size, "contentType": f.content_type}


@action(args={"id": v.id("_storage")})
async def action_details(ctx, id):
    return {"url": await ctx.storage.get_url(id), "metadata": await ctx.storage.get_metadata(id)}


@action(args={"id": v.id("_storage")})
async def delete_file(ctx, id):
    await ctx.storage.delete(id)


@action(args={"kind": v.string()})
async def store_other_sources(ctx, kind):
    import io

    if kind == "file":
        source = io.BytesIO(b"from a file object")
    elif kind == "iterable":
        source = [b"from ", b"a list"]
    elif kind == "memoryview":
        source = memoryview(b"from a memoryview")
    else:
        source = "text is refused"
    storage_id = await ctx.storage.store(source)
    return (await ctx.storage.get(storage_id)).decode()
