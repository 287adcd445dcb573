"""The client's side of the Convex sync protocol (PROTOCOL.md §6): the
socket URL, timestamps, state versions and the messages a client sends."""

from __future__ import annotations

import base64
import struct
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import orjson

from livebase.client.errors import ProtocolViolation

CLIENT_NAME = "livebase-py"


def sync_url(url: str) -> str:
    """``http://host:port[/prefix]`` -> ``ws://host:port[/prefix]/api/sync``."""
    parts = urlsplit(url)
    scheme = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}.get(parts.scheme.lower())
    if scheme is None or not parts.netloc:
        raise ValueError(f"the deployment URL must look like 'http://127.0.0.1:3210', got {url!r}")
    return urlunsplit((scheme, parts.netloc, parts.path.rstrip("/") + "/api/sync", "", ""))


def encode_ts(ts: int) -> str:
    return base64.b64encode(struct.pack("<Q", ts)).decode("ascii")


def decode_ts(value: Any) -> int:
    try:
        raw = base64.b64decode(value, validate=True)
    except (TypeError, ValueError):
        raw = b""
    if len(raw) != 8:
        raise ProtocolViolation(f"a timestamp must be base64 of 8 bytes, got {value!r}")
    return struct.unpack("<Q", raw)[0]


@dataclass(frozen=True, slots=True)
class StateVersion:
    """Which query set, identity and timestamp the client's results reflect."""

    query_set: int = 0
    identity: int = 0
    ts: int = 0

    @classmethod
    def parse(cls, data: Any) -> StateVersion:
        try:
            return cls(int(data["querySet"]), int(data["identity"]), decode_ts(data["ts"]))
        except (KeyError, TypeError, ValueError) as e:
            raise ProtocolViolation(f"bad state version {data!r}") from e


def dumps(message: dict[str, Any]) -> str:
    return orjson.dumps(message).decode()


def connect(session_id: str, connection_count: int, last_close_reason: str, max_observed_ts: int) -> dict[str, Any]:
    msg: dict[str, Any] = {
        "type": "Connect",
        "sessionId": session_id,
        "connectionCount": connection_count,
        "lastCloseReason": last_close_reason,
        "clientTs": 0,
    }
    if max_observed_ts:
        msg["maxObservedTimestamp"] = encode_ts(max_observed_ts)
    return msg


def add_query(query_id: int, path: str, encoded_args: dict[str, Any]) -> dict[str, Any]:
    return {"type": "Add", "queryId": query_id, "udfPath": path, "args": [encoded_args]}


def remove_query(query_id: int) -> dict[str, Any]:
    return {"type": "Remove", "queryId": query_id}


def modify_query_set(base: int, modifications: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "ModifyQuerySet", "baseVersion": base, "newVersion": base + 1, "modifications": modifications}


def request(kind: str, request_id: int, path: str, encoded_args: dict[str, Any]) -> dict[str, Any]:
    """A ``Mutation`` or ``Action`` message."""
    return {"type": kind, "requestId": request_id, "udfPath": path, "args": [encoded_args]}


def authenticate(base: int, token_type: str, value: str | None) -> dict[str, Any]:
    msg: dict[str, Any] = {"type": "Authenticate", "baseVersion": base, "tokenType": token_type}
    if value is not None:
        msg["value"] = value
    return msg
