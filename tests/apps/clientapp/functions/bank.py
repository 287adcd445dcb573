"""Transfers between accounts: the total balance never changes."""

from livebase import mutation, query, v


@mutation(args={"names": v.array(v.string()), "balance": v.number()})
def open_accounts(ctx, names, balance):
    for name in names:
        ctx.db.insert("accounts", {"name": name, "balance": balance})


@mutation(args={"src": v.string(), "dst": v.string(), "amount": v.number()})
def transfer(ctx, src, dst, amount):
    a = ctx.db.query("accounts").with_index("by_name", lambda q: q.eq("name", src)).unique()
    a_balance = a["balance"]
    ctx.db.patch(a["_id"], {"balance": a_balance - amount})
    b = ctx.db.query("accounts").with_index("by_name", lambda q: q.eq("name", dst)).unique()
    ctx.db.patch(b["_id"], {"balance": b["balance"] + amount})


@query(args={"prefix": v.string()})
def balances(ctx, prefix):
    """Every balance of the accounts named ``prefix...``, by name."""
    return {d["name"]: d["balance"] for d in ctx.db.query("accounts") if d["name"].startswith(prefix)}
