"""The registry: every function of the loaded ``functions/`` folder by path,
plus the special modules (schema, http router, crons, auth config)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from livebase.functions.definitions import FunctionDefinition
from livebase.schema.schema import SchemaDefinition


@dataclass
class Registry:
    functions: dict[str, FunctionDefinition] = field(default_factory=dict)
    schema: SchemaDefinition | None = None
    http: Any = None  # an HttpRouter from functions/http.py
    crons: Any = None  # CronJobs from functions/crons.py
    auth_providers: list[dict[str, Any]] | None = None
    modules: list[str] = field(default_factory=list)
    functions_dir: str | None = None
    generation: int = 0

    def lookup(self, path: str) -> FunctionDefinition | None:
        return self.functions.get(path)

    def describe(self) -> list[dict[str, Any]]:
        """A listing for the CLI and dashboard."""
        return [
            {
                "path": path,
                "kind": fn.kind,
                "visibility": "internal" if fn.internal else "public",
                "args": fn.args.to_json() if fn.args else None,
                "returns": fn.returns.to_json() if fn.returns else None,
            }
            for path, fn in sorted(self.functions.items())
        ]
