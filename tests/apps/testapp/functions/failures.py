"""Functions that fail in each way a client must be able to tell apart."""

import logging

from livebase import AppError, action, mutation, query, v

log = logging.getLogger("testapp.failures")


@query(args={"data": v.any()})
def app_error(ctx, data):
    raise AppError(data)


@mutation(args={"data": v.any()})
def app_error_mutation(ctx, data):
    ctx.db.insert("messages", {"author": "app_error_mutation", "body": "must roll back"})
    raise AppError(data)


@action(args={"data": v.any()})
async def app_error_action(ctx, data):
    raise AppError(data)


@query(args={})
def crash(ctx):
    raise ValueError("boom: the secret is 42")


@mutation(args={})
def crash_mutation(ctx):
    ctx.db.insert("messages", {"author": "crash_mutation", "body": "must roll back"})
    raise ValueError("mutation boom")


@action(args={})
async def crash_action(ctx):
    raise ValueError("action boom")


@query(args={})
def logs(ctx):
    print("printed line", 1)
    log.info("info via logging")
    log.warning("warning via logging")
    log.error("error via logging")
    return "logged"


@mutation(args={})
def logs_mutation(ctx):
    print("mutation printed")
    return None
