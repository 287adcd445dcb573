from livebase import define_schema, define_table, v

schema = define_schema({
    "messages": define_table({
        "author": v.string(),
        "body": v.string(),
    }).index("by_author", ["author"]),
    "counters": define_table({"name": v.string(), "value": v.number()}).index("by_name", ["name"]),
    # Bank transfers (tests/test_concurrency.py): the sum of balances is invariant.
    "accounts": define_table({"name": v.string(), "balance": v.number()}).index("by_name", ["name"]),
    # "Insert if absent" (tests/test_concurrency.py): one document per key.
    "uniques": define_table({"key": v.string(), "owner": v.string()}).index("by_key", ["key"]),
    # Client-keyed writes (tests/test_durability.py).
    "writes": define_table({"key": v.string()}).index("by_key", ["key"]),
    # Arbitrary values stored by values:store (tests/test_malformed.py).
    "blobs": define_table({"value": v.any()}),
})
