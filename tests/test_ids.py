"""Document ids in Convex's ``id_v6`` format (SEMANTICS.md §1).

The reference encoder below is written from the spec, bit by bit, so that
it does not share code (or mistakes) with ``livebase.values.ids``.
"""

from __future__ import annotations

import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from livebase.values import IdGenerator, decode_id, encode_id, sort_key

ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"


def leb128(n: int) -> bytes:
    out = []
    while True:
        byte = n & 0x7F
        n >>= 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def fletcher16_footer(data: bytes) -> bytes:
    a = b = 0
    for byte in data:
        a = (a + byte) % 256
        b = (b + a) % 256
    return bytes([a, b])  # little-endian (b << 8 | a), XOR version 0


def crockford(data: bytes) -> str:
    bits = "".join(f"{byte:08b}" for byte in data)
    bits += "0" * (-len(bits) % 5)
    return "".join(ALPHABET[int(bits[i : i + 5], 2)] for i in range(0, len(bits), 5))


def reference_id(table_number: int, internal: bytes) -> str:
    body = leb128(table_number) + internal
    return crockford(body + fletcher16_footer(body))


def from_crockford(s: str) -> bytes:
    bits = "".join(f"{ALPHABET.index(c):05b}" for c in s)
    bits = bits[: len(bits) - len(bits) % 8]
    return bytes(int(bits[i : i + 8], 2) for i in range(0, len(bits), 8))


TABLE_NUMBERS = st.integers(1, 2**32 - 1)
INTERNAL = st.binary(min_size=16, max_size=16)


# -- format ------------------------------------------------------------------------


