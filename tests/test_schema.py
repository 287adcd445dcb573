"""Validators (``v.*``) and schema definitions (``define_schema``/``define_table``)."""

from __future__ import annotations

import math
from typing import Any

import pytest

from livebase import Int64, define_schema, define_table, v
from livebase.schema import SchemaError, ValidationError, Validator
from livebase.values import IdGenerator, normalize_value

USERS = 10001
MESSAGES = 10002
TABLES = {"users": USERS, "messages": MESSAGES}


def resolver(name: str) -> int | None:
    return TABLES.get(name)


def ok(validator: Validator, value: Any) -> Any:
    return validator.validate(normalize_value(value), where="args", tables=resolver)


def bad(validator: Validator, value: Any) -> ValidationError:
    with pytest.raises(ValidationError) as info:
        validator.validate(normalize_value(value), where="args", tables=resolver)
    return info.value


SAMPLES: dict[str, Any] = {
    "string": "hi",
    "empty string": "",
    "number int": 3,
    "number float": 2.5,
    "nan": math.nan,
    "int64": Int64(3),
    "true": True,
    "false": False,
    "null": None,
    "bytes": b"\x00",
    "list": [1],
    "dict": {"a": 1},
}

ACCEPTS: dict[str, set[str]] = {
    "v.string()": {"string", "empty string"},
    "v.number()": {"number int", "number float", "nan"},
    "v.float64()": {"number int", "number float", "nan"},
    "v.boolean()": {"true", "false"},
    "v.null()": {"null"},
    "v.bytes()": {"bytes"},
    "v.any()": set(SAMPLES),
    "v.array(v.any())": {"list"},
    "v.object({'a': v.number()})": {"dict"},
}
VALIDATORS: dict[str, Validator] = {
    "v.string()": v.string(),
    "v.number()": v.number(),
    "v.float64()": v.float64(),
    "v.boolean()": v.boolean(),
    "v.null()": v.null(),
    "v.bytes()": v.bytes(),
    "v.any()": v.any(),
    "v.array(v.any())": v.array(v.any()),
    "v.object({'a': v.number()})": v.object({"a": v.number()}),
}


@pytest.mark.parametrize("name", list(VALIDATORS))
@pytest.mark.parametrize("sample", list(SAMPLES))
def test_simple_validators_accept_exactly_their_type(name: str, sample: str) -> None:
    validator = VALIDATORS[name]
    value = SAMPLES[sample]
    if sample in ACCEPTS[name]:
        result = ok(validator, value)
        assert type(result) is type(normalize_value(value))
    else:
        err = bad(validator, value)
        assert str(err).startswith("Value does not match validator at args: ")
        # v.float64() is another name of v.number().
        assert f"expected {name.replace('float64', 'number')}" in str(err)
        assert err.path == "args"
        assert err.code == "ArgumentValidationError"


def test_mismatch_message_names_the_value_type_and_value() -> None:
    assert "got number 3" in str(bad(v.string(), 3))
    assert 'got string "x"' in str(bad(v.number(), "x"))
    assert "got int64 7" in str(bad(v.number(), Int64(7)))
    assert "got boolean true" in str(bad(v.number(), True))
    assert "got null" in str(bad(v.string(), None))
    long = bad(v.number(), "x" * 500)
    assert "..." in str(long)
    assert len(str(long)) < 200


def test_int64_converts_plain_ints() -> None:
    result = ok(v.int64(), 5)
    assert type(result) is Int64
    assert result == 5
    assert type(ok(v.int64(), Int64(-(2**63)))) is Int64
    assert type(ok(v.bigint(), 2**53)) is Int64
    # An integral float64 beyond 2**53 is still an exact integer.
    assert ok(v.int64(), 2.0**60) == Int64(2**60)
    for value in [2.5, math.nan, math.inf, "5", True, None]:
        assert "expected v.int64()" in str(bad(v.int64(), value))
    # Raw (not normalized) values out of range are a mismatch, not a crash.
    with pytest.raises(ValidationError, match=r"expected v\.int64\(\)"):
        v.int64().validate(2**64)
    with pytest.raises(ValidationError, match=r"expected v\.int64\(\)"):
        v.int64().validate(2.0**63)


