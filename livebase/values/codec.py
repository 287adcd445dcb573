"""How values are stored: compact JSON, with the special types tagged.

Plain ints stay JSON integers and floats JSON floats, so the common case
decodes with one ``orjson.loads`` and no walk: only documents whose bytes
contain ``"$`` (a tagged int64, bytes or special float) are walked.
"""

from __future__ import annotations

from typing import Any

import orjson

from livebase.values.wire import from_json, to_storage_json

_dumps = orjson.dumps
_loads = orjson.loads


def encode_document(value: Any) -> bytes:
    return _dumps(to_storage_json(value))


def decode_document(data: bytes) -> Any:
    parsed = _loads(data)
    if b'"$' in data:
        return from_json(parsed)
    # Integral floats are normalized to ints before they are stored, so
    # orjson's ints and floats already are the value model's.
    return parsed
