from livebase import AppError, action, mutation, query, v


@query
def me(ctx):
    """The caller's identity exactly as Convex shapes it, or None."""
    return ctx.auth.get_user_identity()


@query
def summary(ctx):
    """The same identity read through the Python attribute names."""
    identity = ctx.auth.get_user_identity()
    if identity is None:
        return None
    return {
        "subject": identity.subject,
        "issuer": identity.issuer,
        "token_identifier": identity.token_identifier,
        "email": identity.email,
        "given_name": identity.given_name,
        "email_verified": identity.email_verified,
        "role": identity.get("org.role"),
        "to_dict_equal": identity.to_dict() == dict(identity),
    }


@mutation(args={"text": v.string()})
def add_note(ctx, text):
    identity = ctx.auth.get_user_identity()
    if identity is None:
        raise AppError("sign in to add notes")
    return ctx.db.insert("notes", {"owner": identity.token_identifier, "text": text})


@query
def my_notes(ctx):
    identity = ctx.auth.get_user_identity()
    if identity is None:
        return []
    notes = ctx.db.query("notes").with_index(
        "by_owner", lambda q: q.eq("owner", identity.token_identifier)
    )
    return [n["text"] for n in notes]


@action
async def from_action(ctx):
    """An action sees the caller, and so do the queries it runs."""
    return {"own": ctx.auth.get_user_identity(), "via_query": await ctx.run_query("whoami:me")}
