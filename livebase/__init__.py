"""Livebase: a self-hosted reactive backend for Python developers.

Write queries, mutations and actions as Python functions in a
``functions/`` folder; Livebase stores documents transactionally, keeps
query results live for subscribed clients, and speaks the Convex protocol.
"""

from livebase.errors import AppError
from livebase.functions.definitions import (
    action,
    api,
    internal,
    internal_action,
    internal_mutation,
    internal_query,
    mutation,
    query,
)
from livebase.functions.http_router import HttpRouter
from livebase.scheduler.crons import CronJobs
from livebase.schema import define_schema, define_table, pagination_opts_validator, v
from livebase.values import UNDEFINED, Int64

__version__ = "0.1.0"

__all__ = [
    "UNDEFINED",
    "AppError",
    "CronJobs",
    "HttpRouter",
    "Int64",
    "__version__",
    "action",
    "api",
    "define_schema",
    "define_table",
    "internal",
    "internal_action",
    "internal_mutation",
    "internal_query",
    "mutation",
    "pagination_opts_validator",
    "query",
    "v",
]