def test_number_does_not_accept_int64_or_bool() -> None:
    bad(v.number(), Int64(1))
    bad(v.number(), False)
    assert ok(v.number(), -0.0) == 0.0


def test_object_fields() -> None:
    validator = v.object({"name": v.string(), "age": v.optional(v.number())})
    assert ok(validator, {"name": "a"}) == {"name": "a"}
    assert ok(validator, {"name": "a", "age": 3}) == {"name": "a", "age": 3}
    err = bad(validator, {"name": "a", "age": None})
    assert err.path == "args.age"
    assert "expected v.number(), got null" in str(err)
    err = bad(validator, {})
    assert "missing the required field 'name'" in str(err)
    assert "v.string()" in str(err)
    err = bad(validator, {"name": "a", "extra": 1})
    assert "'extra'" in str(err)
    assert "does not allow" in str(err)
    assert "allowed: name, age" in str(err)
    bad(validator, [{"name": "a"}])


def test_dict_shorthand_is_an_object_validator() -> None:
    validator = v.array({"x": v.int64()})
    result = ok(validator, [{"x": 1}, {"x": Int64(2)}])
    assert [type(r["x"]) for r in result] == [Int64, Int64]
    err = bad(validator, [{"x": 1}, {"x": "no"}])
    assert err.path == "args[1].x"


def test_nested_paths_in_messages() -> None:
    validator = v.object({"a": v.object({"b": v.array(v.object({"c": v.boolean()}))})})
    err = bad(validator, {"a": {"b": [{"c": True}, {"c": 1}]}})
    assert str(err) == (
        "Value does not match validator at args.a.b[1].c: expected v.boolean(), got number 1"
    )
    assert err.path == "args.a.b[1].c"
    assert err.detail == "expected v.boolean(), got number 1"


def test_array() -> None:
    assert ok(v.array(v.number()), []) == []
    assert ok(v.array(v.number()), [1, 2.5]) == [1, 2.5]
    err = bad(v.array(v.number()), [1, "x"])
    assert err.path == "args[1]"
    bad(v.array(v.number()), {"0": 1})
    bad(v.array(v.number()), b"ab")


ID_GEN = IdGenerator()
USER_ID = ID_GEN.new_id(USERS)
MESSAGE_ID = ID_GEN.new_id(MESSAGES)


def test_id_validator_checks_the_table() -> None:
    assert ok(v.id("users"), USER_ID) == USER_ID
    err = bad(v.id("users"), MESSAGE_ID)
    assert 'expected v.id("users")' in str(err)
    assert "another table" in str(err)
    err = bad(v.id("users"), "not-an-id")
    assert "not a document id" in str(err)
    err = bad(v.id("users"), 3)
    assert 'expected v.id("users"), got number 3' in str(err)
    # A table that does not exist has no ids.
    bad(v.id("ghosts"), USER_ID)
    # Without a resolver no table exists.
    with pytest.raises(ValidationError):
        v.id("users").validate(USER_ID)


def test_union() -> None:
    validator = v.union(v.string(), v.null(), v.object({"k": v.int64()}))
    assert ok(validator, "x") == "x"
    assert ok(validator, None) is None
    result = ok(validator, {"k": 1})
    assert type(result["k"]) is Int64  # the matching member converts
    err = bad(validator, 3)
    assert "expected v.union(v.string(), v.null(), v.object({'k': v.int64()}))" in str(err)
    with pytest.raises(TypeError):
        v.union()


