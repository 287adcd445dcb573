from livebase import mutation, query, v


@mutation(args={})
def generate_upload_url(ctx):
    # Valid for an hour; whoever holds it can upload files.
    return ctx.storage.generate_upload_url()


@mutation(args={"storage_id": v.id("_storage"), "title": v.string()})
def save(ctx, storage_id, title):
    return ctx.db.insert("images", {"storage_id": storage_id, "title": title})


@query(args={})
def list(ctx):
    return [
        {"id": image["_id"], "title": image["title"], "url": ctx.storage.get_url(image["storage_id"])}
        for image in ctx.db.query("images").order("desc").take(50)
    ]


@query(args={"storage_id": v.id("_storage")})
def metadata(ctx, storage_id):
    return ctx.db.system.get(storage_id)


@mutation(args={"id": v.id("images")})
def remove(ctx, id):
    image = ctx.db.get(id)
    if image is not None:
        # Both deletes happen when this mutation commits, or neither does.
        ctx.storage.delete(image["storage_id"])
        ctx.db.delete(id)
