"""Accounts and transfers: the total balance never changes (tests/test_concurrency.py)."""

from livebase import AppError, mutation, query, v


def _account(ctx, name):
    doc = ctx.db.query("accounts").with_index("by_name", lambda q: q.eq("name", name)).unique()
    if doc is None:
        raise AppError({"code": "no_account", "name": name})
    return doc


@mutation(args={"names": v.array(v.string()), "balance": v.number()})
def open_accounts(ctx, names, balance):
    for name in names:
        ctx.db.insert("accounts", {"name": name, "balance": balance})


@mutation(args={"src": v.string(), "dst": v.string(), "amount": v.number()})
def transfer(ctx, src, dst, amount):
    a = _account(ctx, src)
    b = _account(ctx, dst)
    if a["balance"] < amount:
        return False
    ctx.db.patch(a["_id"], {"balance": a["balance"] - amount})
    # Re-read: src and dst may be the same account.
    b = ctx.db.get(b["_id"])
    ctx.db.patch(b["_id"], {"balance": b["balance"] + amount})
    return True


@query(args={"prefix": v.string()})
def total(ctx, prefix):
    docs = [d for d in ctx.db.query("accounts") if d["name"].startswith(prefix)]
    return {"count": len(docs), "sum": sum(d["balance"] for d in docs)}
