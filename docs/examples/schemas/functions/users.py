from livebase import Int64, mutation, query, v


@mutation(args={"name": v.string(), "email": v.optional(v.string())})
def create(ctx, name, email=None):
    user = {"name": name, "role": "member", "karma": 0, "settings": {}, "avatar": None}
    if email is not None:
        user["email"] = email
    return ctx.db.insert("users", user)


@mutation(args={"id": v.id("users"), "amount": v.int64()})
def add_karma(ctx, id, amount):
    user = ctx.db.get(id)
    karma = Int64(user["karma"] + amount)  # Int64 + Int64 is a plain int: wrap it again
    ctx.db.patch(id, {"karma": karma})
    return karma


@query(args={"id": v.id("users")})
def get(ctx, id):
    return ctx.db.get(id)


@mutation(args={"id": v.id("users"), "role": v.string()})
def set_role(ctx, id, role):
    ctx.db.patch(id, {"role": role})  # the schema refuses roles other than admin and member


@mutation(args={"kind": v.string(), "data": v.any()})
def log_event(ctx, kind, data):
    # "events" is not in the schema: any document goes.
    return ctx.db.insert("events", {"kind": kind, "data": data})
