from livebase import define_schema, define_table, v

schema = define_schema({
    # Transfers between the accounts of one bank keep their sum constant.
    "accounts": define_table(
        {"bank": v.string(), "name": v.string(), "balance": v.number(), "moves": v.number()}
    ).index("by_bank", ["bank", "name"]),
    # A subscription on one channel must ignore writes to another.
    "messages": define_table({"channel": v.string(), "body": v.string()}).index("by_channel", ["channel"]),
    # Keyed inserts: counting them tells whether a mutation ran exactly once.
    "writes": define_table({"key": v.string()}).index("by_key", ["key"]),
    # Notes of a list: the target of optimistic updates.
    "notes": define_table({"list": v.string(), "text": v.string()}).index("by_list", ["list"]),
})
