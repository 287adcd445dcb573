"""Signed upload tokens: ``<expiry ms>.<nonce>.<signature>``.

The signature is an HMAC-SHA256 over the purpose, expiry and nonce with the
instance secret, so a token can't be forged, altered or moved to another
deployment, and the server keeps no state per token. A token may be used
more than once until it expires (each upload makes a new file).
"""

from __future__ import annotations

import base64
import hmac
import secrets
import time
from hashlib import sha256

from livebase.errors import LivebaseError

UPLOAD_TOKEN_TTL_S = 3600
_PURPOSE = b"livebase-upload-v1"


class InvalidUploadToken(LivebaseError):
    code = "InvalidUploadToken"


def _signature(secret: bytes, expires: int, nonce: str) -> str:
    mac = hmac.new(secret, _PURPOSE + b"|" + str(expires).encode() + b"|" + nonce.encode(), sha256)
    return base64.urlsafe_b64encode(mac.digest()).rstrip(b"=").decode()


def make_upload_token(
    secret: bytes, *, ttl_s: float = UPLOAD_TOKEN_TTL_S, now: float | None = None
) -> str:
    if not secret:
        raise RuntimeError("the instance secret is not loaded yet")
    expires = int(((now if now is not None else time.time()) + ttl_s) * 1000)
    nonce = secrets.token_urlsafe(9)
    return f"{expires}.{nonce}.{_signature(secret, expires, nonce)}"


def check_upload_token(secret: bytes, token: str, *, now: float | None = None) -> None:
    """Raise ``InvalidUploadToken`` unless ``token`` was made here and is unexpired."""
    parts = token.split(".")
    if len(parts) != 3 or not parts[0].isdigit() or not secret:
        raise InvalidUploadToken(
            "The upload token is malformed; get a new upload URL from generate_upload_url()"
        )
    expires, nonce, signature = int(parts[0]), parts[1], parts[2]
    if not hmac.compare_digest(signature, _signature(secret, expires, nonce)):
        raise InvalidUploadToken(
            "The upload token's signature is invalid (altered, or made by another deployment); "
            "get a new upload URL from generate_upload_url()"
        )
    if (now if now is not None else time.time()) * 1000 > expires:
        raise InvalidUploadToken(
            "The upload URL has expired (upload URLs are valid for 1 hour); get a new one from generate_upload_url()",
            code="UploadUrlExpired",
        )
