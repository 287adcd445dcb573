from livebase import define_schema, define_table, v

schema = define_schema(
    {
        "users": define_table(
            {
                "token_identifier": v.string(),
                "name": v.string(),
                "email": v.union(v.string(), v.null()),
            }
        ).index("by_token", ["token_identifier"]),
        "messages": define_table({"author": v.id("users"), "body": v.string()}),
    }
)
