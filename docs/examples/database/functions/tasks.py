from livebase import UNDEFINED, mutation, query, v


@mutation(args={"title": v.string(), "owner": v.string(), "priority": v.number()})
def add(ctx, title, owner, priority):
    return ctx.db.insert("tasks", {"title": title, "owner": owner, "priority": priority, "done": False})


@query(args={"id": v.id("tasks")})
def get(ctx, id):
    return ctx.db.get(id)


@mutation(args={"id": v.id("tasks")})
def complete(ctx, id):
    ctx.db.patch(id, {"done": True})
    return ctx.db.get(id)


@mutation(args={"id": v.id("tasks"), "due": v.union(v.number(), v.null())})
def set_due(ctx, id, due):
    """Set the due date, or remove the field when ``due`` is None."""
    ctx.db.patch(id, {"due": UNDEFINED if due is None else due})


@mutation(args={"id": v.id("tasks"), "title": v.string(), "owner": v.string()})
def reset(ctx, id, title, owner):
    ctx.db.replace(id, {"title": title, "owner": owner, "priority": 0, "done": False})


@mutation(args={"id": v.id("tasks")})
def remove(ctx, id):
    ctx.db.delete(id)
