"""The value model: types, total order, wire and key encodings, ids, limits."""

from livebase.values.codec import decode_document, encode_document
from livebase.values.ids import DecodedId, IdGenerator, decode_id, encode_id
from livebase.values.int64 import Int64
from livebase.values.model import (
    UNDEFINED,
    normalize_value,
    normalize_value_sized,
    type_name,
)
from livebase.values.ordering import compare, values_equal
from livebase.values.sort_key import prefix_end, sort_key, successor, tuple_key
from livebase.values.wire import from_clean_json, from_json, to_clean_json, to_json

__all__ = [
    "UNDEFINED",
    "DecodedId",
    "IdGenerator",
    "Int64",
    "compare",
    "decode_document",
    "decode_id",
    "encode_document",
    "encode_id",
    "from_clean_json",
    "from_json",
    "normalize_value",
    "normalize_value_sized",
    "prefix_end",
    "sort_key",
    "successor",
    "to_clean_json",
    "to_json",
    "tuple_key",
    "type_name",
    "values_equal",
]
