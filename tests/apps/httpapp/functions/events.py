from livebase import mutation, query, v


@mutation(args={"source": v.string(), "payload": v.any()})
def record(ctx, source, payload):
    print("recording event from", source)
    return ctx.db.insert("events", {"source": source, "payload": payload})


@query(args={})
def list(ctx):
    return [
        {"source": e["source"], "payload": e["payload"]} for e in ctx.db.query("events").collect()
    ]
