"""File storage: blob stores and ``ctx.storage``."""
