from livebase import define_schema, define_table, v

schema = define_schema({
    "tasks": define_table({
        "title": v.string(),
        "owner": v.string(),
        "priority": v.number(),
        "done": v.boolean(),
        "due": v.optional(v.number()),
    })
    .index("by_owner", ["owner", "priority"])
    .index("by_title", ["title"]),
    "counters": define_table({"name": v.string(), "value": v.number()}).index("by_name", ["name"]),
})
