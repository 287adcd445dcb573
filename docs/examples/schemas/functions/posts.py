from livebase import mutation, query, v


@mutation(args={"author": v.id("users"), "title": v.string(), "tags": v.array(v.string())})
def create(ctx, author, title, tags):
    post = {"author": author, "title": title, "tags": tags, "meta": {"draft": True}, "extra": None}
    return ctx.db.insert("posts", post)


@query(args={"id": v.id("posts")})
def get(ctx, id):
    return ctx.db.get(id)
