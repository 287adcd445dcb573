"""Who is calling a function: nobody, an admin, or a signed-in user."""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from typing import Any, NoReturn

# Standard OIDC claims: Python attribute name -> Convex field name.
STANDARD_CLAIMS = {
    "name": "name",
    "given_name": "givenName",
    "family_name": "familyName",
    "nickname": "nickname",
    "preferred_username": "preferredUsername",
    "profile_url": "profileUrl",
    "picture_url": "pictureUrl",
    "email": "email",
    "email_verified": "emailVerified",
    "gender": "gender",
    "birthday": "birthday",
    "timezone": "timezone",
    "language": "language",
    "phone_number": "phoneNumber",
    "phone_number_verified": "phoneNumberVerified",
    "address": "address",
    "updated_at": "updatedAt",
}

# Standard OIDC claims: claim name in the JWT -> Convex field name.
OIDC_CLAIMS = {
    "name": "name",
    "given_name": "givenName",
    "family_name": "familyName",
    "nickname": "nickname",
    "preferred_username": "preferredUsername",
    "profile": "profileUrl",
    "picture": "pictureUrl",
    "email": "email",
    "email_verified": "emailVerified",
    "gender": "gender",
    "birthdate": "birthday",
    "zoneinfo": "timezone",
    "locale": "language",
    "phone_number": "phoneNumber",
    "phone_number_verified": "phoneNumberVerified",
    "address": "address",
    "updated_at": "updatedAt",
}

# Registered JWT claims: they describe the token, not the user, so they are
# not copied into the identity (``iss``/``sub`` become issuer/subject).
REGISTERED_CLAIMS = frozenset({"iss", "sub", "aud", "exp", "nbf", "iat", "jti"})

_CORE_FIELDS = ("tokenIdentifier", "subject", "issuer")
_MAX_SAFE_INTEGER = 2**53 - 1


def _read_only(*_args: Any, **_kwargs: Any) -> NoReturn:
    raise TypeError("UserIdentity is read-only")


class UserIdentity(dict[str, Any]):
    """A signed-in user, as ``ctx.auth.get_user_identity()`` returns it.

    It *is* the Convex-shaped object (``tokenIdentifier``, ``subject``,
    ``issuer``, ``email``, ``"custom.claim"``...), so returning it from a
    query sends exactly what ``ctx.auth.getUserIdentity()`` gives in Convex.
    Python code may also use attribute names: ``identity.token_identifier``,
    ``identity.email``, ``identity.given_name`` (None when the token has no
    such claim), and ``identity["custom.claim"]``. It is shared by every
    function a session runs, hence read-only.
    """

    __slots__ = ()

    def __init__(
        self, token_identifier: str, subject: str, issuer: str, claims: dict[str, Any] | None = None
    ) -> None:
        fields = {k: v for k, v in (claims or {}).items() if k not in _CORE_FIELDS}
        super().__init__(tokenIdentifier=token_identifier, subject=subject, issuer=issuer, **fields)

    @property
    def token_identifier(self) -> str:
        return dict.__getitem__(self, "tokenIdentifier")

    @property
    def subject(self) -> str:
        return dict.__getitem__(self, "subject")

    @property
    def issuer(self) -> str:
        return dict.__getitem__(self, "issuer")

    @property
    def claims(self) -> dict[str, Any]:
        """Every field but tokenIdentifier, subject and issuer."""
        return {k: v for k, v in self.items() if k not in _CORE_FIELDS}

    def __getattr__(self, name: str) -> Any:
        if name in STANDARD_CLAIMS:
            return self.get(STANDARD_CLAIMS[name])
        raise AttributeError(
            f"UserIdentity has no attribute {name!r}; read custom claims with identity[{name!r}] "
            "or identity.get(...)"
        )

    def to_dict(self) -> dict[str, Any]:
        """A plain dict copy, in Convex's shape."""
        return dict(self)

    def __repr__(self) -> str:
        return f"UserIdentity({dict.__repr__(self)})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (dict(self),))

    __setitem__ = __delitem__ = _read_only
    clear = pop = popitem = setdefault = update = _read_only
    __ior__ = _read_only