def test_literal_is_type_aware() -> None:
    assert ok(v.literal(1), 1) == 1
    assert ok(v.literal(1), 1.0) == 1
    assert "expected v.literal(1), got int64 1" in str(bad(v.literal(1), Int64(1)))
    assert "got boolean true" in str(bad(v.literal(1), True))
    bad(v.literal(True), 1)
    assert ok(v.literal(True), True) is True
    assert ok(v.literal(Int64(1)), Int64(1)) == 1
    bad(v.literal(Int64(1)), 1)
    assert ok(v.literal("a"), "a") == "a"
    bad(v.literal("a"), "A")
    bad(v.literal("a"), ["a"])
    bad(v.literal(0), -0.0)
    with pytest.raises(TypeError):
        v.literal([1])
    with pytest.raises(TypeError):
        v.literal({"a": 1})


def test_union_of_literals() -> None:
    status = v.union(v.literal("open"), v.literal("closed"))
    assert ok(status, "open") == "open"
    err = bad(status, "pending")
    assert "v.literal('open')" in str(err) and "v.literal('closed')" in str(err)


def test_record() -> None:
    validator = v.record(v.string(), v.number())
    assert ok(validator, {}) == {}
    assert ok(validator, {"a": 1, "b": 2.5}) == {"a": 1, "b": 2.5}
    err = bad(validator, {"a": 1, "b": "x"})
    assert err.path == "args.b"
    bad(validator, [1])
    ids = v.record(v.id("users"), v.boolean())
    assert ok(ids, {USER_ID: True}) == {USER_ID: True}
    err = bad(ids, {MESSAGE_ID: True})
    assert "record key" in str(err)
    assert 'v.id("users")' in str(err)
    keys = v.record(v.union(v.literal("x"), v.literal("y")), v.int64())
    assert ok(keys, {"x": 1}) == {"x": Int64(1)}
    bad(keys, {"z": 1})
    with pytest.raises(TypeError):
        v.record(v.number(), v.number())


def test_optional_outside_objects() -> None:
    # v.optional only makes a field omittable; None is still not a string.
    bad(v.optional(v.string()), None)
    assert ok(v.optional(v.string()), "s") == "s"


def test_validators_compare_by_shape() -> None:
    assert v.object({"a": v.string()}) == v.object({"a": v.string()})
    assert v.object({"a": v.string()}) != v.object({"a": v.optional(v.string())})
    assert v.literal(1) != v.literal(Int64(1))
    assert hash(v.array(v.number())) == hash(v.array(v.float64()))
    assert v.id("users").to_json() == {"type": "id", "tableName": "users"}


def test_bad_validator_construction() -> None:
    with pytest.raises(TypeError):
        v.object([v.string()])  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        v.array("string")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        v.id("")


# -- tables and schemas ---------------------------------------------------------------


def test_table_document_validation() -> None:
    table = define_table({"text": v.string(), "author": v.id("users")})
    doc = {"_id": MESSAGE_ID, "_creationTime": 1.5, "text": "hi", "author": USER_ID}
    assert table.validate_document(doc, table="messages", tables=resolver) == doc
    bad_doc = {**doc, "author": MESSAGE_ID}
    with pytest.raises(ValidationError) as info:
        table.validate_document(bad_doc, table="messages", tables=resolver)
    err = info.value
    assert err.code == "SchemaValidationError"
    assert "table 'messages'" in str(err)
    assert "at author" in str(err)
    assert err.path == "author"
    with pytest.raises(ValidationError, match="missing the required field 'text'"):
        table.validate_document(
            {"_id": MESSAGE_ID, "_creationTime": 1.5, "author": USER_ID},
            table="messages",
            tables=resolver,
        )


