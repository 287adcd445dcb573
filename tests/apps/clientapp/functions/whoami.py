from livebase import query


@query(args={})
def default(ctx):
    identity = ctx.auth.get_user_identity()
    return None if identity is None else identity.subject
