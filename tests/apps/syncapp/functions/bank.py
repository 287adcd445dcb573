"""Accounts grouped by bank; transfers keep each bank's total constant.

Every transfer also counts a move on both accounts, so the totals of two
queries read at different snapshots would disagree (``moves``) even though
the balance sum never changes.
"""

from livebase import mutation, query, v


def _accounts(ctx, bank):
    return ctx.db.query("accounts").with_index("by_bank", lambda q: q.eq("bank", bank)).collect()


@mutation(args={"bank": v.string(), "names": v.array(v.string()), "balance": v.number()})
def open_accounts(ctx, bank, names, balance):
    for name in names:
        ctx.db.insert("accounts", {"bank": bank, "name": name, "balance": balance, "moves": 0})


@mutation(args={"bank": v.string(), "src": v.string(), "dst": v.string(), "amount": v.number()})
def transfer(ctx, bank, src, dst, amount):
    by_name = {d["name"]: d for d in _accounts(ctx, bank)}
    a, b = by_name[src], by_name[dst]
    if src == dst or a["balance"] < amount:
        return False
    ctx.db.patch(a["_id"], {"balance": a["balance"] - amount, "moves": a["moves"] + 1})
    ctx.db.patch(b["_id"], {"balance": b["balance"] + amount, "moves": b["moves"] + 1})
    return True


@query(args={"bank": v.string()})
def total(ctx, bank):
    docs = _accounts(ctx, bank)
    return {"count": len(docs), "sum": sum(d["balance"] for d in docs), "moves": sum(d["moves"] for d in docs)}


@query(args={"bank": v.string()})
def accounts(ctx, bank):
    """Every account of the bank as {name, balance, moves}, by name."""
    return [{"name": d["name"], "balance": d["balance"], "moves": d["moves"]} for d in _accounts(ctx, bank)]
