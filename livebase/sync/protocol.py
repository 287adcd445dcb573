"""Messages of the Convex sync protocol (PROTOCOL.md §6).

Server messages are built as JSON text directly: a query result is encoded
once and its bytes are spliced into every client's Transition.
"""

from __future__ import annotations

import base64
import struct
import time
from dataclasses import dataclass
from typing import Any

import orjson

from livebase.errors import LivebaseError


class ProtocolError(LivebaseError):
    """The client broke the protocol; answered with FatalError and a close."""

    code = "ProtocolError"


def encode_ts(ts: int) -> str:
    return base64.b64encode(struct.pack("<Q", ts)).decode("ascii")


def decode_ts(value: Any) -> int:
    if not isinstance(value, str):
        raise ProtocolError(f"a timestamp must be a base64 string, got {value!r}")
    try:
        raw = base64.b64decode(value, validate=True)
    except ValueError:
        raw = b""
    if len(raw) != 8:
        raise ProtocolError(f"a timestamp must encode 8 bytes, got {value!r}")
    return struct.unpack("<Q", raw)[0]


@dataclass(slots=True)
class StateVersion:
    query_set: int = 0
    identity: int = 0
    ts: int = 0

    def json(self) -> str:
        return f'{{"querySet":{self.query_set},"identity":{self.identity},"ts":"{encode_ts(self.ts)}"}}'


def transition(start: StateVersion, end: StateVersion, modifications: list[str], client_ts_skew: float = 0) -> str:
    return (
        '{"type":"Transition","startVersion":'
        + start.json()
        + ',"endVersion":'
        + end.json()
        + ',"modifications":['
        + ",".join(modifications)
        + '],"clientClockSkew":'
        + str(client_ts_skew)
        + ',"serverTs":'
        + str(time.time_ns())
        + "}"
    )


def query_removed(query_id: int) -> str:
    return f'{{"type":"QueryRemoved","queryId":{query_id}}}'


def dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def mutation_response(request_id: int, ok: bool, result_json: str, ts: int | None, log_lines: list[str], error_data_json: str | None = None) -> str:
    parts = [
        f'{{"type":"MutationResponse","requestId":{request_id},"success":{"true" if ok else "false"},"result":{result_json}',
        f',"ts":"{encode_ts(ts)}"' if ok and ts is not None else ',"ts":null',
        ',"logLines":' + dumps(log_lines),
    ]
    if error_data_json is not None:
        parts.append(',"errorData":' + error_data_json)
    parts.append("}")
    return "".join(parts)


def action_response(request_id: int, ok: bool, result_json: str, log_lines: list[str], error_data_json: str | None = None) -> str:
    tail = f',"errorData":{error_data_json}' if error_data_json is not None else ""
    return (
        f'{{"type":"ActionResponse","requestId":{request_id},"success":{"true" if ok else "false"},'
        f'"result":{result_json},"logLines":{dumps(log_lines)}{tail}}}'
    )


def auth_error(message: str, base_version: int, attempted: bool) -> str:
    return dumps({"type": "AuthError", "error": message, "baseVersion": base_version, "authUpdateAttempted": attempted})


def fatal_error(message: str) -> str:
    return dumps({"type": "FatalError", "error": message})


PING = '{"type":"Ping"}'


def require(msg: dict[str, Any], key: str, kind: type | tuple[type, ...], what: str) -> Any:
    value = msg.get(key)
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise ProtocolError(f"{what}: field {key!r} is missing or has the wrong type ({value!r})")
    return value


def require_u32(msg: dict[str, Any], key: str, what: str) -> int:
    value = msg.get(key)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if type(value) is not int or not 0 <= value < 2**32:
        raise ProtocolError(f"{what}: field {key!r} must be a non-negative 32-bit integer, got {value!r}")
    return value
