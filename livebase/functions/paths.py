"""Function paths: ``"module:function"``, ``"dir/module:function"``, and
their normalisation (PROTOCOL.md §4)."""

from __future__ import annotations

import functools
import re

from livebase.errors import BadRequest

_COMPONENT = re.compile(r"^[A-Za-z0-9_.\-]+$")
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class InvalidPath(BadRequest):
    code = "BadConvexFunctionIdentifier"


@functools.lru_cache(maxsize=4096)
def _canonical(path: str) -> str:
    return _canonical_uncached(path)


def canonical_path(path: object) -> str:
    """``"messages.js:list"`` -> ``"messages:list"``; ``"dir/mod"`` -> ``"dir/mod:default"``.

    Raises ``InvalidPath`` for strings that can't name a function.
    """
    if not isinstance(path, str) or not path:
        raise InvalidPath(f"Function path must be a non-empty string like 'messages:list', got {path!r}")
    return _canonical(path)


def _canonical_uncached(path: str) -> str:
    module, sep, name = path.rpartition(":")
    if not sep:
        module, name = path, "default"
    if module.endswith(".js"):
        module = module[:-3]
    module = module.strip("/") if module.startswith("/") else module
    if not module:
        raise InvalidPath(f"Invalid function path {path!r}: the module is missing (expected 'module:function')")
    parts = module.split("/")
    for part in parts:
        if not part or part in (".", "..") or not _COMPONENT.match(part) or len(part) > 64:
            raise InvalidPath(f"Invalid function path {path!r}: bad module path component {part!r}")
        if "." in part:
            raise InvalidPath(
                f"Invalid function path {path!r}: module paths have no extension (got {part!r})"
            )
    if not _IDENT.match(name) or len(name) > 64 or set(name) == {"_"}:
        raise InvalidPath(f"Invalid function path {path!r}: {name!r} is not a valid function name")
    return f"{module}:{name}"


def path_from_run_url(segments: str) -> str:
    """``/api/run/dir/mod/fn`` -> ``dir/mod:fn``."""
    parts = [p for p in segments.split("/") if p]
    if len(parts) < 2:
        raise InvalidPath(f"/api/run/ needs a module and a function, like /api/run/messages/list; got {segments!r}")
    return canonical_path("/".join(parts[:-1]) + ":" + parts[-1])
