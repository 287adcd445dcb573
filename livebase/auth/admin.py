"""Admin keys: the deployment's master credential (``Authorization: Convex <key>``)."""

from __future__ import annotations

import hmac
import secrets


def generate_admin_key(instance_name: str) -> str:
    return f"{instance_name}|{secrets.token_hex(32)}"


def admin_key_matches(expected: str, given: str) -> bool:
    return hmac.compare_digest(expected.encode(), given.encode())
