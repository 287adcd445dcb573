"""User functions: decorators, the loader, ctx objects and the runner."""

from livebase.functions.definitions import (
    ACTION,
    HTTP_ACTION,
    MUTATION,
    QUERY,
    FunctionDefinition,
    action,
    api,
    internal,
    internal_action,
    internal_mutation,
    internal_query,
    mutation,
    query,
)
from livebase.functions.loader import LoadError, load_functions
from livebase.functions.registry import Registry
from livebase.functions.runner import FunctionFailed, FunctionRunner, Outcome

__all__ = [
    "ACTION",
    "HTTP_ACTION",
    "MUTATION",
    "QUERY",
    "FunctionDefinition",
    "FunctionFailed",
    "FunctionRunner",
    "LoadError",
    "Outcome",
    "Registry",
    "action",
    "api",
    "internal",
    "internal_action",
    "internal_mutation",
    "internal_query",
    "load_functions",
    "mutation",
    "query",
]
