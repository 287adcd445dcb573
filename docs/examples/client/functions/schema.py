from livebase import define_schema, define_table, v

schema = define_schema({
    "messages": define_table({"author": v.string(), "body": v.string()}),
})
