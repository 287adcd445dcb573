from livebase import mutation, query, v


@query(args={})
def greeting(ctx):
    """Reads the caller's identity only while the flag says so."""
    flag = ctx.db.query("flags").first()
    if flag is not None and flag["personal"]:
        who = ctx.auth.get_user_identity()
        return f"hello {who.subject}" if who else "hello stranger"
    return "hello everyone"


@mutation(args={"personal": v.boolean()})
def set_personal(ctx, personal):
    flag = ctx.db.query("flags").first()
    if flag is None:
        ctx.db.insert("flags", {"personal": personal})
    else:
        ctx.db.patch(flag["_id"], {"personal": personal})
