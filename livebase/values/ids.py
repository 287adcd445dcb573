"""Document ids in Convex's format (SEMANTICS.md §1, ``id_v6``).

bytes = LEB128(table number) ‖ 14 random bytes ‖ 2-byte big-endian days
since the epoch ‖ 2-byte little-endian Fletcher-16 footer, written in
lowercase Crockford base32 without padding (usually 32 characters).
"""

from __future__ import annotations

import base64
import os
import time
from dataclasses import dataclass

_STD = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_CROCKFORD = b"0123456789abcdefghjkmnpqrstvwxyz"
_TO_CROCKFORD = bytes.maketrans(_STD, _CROCKFORD)
_FROM_CROCKFORD = bytes.maketrans(_CROCKFORD, _STD)
_ID_VERSION = 0
MIN_ID_LENGTH = 31
MAX_ID_LENGTH = 37


@dataclass(frozen=True, slots=True)
class DecodedId:
    table_number: int
    internal_id: bytes  # 16 bytes


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _fletcher16(data: bytes) -> bytes:
    s1 = s2 = 0
    for b in data:
        s1 = (s1 + b) & 0xFF
        s2 = (s2 + s1) & 0xFF
    checksum = ((s2 << 8) | s1) ^ _ID_VERSION
    return checksum.to_bytes(2, "little")


def _b32(data: bytes) -> str:
    return base64.b32encode(data).translate(_TO_CROCKFORD).rstrip(b"=").decode("ascii")


class IdGenerator:
    """Hands out new ids; random bytes are drawn from the OS in blocks."""

    def __init__(self) -> None:
        self._pool = b""
        self._pos = 0

    def _random14(self) -> bytes:
        if self._pos + 14 > len(self._pool):
            self._pool = os.urandom(14 * 256)
            self._pos = 0
        chunk = self._pool[self._pos : self._pos + 14]
        self._pos += 14
        return chunk

    def new_id(self, table_number: int, now_seconds: float | None = None) -> str:
        days = int((time.time() if now_seconds is None else now_seconds) // 86400) & 0xFFFF
        body = _varint(table_number) + self._random14() + days.to_bytes(2, "big")
        return _b32(body + _fletcher16(body))


def encode_id(table_number: int, internal_id: bytes) -> str:
    if len(internal_id) != 16:
        raise ValueError("internal id must be 16 bytes")
    body = _varint(table_number) + internal_id
    return _b32(body + _fletcher16(body))


def decode_id(s: str) -> DecodedId | None:
    """Parse an id string; ``None`` if it is not a well-formed id."""
    if type(s) is not str or not MIN_ID_LENGTH <= len(s) <= MAX_ID_LENGTH or not s.isascii():
        return None
    raw_s = s.encode("ascii")
    pad = (-len(raw_s)) % 8
    try:
        raw = base64.b32decode(raw_s.translate(_FROM_CROCKFORD) + b"=" * pad)
    except ValueError:
        return None
    # Strict: only the canonical spelling of these bytes is accepted.
    if _b32(raw) != s:
        return None
    table_number = 0
    shift = 0
    pos = 0
    while True:
        if pos >= len(raw) or pos >= 5:
            return None
        b = raw[pos]
        table_number |= (b & 0x7F) << shift
        pos += 1
        if not b & 0x80:
            break
        shift += 7
    if len(raw) - pos != 18:
        return None
    # Table numbers are u32, and their varint must be the shortest spelling
    # (an overlong one would not re-encode to the same string).
    if table_number > 0xFFFFFFFF or _varint(table_number) != raw[:pos]:
        return None
    body, footer = raw[:-2], raw[-2:]
    if _fletcher16(body) != footer:
        return None
    return DecodedId(table_number, raw[pos:-2])

