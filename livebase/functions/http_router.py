"""``HttpRouter``: the routes of ``functions/http.py`` (HTTP actions).

    http = HttpRouter()
    http.route(path="/hook", method="POST", handler=hook)

    @http.route(path_prefix="/files/", method="GET")
    async def files(ctx, request): ...

A request is matched by method and path: an exact ``path`` first, else the
longest ``path_prefix`` the path starts with. ``HEAD`` uses the ``GET`` routes.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

METHODS = ("GET", "POST", "PUT", "DELETE", "OPTIONS", "PATCH")

Handler = Callable[..., Any]


@dataclass(frozen=True)
class HttpRoute:
    method: str
    handler: Handler
    path: str | None = None
    path_prefix: str | None = None
    # False: the Authorization header is left to the handler (ctx.auth is anonymous).
    auth: bool = True

    @property
    def pattern(self) -> str:
        return self.path if self.path is not None else f"{self.path_prefix}*"


class HttpRouter:
    def __init__(self) -> None:
        self._exact: dict[tuple[str, str], HttpRoute] = {}
        self._prefixes: dict[tuple[str, str], HttpRoute] = {}

    def route(
        self,
        *,
        method: str,
        path: str | None = None,
        path_prefix: str | None = None,
        handler: Handler | None = None,
        auth: bool = True,
    ) -> Any:
        """Add a route. Give exactly one of ``path`` (exact match) and
        ``path_prefix`` (starts and ends with ``/``). ``handler`` is ``async
        def handler(ctx, request)``; without it, ``route`` is a decorator.

        ``auth=False`` leaves the ``Authorization`` header to the handler
        (for webhook senders that put their own secret there)."""
        if handler is None:

            def decorate(fn: Handler) -> Handler:
                self.route(method=method, path=path, path_prefix=path_prefix, handler=fn, auth=auth)
                return fn

            return decorate
        if not isinstance(method, str) or method.upper() not in METHODS:
            raise ValueError(
                f"http.route(): method must be one of {', '.join(METHODS)}, got {method!r}"
            )
        method = method.upper()
        if (path is None) == (path_prefix is None):
            raise ValueError("http.route(): give exactly one of path=... and path_prefix=...")
        if path is not None:
            if not isinstance(path, str) or not path.startswith("/"):
                raise ValueError(f"http.route(): path must start with '/', got {path!r}")
            table, key = self._exact, path
        else:
            if (
                not isinstance(path_prefix, str)
                or not path_prefix.startswith("/")
                or not path_prefix.endswith("/")
            ):
                raise ValueError(
                    f"http.route(): path_prefix must start and end with '/', got {path_prefix!r}"
                )
            table, key = self._prefixes, path_prefix
        if not inspect.iscoroutinefunction(handler):
            name = getattr(handler, "__qualname__", repr(handler))
            raise TypeError(
                f"http.route(): the handler {name} must be an `async def handler(ctx, request)`"
            )
        if (method, key) in table:
            what = "path" if path is not None else "path_prefix"
            raise ValueError(f"http.route(): {method} {what}={key!r} is already routed")
        table[(method, key)] = HttpRoute(method, handler, path, path_prefix, auth)
        return handler

    def lookup(self, method: str, path: str) -> HttpRoute | None:
        """The route for a request, or None."""
        method = "GET" if method == "HEAD" else method
        route = self._exact.get((method, path))
        if route is not None:
            return route
        best: HttpRoute | None = None
        for (m, prefix), candidate in self._prefixes.items():
            if (
                m == method
                and path.startswith(prefix)
                and (best is None or len(prefix) > len(best.path_prefix or ""))
            ):
                best = candidate
        return best

    def methods_for(self, path: str) -> list[str]:
        """Methods some route accepts at ``path`` (for error messages)."""
        found = {m for (m, p) in self._exact if p == path}
        found |= {m for (m, prefix) in self._prefixes if path.startswith(prefix)}
        return sorted(found)

    @property
    def routes(self) -> list[HttpRoute]:
        return [*self._exact.values(), *self._prefixes.values()]
