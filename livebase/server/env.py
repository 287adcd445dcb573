"""Environment variables of a deployment: names and storage format."""

from __future__ import annotations

import re

import orjson

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,39}$")
MAX_VALUE_BYTES = 8192


def check_env_name(name: object) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(
            f"invalid environment variable name {name!r}: use letters, digits and underscores, "
            "not starting with a digit, at most 40 characters"
        )
    return name


def check_env_value(name: str, value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f"environment variable {name!r} must be a string, got {type(value).__name__}")
    size = len(value.encode("utf-8"))
    if size > MAX_VALUE_BYTES:
        raise ValueError(f"environment variable {name!r} is {size} bytes, more than the limit of {MAX_VALUE_BYTES}")
    return value


def load_env(raw: bytes | None) -> dict[str, str]:
    if not raw:
        return {}
    data = orjson.loads(raw)
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}
