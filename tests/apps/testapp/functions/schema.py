from livebase import define_schema, define_table, v

schema = define_schema({
    "messages": define_table({
        "author": v.string(),
        "body": v.string(),
    }).index("by_author", ["author"]),
    "counters": define_table({"name": v.string(), "value": v.number()}).index("by_name", ["name"]),
})
