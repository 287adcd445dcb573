from livebase import define_schema, define_table, v

schema = define_schema(
    {
        # One document per name; the fan-out benchmark's K subscribers all read "fan".
        "counters": define_table(
            {
                "name": v.string(),
                "tag": v.string(),
                "pad": v.string(),
            }
        ).index("by_name", ["name"]),
        # Chat-style messages: every subscription reads one channel through the index.
        "messages": define_table(
            {
                "channel": v.string(),
                "body": v.string(),
            }
        ).index("by_channel", ["channel"]),
    }
)
