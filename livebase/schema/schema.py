"""``define_schema`` and ``define_table``: tables, their document validators
and their indexes, as declared in ``functions/schema.py``."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from livebase.schema.validators import (
    ObjectValidator,
    TableResolver,
    ValidationError,
    Validator,
    _Mismatch,
    as_validator,
)

NAME_RE = re.compile(r"^[A-Za-z0-9_]+$")
MAX_INDEXES_PER_TABLE = 32
MAX_FIELDS_PER_INDEX = 16
RESERVED_INDEXES = ("by_id", "by_creation_time")


class SchemaError(ValueError):
    """The schema itself is not valid (bad names, bad indexes)."""


def check_table_name(name: Any) -> str:
    if not isinstance(name, str) or not NAME_RE.match(name) or len(name) > 64:
        raise SchemaError(
            f"invalid table name {name!r}: use letters, digits and underscores, at most 64 characters"
        )
    if name.startswith("_"):
        raise SchemaError(f"invalid table name {name!r}: names starting with '_' are reserved for system tables")
    return name


@dataclass
class IndexDefinition:
    name: str
    fields: list[str]


@dataclass
class TableDefinition:
    validator: Validator | None
    indexes: list[IndexDefinition] = field(default_factory=list)

    def index(self, name: str, fields: list[str]) -> TableDefinition:
        """Declare an index over ``fields`` (``_creationTime`` and ``_id`` are appended)."""
        if not isinstance(name, str) or not NAME_RE.match(name) or len(name) > 64:
            raise SchemaError(f"invalid index name {name!r}: use letters, digits and underscores, at most 64 characters")
        if name.startswith("_"):
            raise SchemaError(f"invalid index name {name!r}: names starting with '_' are reserved")
        if name in RESERVED_INDEXES:
            raise SchemaError(f"index name {name!r} is reserved")
        if any(ix.name == name for ix in self.indexes):
            raise SchemaError(f"index {name!r} is declared twice")
        if isinstance(fields, str) or not isinstance(fields, list | tuple) or not fields:
            raise SchemaError(f"index {name!r} needs a non-empty list of field names")
        fields = list(fields)
        if len(fields) > MAX_FIELDS_PER_INDEX:
            raise SchemaError(f"index {name!r} has more than {MAX_FIELDS_PER_INDEX} fields")
        if len(set(fields)) != len(fields):
            raise SchemaError(f"index {name!r} lists a field twice")
        for f in fields:
            if not isinstance(f, str) or not f or any(not part for part in f.split(".")):
                raise SchemaError(f"index {name!r}: invalid field path {f!r}")
            if f in ("_id", "_creationTime"):
                raise SchemaError(
                    f"index {name!r}: {f} is added to every index automatically; don't list it"
                )
        if len(self.indexes) >= MAX_INDEXES_PER_TABLE:
            raise SchemaError(f"a table can have at most {MAX_INDEXES_PER_TABLE} indexes")
        self.indexes.append(IndexDefinition(name, fields))
        return self

    def validate_document(self, doc: dict[str, Any], *, table: str, tables: TableResolver) -> dict[str, Any]:
        """Check a document (system fields allowed) against the table's validator."""
        validator = self.validator
        if validator is None:
            return doc
        try:
            if isinstance(validator, ObjectValidator):
                return validator.check(doc, tables, allow_system=True)
            system: dict[str, Any] = {k: doc[k] for k in ("_id", "_creationTime") if k in doc}
            body = {k: x for k, x in doc.items() if k not in system}
            checked = validator.check(body, tables)
            return {**system, **checked} if isinstance(checked, dict) else checked
        except _Mismatch as e:
            path = "".join(reversed(e.path))
            raise ValidationError(
                f"Document does not match the schema of table {table!r}"
                + (f" at {path.lstrip('.')}" if path else "")
                + f": {e.message}",
                code="SchemaValidationError",
                path=path.lstrip("."),
                detail=e.message,
            ) from None

    def to_json(self) -> dict[str, Any]:
        return {
            "documentType": self.validator.to_json() if self.validator else None,
            "indexes": [{"indexDescriptor": ix.name, "fields": ix.fields} for ix in self.indexes],
        }


def define_table(document: Validator | dict[str, Validator] | None = None) -> TableDefinition:
    """A table whose documents match ``document`` (a dict of fields or a validator)."""
    return TableDefinition(None if document is None else as_validator(document))


@dataclass
class SchemaDefinition:
    tables: dict[str, TableDefinition]
    schema_validation: bool = True
    strict_table_name_types: bool = True

    def to_json(self) -> dict[str, Any]:
        return {
            "tables": {name: t.to_json() for name, t in sorted(self.tables.items())},
            "schemaValidation": self.schema_validation,
        }


def define_schema(
    tables: dict[str, TableDefinition],
    *,
    schema_validation: bool = True,
    strict_table_name_types: bool = True,
) -> SchemaDefinition:
    """The deployment's schema: ``{"table": define_table({...}), ...}``.

    With ``schema_validation`` (the default) every write and, on deploy,
    every existing document is checked against its table's validator.
    """
    if not isinstance(tables, dict):
        raise SchemaError("define_schema() takes a dict of table names to define_table(...)")
    for name, table in tables.items():
        check_table_name(name)
        if not isinstance(table, TableDefinition):
            raise SchemaError(f"table {name!r} must be defined with define_table(...)")
    return SchemaDefinition(dict(tables), schema_validation, strict_table_name_types)
