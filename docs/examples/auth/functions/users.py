from livebase import AppError, mutation, query


def current_user(ctx):
    """The signed-in caller's document in `users`, or None."""
    identity = ctx.auth.get_user_identity()
    if identity is None:
        return None
    return (
        ctx.db.query("users")
        .with_index("by_token", lambda q: q.eq("token_identifier", identity.token_identifier))
        .unique()
    )


@mutation
def store(ctx):
    """Call after signing in: creates or updates the caller's user document."""
    identity = ctx.auth.get_user_identity()
    if identity is None:
        raise AppError({"code": "unauthenticated", "message": "sign in first"})
    name = identity.name or identity.email or identity.subject
    user = current_user(ctx)
    if user is not None:
        if user["name"] != name:
            ctx.db.patch(user["_id"], {"name": name})
        return user["_id"]
    return ctx.db.insert(
        "users",
        {"token_identifier": identity.token_identifier, "name": name, "email": identity.email},
    )


@query
def me(ctx):
    return current_user(ctx)


@query
def identity(ctx):
    """The caller's identity, shaped like Convex's `UserIdentity` (or None)."""
    return ctx.auth.get_user_identity()