def test_table_with_union_document_type() -> None:
    table = define_table(
        v.union(
            v.object({"kind": v.literal("a"), "n": v.int64()}), v.object({"kind": v.literal("b")})
        )
    )
    doc = {"_id": MESSAGE_ID, "_creationTime": 1.5, "kind": "a", "n": 1}
    checked = table.validate_document(doc, table="t", tables=resolver)
    assert checked["_id"] == MESSAGE_ID and type(checked["n"]) is Int64
    with pytest.raises(ValidationError, match="table 't'"):
        table.validate_document(
            {"_id": MESSAGE_ID, "_creationTime": 1.5, "kind": "c"}, table="t", tables=resolver
        )


def test_table_without_validator_accepts_anything() -> None:
    table = define_table()
    doc = {"_id": MESSAGE_ID, "_creationTime": 1.5, "x": [1, {"y": b""}]}
    assert table.validate_document(doc, table="t", tables=resolver) == doc


def test_index_definitions() -> None:
    table = (
        define_table({"a": v.string(), "b": v.number()})
        .index("by_a", ["a"])
        .index("by_a_b", ["a", "b"])
    )
    assert [(ix.name, ix.fields) for ix in table.indexes] == [
        ("by_a", ["a"]),
        ("by_a_b", ["a", "b"]),
    ]
    nested = define_table().index("by_nested", ["a.b.c"])
    assert nested.indexes[0].fields == ["a.b.c"]
    assert define_table().index("by_t", ("a", "b")).indexes[0].fields == ["a", "b"]


@pytest.mark.parametrize(
    ("name", "fields", "message"),
    [
        ("by_id", ["a"], "reserved"),
        ("by_creation_time", ["a"], "reserved"),
        ("_private", ["a"], "reserved"),
        ("bad-name", ["a"], "invalid index name"),
        ("", ["a"], "invalid index name"),
        ("x" * 65, ["a"], "invalid index name"),
        ("by_a", [], "non-empty list"),
        ("by_a", "a", "non-empty list"),
        ("by_a", ["a", "a"], "twice"),
        ("by_a", ["_creationTime"], "added to every index automatically"),
        ("by_a", ["a", "_id"], "added to every index automatically"),
        ("by_a", [""], "invalid field path"),
        ("by_a", ["a..b"], "invalid field path"),
        ("by_a", [f"f{i}" for i in range(17)], "more than 16 fields"),
    ],
)
def test_bad_index_definitions(name: str, fields: Any, message: str) -> None:
    with pytest.raises(SchemaError, match=message):
        define_table().index(name, fields)


def test_index_names_must_be_unique_and_limited() -> None:
    table = define_table().index("by_a", ["a"])
    with pytest.raises(SchemaError, match="declared twice"):
        table.index("by_a", ["b"])
    table = define_table()
    for i in range(32):
        table.index(f"ix{i}", ["a"])
    with pytest.raises(SchemaError, match="at most 32 indexes"):
        table.index("ix32", ["a"])
    assert define_table().index("x" * 64, [f"f{i}" for i in range(16)]).indexes[0].name == "x" * 64


def test_define_schema() -> None:
    schema = define_schema({"users": define_table({"name": v.string()}).index("by_name", ["name"])})
    assert schema.schema_validation is True
    as_json = schema.to_json()
    assert as_json["tables"]["users"]["indexes"] == [
        {"indexDescriptor": "by_name", "fields": ["name"]}
    ]
    assert define_schema({}, schema_validation=False).schema_validation is False


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("_users", "reserved for system tables"),
        ("my-table", "invalid table name"),
        ("", "invalid table name"),
        ("t" * 65, "invalid table name"),
        ("tablé", "invalid table name"),
    ],
)
def test_bad_table_names(name: str, message: str) -> None:
    with pytest.raises(SchemaError, match=message):
        define_schema({name: define_table()})


def test_tables_must_use_define_table() -> None:
    with pytest.raises(SchemaError, match="define_table"):
        define_schema({"users": {"name": v.string()}})  # type: ignore[dict-item]
    with pytest.raises(SchemaError, match="dict"):
        define_schema([define_table()])  # type: ignore[arg-type]
