"""Validators and schemas."""

from livebase.schema.schema import (
    IndexDefinition,
    SchemaDefinition,
    SchemaError,
    TableDefinition,
    check_table_name,
    define_schema,
    define_table,
)
from livebase.schema.validators import (
    ValidationError,
    Validator,
    as_validator,
    pagination_opts_validator,
    v,
)

__all__ = [
    "IndexDefinition",
    "SchemaDefinition",
    "SchemaError",
    "TableDefinition",
    "ValidationError",
    "Validator",
    "as_validator",
    "check_table_name",
    "define_schema",
    "define_table",
    "pagination_opts_validator",
    "v",
]
