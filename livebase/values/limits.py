"""Size, depth and naming limits of values and documents (SEMANTICS.md §1, §10)."""

MAX_DOCUMENT_SIZE = 1 << 20  # bytes, system fields included
MAX_VALUE_DEPTH = 16
MAX_OBJECT_FIELDS = 1024
MAX_ARRAY_LENGTH = 8192
MAX_TOP_LEVEL_FIELD_NAME = 64
MAX_FIELD_NAME = 1024
MAX_FUNCTION_ARGS_SIZE = 16 << 20
MAX_FUNCTION_RESULT_SIZE = 16 << 20

# Plain Python ints are float64 numbers; beyond this they lose precision.
MAX_SAFE_INTEGER = 2**53