def _rebuild(fields: dict[str, Any]) -> UserIdentity:
    return UserIdentity(fields["tokenIdentifier"], fields["subject"], fields["issuer"], fields)


@dataclass(frozen=True)
class Identity:
    """The caller of one request.

    ``expires_at`` is the user token's ``exp`` (seconds since the epoch), so
    a long-lived socket can be dropped once its token is no longer valid.
    """

    kind: str  # "user" | "admin"
    user: UserIdentity | None = None
    expires_at: float | None = None
    # An admin acting as a user keeps the admin's access to internal functions.
    acting_admin: bool = False

    @staticmethod
    def impersonating(attrs: dict[str, Any]) -> Identity:
        """An admin acting as a user (``UserIdentityAttributes`` in Convex's shape)."""
        subject = str(attrs.get("subject", ""))
        issuer = str(attrs.get("issuer", ""))
        token_identifier = str(attrs.get("tokenIdentifier") or f"{issuer}|{subject}")
        return Identity("user", UserIdentity(token_identifier, subject, issuer, attrs), acting_admin=True)

    @property
    def is_admin(self) -> bool:
        return self.kind == "admin"

    @property
    def may_call_internal(self) -> bool:
        """Admins (also when acting as a user) may call internal functions."""
        return self.kind == "admin" or self.acting_admin

    @cached_property
    def cache_key(self) -> str:
        """Equal for callers whose functions must see the same identity.

        A query may return any claim, so two tokens of one user with
        different claims (a changed email, a new role) get different keys;
        refreshed tokens with the same claims share cached results.
        """
        if self.user is not None:
            claims = json.dumps(self.user, sort_keys=True, separators=(",", ":"), default=repr)
            digest = hashlib.sha256(claims.encode()).hexdigest()[:20]
            return f"user:{self.user.token_identifier}#{digest}"
        return self.kind


ADMIN = Identity("admin")


# -- from verified JWT claims -------------------------------------------------------


def user_identity_from_claims(claims: dict[str, Any]) -> UserIdentity:
    """The identity a verified token's claims describe.

    Standard OIDC claims get their Convex names (``given_name`` ->
    ``givenName``, ``picture`` -> ``pictureUrl``...); other claims are custom
    claims, nested objects flattened to ``"a.b"`` keys. Registered claims
    (``aud``, ``exp``...) are left out.
    """
    issuer = str(claims["iss"])
    subject = str(claims["sub"])
    fields: dict[str, Any] = {}
    for key, value in claims.items():
        if key in REGISTERED_CLAIMS or value is None:
            continue
        if key in OIDC_CLAIMS:
            fields[OIDC_CLAIMS[key]] = _standard_value(key, value)
        else:
            _flatten(key, value, fields)
    return UserIdentity(f"{issuer}|{subject}", subject, issuer, fields)


def _standard_value(key: str, value: Any) -> Any:
    if key in ("email_verified", "phone_number_verified") and isinstance(value, str):
        # Some providers (AWS Cognito) send "true"/"false" strings.
        return value.lower() == "true"
    if key == "updated_at" and isinstance(value, int | float) and not isinstance(value, bool):
        # OIDC says seconds since the epoch; Convex's updatedAt is a string.
        return datetime.fromtimestamp(value, UTC).isoformat().replace("+00:00", "Z")
    if key == "address" and isinstance(value, dict):
        formatted = value.get("formatted")
        return formatted if isinstance(formatted, str) else json.dumps(value, separators=(",", ":"))
    return _json_value(value)


def _flatten(key: str, value: Any, out: dict[str, Any]) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _flatten(f"{key}.{k}", v, out)
    elif _valid_field_name(key):
        out[key] = _json_value(value)


def _valid_field_name(key: str) -> bool:
    # Claims the Convex value model can't carry as a field name are dropped
    # rather than making every function that returns the identity fail.
    return bool(key) and key.isascii() and key.isprintable() and not key.startswith("$")


def _json_value(value: Any) -> Any:
    """A JSON claim value as a Convex value: integers beyond ±2^53 become floats."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return value if abs(value) <= _MAX_SAFE_INTEGER else float(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, list):
        return [_json_value(v) for v in value]
    if isinstance(value, dict):
        return {k: _json_value(v) for k, v in value.items()}
    return value
