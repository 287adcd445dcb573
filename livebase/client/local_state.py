"""What a client remembers between sockets: its queries and their latest
results, and the mutations and actions that have no answer yet."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(slots=True)
class QueryResult:
    """One result of a subscribed query: a value, or the error it failed with."""

    value: Any = None
    error: Exception | None = None
    # The result as received (undecoded JSON, or the error text and data):
    # a re-sent identical result (after a reconnect) is not a change.
    raw: Any = None

    def unwrap(self) -> Any:
        if self.error is not None:
            raise self.error
        return self.value


class Listener(Protocol):
    """Something that wants a query's results (a subscription, a one-shot query)."""

    # The auth epoch the listener was created in (see ClientCore.auth_epoch).
    epoch: int

    def deliver(self, result: QueryResult) -> None: ...

    def end(self, error: Exception | None) -> None: ...


@dataclass(slots=True, eq=False)
class LocalQuery:
    """A query in the client's query set, shared by every listener of the
    same path and arguments (one ``Add`` on the wire, like the JS client)."""

    query_id: int
    path: str
    key: tuple[str, bytes]
    encoded_args: dict[str, Any]
    listeners: list[Listener] = field(default_factory=list)
    result: QueryResult | None = None

    def update(self, result: QueryResult) -> bool:
        """Store a new result; returns whether it differs from the last one."""
        if self.result is not None and self.result.raw == result.raw:
            return False
        self.result = result
        return True


@dataclass(slots=True, eq=False)
class PendingRequest:
    """A mutation or action that has no final answer yet."""

    request_id: int
    kind: str  # "Mutation" | "Action"
    path: str
    message: dict[str, Any]
    future: asyncio.Future[Any]
    epoch: int
    sent: bool = False
    # A successful mutation's commit ts: it resolves once the client's
    # results reflect that ts (read-your-writes).
    commit_ts: int | None = None
    value: Any = None

    def resolve(self, value: Any) -> None:
        if not self.future.done():
            self.future.set_result(value)

    def fail(self, error: Exception) -> None:
        if not self.future.done():
            self.future.set_exception(error)
