"""Load a ``functions/`` folder: import every module under a private package
name (so ``functions/http.py`` never shadows the standard library's
``http``) and register what the modules export.

Module ``dir/mod.py`` defining ``send`` gives the path ``"dir/mod:send"``
(a function imported from another module is registered only where it is
defined, unless the importing module lists it in ``__all__``).
Modules and folders whose names start with ``_`` or ``.`` are not loaded
(use them for helpers: import them relatively, ``from ._util import x``).
"""

from __future__ import annotations

import importlib
import itertools
import re
import sys
import types
from pathlib import Path
from typing import Any

from livebase.auth.config import AuthConfigError, parse_providers
from livebase.functions.definitions import FunctionDefinition
from livebase.functions.http_router import HttpRouter
from livebase.functions.registry import Registry
from livebase.schema.schema import SchemaDefinition

_generation = itertools.count(1)
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class LoadError(Exception):
    """A module of the functions folder failed to import or is invalid."""


def _module_files(root: Path) -> list[Path]:
    files = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root)
        if any(part.startswith(("_", ".")) for part in rel.parts):
            continue
        if not all(_IDENT.match(p) for p in (*rel.parts[:-1], rel.stem)):
            continue
        files.append(path)
    return files


def _purge(prefix: str) -> None:
    for name in [m for m in sys.modules if m == prefix or m.startswith(prefix + ".")]:
        del sys.modules[name]


def load_functions(functions_dir: str | Path) -> Registry:
    """Import the folder afresh and build a registry. Raises ``LoadError``."""
    root = Path(functions_dir).resolve()
    if not root.is_dir():
        raise LoadError(f"functions folder {root} does not exist")
    generation = next(_generation)
    package = f"_livebase_app_{generation}"
    pkg = types.ModuleType(package)
    pkg.__path__ = [str(root)]
    pkg.__file__ = str(root / "__init__.py")
    pkg.__package__ = package
    sys.modules[package] = pkg
    registry = Registry(functions_dir=str(root), generation=generation)
    try:
        for path in _module_files(root):
            rel = path.relative_to(root).with_suffix("")
            module_path = "/".join(rel.parts)
            dotted = package + "." + ".".join(rel.parts)
            try:
                module = importlib.import_module(dotted)
            except Exception as e:  # any import failure is reported to the developer
                raise LoadError(f"failed to import functions/{rel.as_posix()}.py: {type(e).__name__}: {e}") from e
            registry.modules.append(module_path)
            _register_module(registry, module_path, module)
    except BaseException:
        _purge(package)
        raise
    # Older generations are no longer needed; the new one stays importable.
    for name in [m for m in sys.modules if m.startswith("_livebase_app_") and not m.startswith(package)]:
        del sys.modules[name]
    return registry


def _register_module(registry: Registry, module_path: str, module: Any) -> None:
    top = module_path
    if top == "schema":
        schema = getattr(module, "schema", None) or getattr(module, "default", None)
        if schema is not None and not isinstance(schema, SchemaDefinition):
            raise LoadError("functions/schema.py must define `schema = define_schema({...})`")
        registry.schema = schema
    elif top == "http":
        router = getattr(module, "http", None)
        if router is not None and not isinstance(router, HttpRouter):
            raise LoadError("functions/http.py must define `http = HttpRouter()` (from livebase import HttpRouter)")
        registry.http = router
    elif top == "crons":
        registry.crons = getattr(module, "crons", None)
    elif top == "auth_config":
        providers = getattr(module, "providers", None)
        if providers is not None and not isinstance(providers, list | tuple):
            raise LoadError("functions/auth_config.py must define `providers = [...]`")
        if providers is not None:
            try:
                parse_providers(list(providers))
            except AuthConfigError as e:
                raise LoadError(f"functions/auth_config.py: {e}") from None
        registry.auth_providers = list(providers) if providers is not None else None
    exported = set(getattr(module, "__all__", ()))
    for name, value in vars(module).items():
        if isinstance(value, FunctionDefinition):
            if name.startswith("_"):
                continue
            # A function belongs to the module that defines it; one imported
            # from another module is only registered here if __all__ lists it.
            if value.handler.__module__ != module.__name__ and name not in exported:
                continue
            if len(name) > 64:
                raise LoadError(f"functions/{module_path}.py: function name {name!r} is longer than 64 characters")
            path = f"{module_path}:{name}"
            registry.functions[path] = value
            if path not in value.paths:
                value.paths.append(path)