def test_new_id_layout_for_a_user_table() -> None:
    gen = IdGenerator()
    now = 1_700_000_000.0
    new = gen.new_id(10001, now_seconds=now)
    assert len(new) == 32
    assert set(new) <= set(ALPHABET)
    raw = from_crockford(new)
    assert raw[:2] == leb128(10001) == b"\x91\x4e"
    internal = raw[2:18]
    assert int.from_bytes(internal[14:16], "big") == int(now // 86400)
    assert raw[18:] == fletcher16_footer(raw[:18])
    assert new == reference_id(10001, internal)
    decoded = decode_id(new)
    assert decoded is not None
    assert decoded.table_number == 10001
    assert decoded.internal_id == internal


def test_new_ids_use_todays_date_and_are_random() -> None:
    gen = IdGenerator()
    ids = {gen.new_id(10001) for _ in range(2000)}
    assert len(ids) == 2000
    today = int(time.time() // 86400)
    for one in list(ids)[:20]:
        decoded = decode_id(one)
        assert decoded is not None
        assert int.from_bytes(decoded.internal_id[14:], "big") in (today, today + 1)
    # 14 random bytes: the random part differs between ids.
    assert len({decode_id(i).internal_id[:14] for i in ids}) == 2000  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("table_number", "length"),
    [
        (1, 31),
        (127, 31),
        (128, 32),
        (10001, 32),
        (2**14 - 1, 32),
        (2**14, 34),
        (2**21 - 1, 34),
        (2**21, 36),
        (2**28 - 1, 36),
        (2**28, 37),
        (2**32 - 1, 37),
    ],
)
def test_id_lengths(table_number: int, length: int) -> None:
    new = IdGenerator().new_id(table_number)
    assert len(new) == length
    assert 31 <= len(new) <= 37


@given(TABLE_NUMBERS, INTERNAL)
def test_roundtrip_matches_reference(table_number: int, internal: bytes) -> None:
    encoded = encode_id(table_number, internal)
    assert encoded == reference_id(table_number, internal)
    decoded = decode_id(encoded)
    assert decoded is not None
    assert (decoded.table_number, decoded.internal_id) == (table_number, internal)


@given(TABLE_NUMBERS)
def test_generated_ids_decode_to_their_table(table_number: int) -> None:
    new = IdGenerator().new_id(table_number)
    decoded = decode_id(new)
    assert decoded is not None
    assert decoded.table_number == table_number


def test_footer_uses_wrapping_sums() -> None:
    # All-0xff bytes make the running sums wrap many times: mod 256, not 255.
    internal = b"\xff" * 16
    body = leb128(10001) + internal
    raw = from_crockford(encode_id(10001, internal))
    assert raw[-2:] == fletcher16_footer(body)
    a = sum(body) % 256
    assert raw[-2] == a


def test_ids_are_plain_strings_in_sort_order() -> None:
    gen = IdGenerator()
    a, b = gen.new_id(10001), gen.new_id(10001)
    assert (sort_key(a) < sort_key(b)) == (a < b)


# -- strict decoding ------------------------------------------------------------------

GOOD = encode_id(10001, bytes(range(16)))
SHORT = encode_id(1, bytes(range(16)))  # 31 chars: 3 padding bits in the last char


def test_good_ids_decode() -> None:
    assert decode_id(GOOD) is not None
    assert len(SHORT) == 31
    assert decode_id(SHORT) is not None


def _flip_char(s: str, i: int) -> str:
    c = ALPHABET[(ALPHABET.index(s[i]) + 1) % 32]
    return s[:i] + c + s[i + 1 :]


@pytest.mark.parametrize("position", [0, 5, 10, 20, 31])
def test_wrong_checksum_rejected(position: int) -> None:
    assert decode_id(_flip_char(GOOD, position)) is None


def test_bad_footer_with_valid_base32_rejected() -> None:
    body = leb128(10001) + bytes(16)
    footer = fletcher16_footer(body)
    assert decode_id(crockford(body + footer)) is not None
    assert decode_id(crockford(body + bytes([footer[0] ^ 1, footer[1]]))) is None
    # Footer written big-endian instead of little-endian.
    swapped = crockford(body + footer[::-1])
    assert footer[0] == footer[1] or decode_id(swapped) is None


@pytest.mark.parametrize(
    "bad",
    [
        "",
        GOOD[:-1],
        GOOD + "0",
        GOOD[:30],
        "0" * 38,
        GOOD.upper(),
        GOOD[:-1] + GOOD[-1].upper() if GOOD[-1].isalpha() else GOOD[:3] + "A" + GOOD[4:],
        GOOD[:10] + "i" + GOOD[11:],  # not in Crockford's alphabet
        GOOD[:10] + "l" + GOOD[11:],
        GOOD[:10] + "o" + GOOD[11:],
        GOOD[:10] + "u" + GOOD[11:],
        GOOD[:10] + "-" + GOOD[11:],
        GOOD[:10] + "=" + GOOD[11:],
        GOOD[:10] + "é" + GOOD[11:],
        " " + GOOD[1:],
        GOOD[:16] + "\x00" + GOOD[17:],
    ],
)
def test_malformed_ids_rejected(bad: str) -> None:
    assert decode_id(bad) is None


@pytest.mark.parametrize("bad", [None, 5, b"abc", ["x"]])
def test_non_strings_rejected(bad: object) -> None:
    assert decode_id(bad) is None  # type: ignore[arg-type]


def test_non_canonical_padding_bits_rejected() -> None:
    # 19 bytes = 152 bits: the last character carries 3 unused bits that must be 0.
    last = ALPHABET.index(SHORT[-1])
    assert last & 0b111 == 0
    for pad in range(1, 8):
        variant = SHORT[:-1] + ALPHABET[last | pad]
        assert from_crockford(variant) == from_crockford(SHORT)  # same bytes...
        assert decode_id(variant) is None  # ...but not the canonical spelling


def test_overlong_table_number_rejected() -> None:
    # Table 1 written as a 2-byte LEB128 (0x81 0x00): same number, not canonical.
    body = b"\x81\x00" + bytes(16)
    spelled = crockford(body + fletcher16_footer(body))
    assert decode_id(spelled) is None


def test_table_number_beyond_32_bits_rejected() -> None:
    body = leb128(2**32) + bytes(16)
    assert len(body) == 21
    assert decode_id(crockford(body + fletcher16_footer(body))) is None


def test_wrong_internal_length_rejected() -> None:
    for n in (15, 17):
        body = leb128(10001) + bytes(n)
        assert decode_id(crockford(body + fletcher16_footer(body))) is None


def test_encode_id_checks_internal_length() -> None:
    with pytest.raises(ValueError, match="16 bytes"):
        encode_id(10001, bytes(15))
