"""The ``ctx`` objects handed to functions, and ``ctx.db``."""

from __future__ import annotations

import os
import random
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from livebase.database.errors import DatabaseError
from livebase.database.query import Query
from livebase.database.transaction import Transaction
from livebase.functions.definitions import function_path
from livebase.values.ids import decode_id

if TYPE_CHECKING:
    from livebase.functions.runner import FunctionRunner, Identity


class DatabaseReader:
    """``ctx.db`` in queries: ``get``, ``query``, ``normalize_id``, ``system``."""

    __slots__ = ("_txn", "system")

    def __init__(self, txn: Transaction) -> None:
        self._txn = txn
        self.system = SystemReader(txn)

    def get(self, table_or_id: str, id: str | None = None) -> dict[str, Any] | None:
        """The document with this id, or None. ``get(id)`` or ``get(table, id)``."""
        if id is None:
            return self._txn.get(table_or_id)
        return self._txn.get(id, table_name=table_or_id)

    def query(self, table: str) -> Query:
        """Start a query over ``table``."""
        return Query(self._txn, self._txn.table_for_read(table))

    def __getattr__(self, name: str) -> Any:
        if name in ("insert", "patch", "replace", "delete"):
            raise DatabaseError(f"db.{name}() is not allowed in a query; queries only read — use a mutation to write")
        raise AttributeError(f"ctx.db has no attribute {name!r}")

    def normalize_id(self, table: str, id: str) -> str | None:
        """``id`` if it is a valid id of ``table``, else None."""
        decoded = decode_id(id) if isinstance(id, str) else None
        if decoded is None:
            return None
        number = self._txn.catalog.table_number(table)
        return id if number is not None and decoded.table_number == number else None


class DatabaseWriter(DatabaseReader):
    """``ctx.db`` in mutations: reads plus ``insert``, ``patch``, ``replace``, ``delete``."""

    __slots__ = ()

    def insert(self, table: str, document: dict[str, Any]) -> str:
        """Insert a document; returns its new ``_id``."""
        return self._txn.insert(table, document)

    def patch(self, table_or_id: str, id_or_fields: Any, fields: Any = None) -> None:
        """Shallow-merge fields into a document (``UNDEFINED`` removes a field)."""
        if fields is None:
            self._txn.patch(table_or_id, id_or_fields)
        else:
            self._txn.patch(id_or_fields, fields, table_name=table_or_id)

    def replace(self, table_or_id: str, id_or_doc: Any, document: Any = None) -> None:
        """Replace a document's fields (system fields are kept)."""
        if document is None:
            self._txn.replace(table_or_id, id_or_doc)
        else:
            self._txn.replace(id_or_doc, document, table_name=table_or_id)

    def delete(self, table_or_id: str, id: str | None = None) -> None:
        """Delete a document."""
        if id is None:
            self._txn.delete(table_or_id)
        else:
            self._txn.delete(id, table_name=table_or_id)


class SystemReader:
    """``ctx.db.system``: read-only access to ``_storage`` and ``_scheduled_functions``."""

    __slots__ = ("_txn",)

    def __init__(self, txn: Transaction) -> None:
        self._txn = txn

    def get(self, id: str) -> dict[str, Any] | None:
        return self._txn.get(id, system=True)

    def query(self, table: str) -> Query:
        return Query(self._txn, self._txn.table_for_read(table, system=True))


class Auth:
    """``ctx.auth``: who is calling."""

    __slots__ = ("_identity", "read")

    def __init__(self, identity: Identity | None) -> None:
        self._identity = identity
        self.read = False

    def get_user_identity(self) -> Any:
        """The caller's ``UserIdentity``, or None for anonymous callers."""
        self.read = True
        if self._identity is None:
            return None
        return self._identity.user


class Env(Mapping[str, str]):
    """``ctx.env``: the deployment's environment variables (read-only)."""

    __slots__ = ("_read", "_values")

    def __init__(self, values: Mapping[str, str]) -> None:
        self._values = values
        self._read: set[str] = set()

    def __getitem__(self, key: str) -> str:
        self._read.add(key)
        return self._values[key]

    def get(self, key: str, default: Any = None) -> Any:
        self._read.add(key)
        return self._values.get(key, default)

    def __iter__(self) -> Any:
        self._read.add("*")
        return iter(self._values)

    def __len__(self) -> int:
        self._read.add("*")
        return len(self._values)

    def __contains__(self, key: object) -> bool:
        self._read.add(str(key))
        return key in self._values


class _BaseCtx:
    def __init__(self, runner: FunctionRunner, identity: Identity | None, now_ms: float, seed: int | None = None) -> None:
        self._runner = runner
        self.auth = Auth(identity)
        self.env = Env(runner.env_values())
        self._now_ms = now_ms
        self._read_time = False
        # Seeded afresh for every execution, like Convex's Math.random.
        self._seed = seed
        self._random: random.Random | None = None

    @property
    def random(self) -> random.Random:
        """A random generator seeded afresh for this execution."""
        if self._random is None:
            self._random = random.Random(os.urandom(16) if self._seed is None else self._seed)
        return self._random

    def now(self) -> float:
        """Milliseconds since the epoch, fixed for the whole execution."""
        self._read_time = True
        return self._now_ms


class QueryCtx(_BaseCtx):
    def __init__(self, runner: FunctionRunner, txn: Transaction, identity: Identity | None) -> None:
        super().__init__(runner, identity, txn.now_ms)
        self.db = DatabaseReader(txn)
        self.storage = runner.storage_reader(txn)


class MutationCtx(_BaseCtx):
    def __init__(self, runner: FunctionRunner, txn: Transaction, identity: Identity | None) -> None:
        super().__init__(runner, identity, txn.now_ms)
        self.db = DatabaseWriter(txn)
        self.storage = runner.storage_writer(txn)
        self.scheduler = runner.scheduler_for(txn)


class ActionCtx(_BaseCtx):
    def __init__(self, runner: FunctionRunner, identity: Identity | None, now_ms: float, seed: int | None = None) -> None:
        super().__init__(runner, identity, now_ms, seed)
        self.storage = runner.storage_for_action()
        self.scheduler = runner.scheduler_for(None)

    async def run_query(self, fn: Any, args: dict[str, Any] | None = None) -> Any:
        """Run a query (public or internal) in its own transaction."""
        return await self._runner.call_from_action("query", function_path(fn), args, self.auth._identity)

    async def run_mutation(self, fn: Any, args: dict[str, Any] | None = None) -> Any:
        """Run a mutation (public or internal) in its own transaction."""
        return await self._runner.call_from_action("mutation", function_path(fn), args, self.auth._identity)

    async def run_action(self, fn: Any, args: dict[str, Any] | None = None) -> Any:
        """Run another action."""
        return await self._runner.call_from_action("action", function_path(fn), args, self.auth._identity)

