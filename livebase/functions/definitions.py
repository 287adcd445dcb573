"""The decorators that turn Python functions into Livebase functions.

    @query(args={"channel": v.id("channels")})
    def list(ctx, channel): ...

Queries and mutations are plain ``def`` (they run inside a transaction and
must be deterministic); actions are ``async def``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from livebase.schema.validators import Validator, _Object, as_validator

QUERY = "query"
MUTATION = "mutation"
ACTION = "action"
HTTP_ACTION = "httpAction"

_KIND_TITLE = {QUERY: "Query", MUTATION: "Mutation", ACTION: "Action", HTTP_ACTION: "HttpAction"}


def kind_title(kind: str) -> str:
    return _KIND_TITLE[kind]


@dataclass(eq=False)
class FunctionDefinition:
    kind: str
    handler: Callable[..., Any]
    internal: bool = False
    args: _Object | None = None
    returns: Validator | None = None
    # Filled in by the loader: every "module:name" it was exported as.
    paths: list[str] = field(default_factory=list)
    params: frozenset[str] = frozenset()
    required_params: frozenset[str] = frozenset()
    accepts_any: bool = False

    def __post_init__(self) -> None:
        sig = inspect.signature(self.handler)
        params = list(sig.parameters.values())
        if not params or params[0].kind not in (
            inspect.Parameter.POSITIONAL_ONLY,
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
        ):
            raise TypeError(f"{self.handler.__qualname__} must take ctx as its first parameter")
        rest = params[1:]
        self.accepts_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in rest)
        names = [p.name for p in rest if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)]
        self.params = frozenset(names)
        self.required_params = frozenset(
            p.name
            for p in rest
            if p.default is inspect.Parameter.empty
            and p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
        )
        if self.args is not None and not self.accepts_any:
            missing = set(self.args.fields) - self.params
            if missing:
                raise TypeError(
                    f"{self.handler.__qualname__} declares args {sorted(missing)} but has no parameter for them"
                )

    @property
    def name(self) -> str:
        return self.paths[0] if self.paths else self.handler.__qualname__

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        # Calling a function directly runs its handler (handy in tests and
        # for sharing code between functions).
        return self.handler(*args, **kwargs)

    def __repr__(self) -> str:
        vis = "internal " if self.internal else ""
        return f"<{vis}{self.kind} {self.name}>"


def _make(kind: str, internal: bool, fn: Callable[..., Any] | None, args: Any, returns: Any) -> Any:
    args_validator = None
    if args is not None:
        v = as_validator(args)
        if not isinstance(v, _Object):
            raise TypeError("args= must be a dict of validators or v.object({...})")
        args_validator = v
    returns_validator = as_validator(returns) if returns is not None else None

    def wrap(handler: Callable[..., Any]) -> FunctionDefinition:
        is_async = inspect.iscoroutinefunction(handler)
        if kind in (QUERY, MUTATION) and is_async:
            raise TypeError(
                f"{kind} {handler.__qualname__} must be a plain def: queries and mutations run inside a "
                "transaction and can't await; use an action for async work"
            )
        if kind == ACTION and not is_async:
            raise TypeError(f"action {handler.__qualname__} must be an async def")
        return FunctionDefinition(kind, handler, internal, args_validator, returns_validator)

    return wrap(fn) if fn is not None else wrap


def query(fn: Callable[..., Any] | None = None, *, args: Any = None, returns: Any = None) -> Any:
    """A public query: reads the database, is cached and can be subscribed to."""
    return _make(QUERY, False, fn, args, returns)


def mutation(fn: Callable[..., Any] | None = None, *, args: Any = None, returns: Any = None) -> Any:
    """A public mutation: a serializable read-write transaction."""
    return _make(MUTATION, False, fn, args, returns)


def action(fn: Callable[..., Any] | None = None, *, args: Any = None, returns: Any = None) -> Any:
    """A public action: async code that may call other services and functions."""
    return _make(ACTION, False, fn, args, returns)


def internal_query(fn: Callable[..., Any] | None = None, *, args: Any = None, returns: Any = None) -> Any:
    """A query callable only from other functions, the scheduler and admins."""
    return _make(QUERY, True, fn, args, returns)


def internal_mutation(fn: Callable[..., Any] | None = None, *, args: Any = None, returns: Any = None) -> Any:
    """A mutation callable only from other functions, the scheduler and admins."""
    return _make(MUTATION, True, fn, args, returns)


def internal_action(fn: Callable[..., Any] | None = None, *, args: Any = None, returns: Any = None) -> Any:
    """An action callable only from other functions, the scheduler and admins."""
    return _make(ACTION, True, fn, args, returns)


class _Api:
    """``api.dir.module.function`` -> ``"dir/module:function"``."""

    __slots__ = ("_parts",)

    def __init__(self, parts: tuple[str, ...] = ()) -> None:
        self._parts = parts

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return _ApiRef((*self._parts, name))

    def __repr__(self) -> str:
        return "api"


class _ApiRef(_Api):
    def __str__(self) -> str:
        if len(self._parts) < 2:
            return "/".join(self._parts) + ":default"
        return "/".join(self._parts[:-1]) + ":" + self._parts[-1]

    def __repr__(self) -> str:
        return f"api.{'.'.join(self._parts)}"


api: Any = _Api()
internal: Any = api


def function_path(ref: Any) -> str:
    """A path from a string, an ``api`` reference or a ``FunctionDefinition``."""
    if isinstance(ref, str):
        return ref
    if isinstance(ref, _ApiRef):
        return str(ref)
    if isinstance(ref, FunctionDefinition):
        if not ref.paths:
            raise ValueError(f"{ref!r} is not exported from a module in the functions folder")
        return ref.paths[0]
    raise TypeError(f"expected a function path like 'messages:send', got {ref!r}")
