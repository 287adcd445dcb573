from livebase import define_schema, define_table, v

schema = define_schema(
    {
        "items": define_table(
            {
                "owner": v.string(),
                "n": v.number(),
                "body": v.string(),
            }
        ).index("by_owner", ["owner"]),
    }
)
