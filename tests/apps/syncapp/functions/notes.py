"""Notes of a list: the server's value differs from the clients' optimistic guess."""

from livebase import AppError, mutation, query, v


@query(args={"list": v.string()})
def list(ctx, list):
    return [n["text"] for n in ctx.db.query("notes").with_index("by_list", lambda q: q.eq("list", list))]


@mutation(args={"list": v.string(), "text": v.string()})
def add(ctx, list, text):
    # The stored text is normalised, so the server's value is told apart
    # from the optimistic one a client shows meanwhile.
    if text.startswith("fail"):
        raise AppError({"code": "rejected", "text": text})
    ctx.db.insert("notes", {"list": list, "text": text.upper()})
    return text.upper()
