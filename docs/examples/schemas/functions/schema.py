from livebase import define_schema, define_table, v

schema = define_schema({
    "users": define_table({
        "name": v.string(),
        "email": v.optional(v.string()),
        "role": v.union(v.literal("admin"), v.literal("member")),
        "karma": v.int64(),
        "settings": v.record(v.string(), v.boolean()),
        "avatar": v.union(v.bytes(), v.null()),
    }).index("by_email", ["email"]),
    "posts": define_table({
        "author": v.id("users"),
        "title": v.string(),
        "tags": v.array(v.string()),
        "meta": v.object({"draft": v.boolean(), "words": v.optional(v.number())}),
        "extra": v.any(),
    }),
})
