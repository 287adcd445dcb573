from livebase import define_schema, define_table, v

schema = define_schema({
    "messages": define_table({"author": v.string(), "body": v.string()}).index("by_author", ["author"]),
    # Transfers keep the sum of balances constant.
    "accounts": define_table({"name": v.string(), "balance": v.number()}).index("by_name", ["name"]),
    # Items in groups: a subscription on one group must ignore writes to another.
    "items": define_table({"group": v.string(), "n": v.number()}).index("by_group", ["group", "n"]),
    # Keyed writes: counting them tells whether a mutation ran exactly once.
    "writes": define_table({"key": v.string()}).index("by_key", ["key"]),
})
