from livebase import mutation, query, v


@query(args={"list": v.string()})
def in_list(ctx, list):
    """The open tasks of one list: one range of the by_list index."""
    tasks = ctx.db.query("tasks").with_index("by_list", lambda q: q.eq("list", list).eq("done", False))
    return [task["title"] for task in tasks.collect()]


@query(args={})
def first_two(ctx):
    """The two oldest tasks: the start of the table, up to the second row."""
    return [task["title"] for task in ctx.db.query("tasks").take(2)]


@query(args={})
def open_count(ctx):
    """The filter runs on every row of the table, so every row is read."""
    return len(ctx.db.query("tasks").filter(lambda q: q.eq(q.field("done"), False)).collect())


@query(args={"id": v.id("tasks")})
def describe(ctx, id):
    """One document, by id."""
    task = ctx.db.get(id)
    return f"{task['title']} ({'done' if task['done'] else 'open'})"


@mutation(args={"list": v.string(), "title": v.string()})
def add(ctx, list, title):
    return ctx.db.insert("tasks", {"list": list, "title": title, "done": False})


@mutation(args={"id": v.id("tasks")})
def complete(ctx, id):
    ctx.db.patch(id, {"done": True})


@mutation(args={"id": v.id("tasks"), "title": v.string()})
def rename(ctx, id, title):
    ctx.db.patch(id, {"title": title})


@mutation(args={"id": v.id("tasks"), "to": v.string()})
def move(ctx, id, to):
    ctx.db.patch(id, {"list": to})
