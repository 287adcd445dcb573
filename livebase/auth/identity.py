"""Who is calling a function: nobody, an admin, or a signed-in user."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Standard OIDC claims, as Python attribute names -> Convex field names.
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


@dataclass(frozen=True)
class UserIdentity:
    """A signed-in user, as ``ctx.auth.get_user_identity()`` returns it.

    Attributes use Python names (``token_identifier``, ``email``...);
    ``identity["custom.claim"]`` reads any claim, and ``to_dict()`` gives the
    Convex-shaped object (``tokenIdentifier``, ``subject``, ``issuer``, ...).
    """

    token_identifier: str
    subject: str
    issuer: str
    claims: dict[str, Any] = field(default_factory=dict)

    def __getattr__(self, name: str) -> Any:
        if name in STANDARD_CLAIMS:
            return self.claims.get(STANDARD_CLAIMS[name])
        raise AttributeError(name)

    def __getitem__(self, key: str) -> Any:
        return self.to_dict()[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.to_dict().get(key, default)

    def to_dict(self) -> dict[str, Any]:
        return {
            "tokenIdentifier": self.token_identifier,
            "subject": self.subject,
            "issuer": self.issuer,
            **self.claims,
        }


@dataclass(frozen=True)
class Identity:
    """The caller of one request."""

    kind: str  # "user" | "admin"
    user: UserIdentity | None = None

    @staticmethod
    def impersonating(attrs: dict[str, Any]) -> Identity:
        """An admin acting as a user (``UserIdentityAttributes`` in Convex's shape)."""
        subject = str(attrs.get("subject", ""))
        issuer = str(attrs.get("issuer", ""))
        token_identifier = str(attrs.get("tokenIdentifier") or f"{issuer}|{subject}")
        claims = {k: v for k, v in attrs.items() if k not in ("subject", "issuer", "tokenIdentifier")}
        return Identity("user", UserIdentity(token_identifier, subject, issuer, claims))

    @property
    def is_admin(self) -> bool:
        return self.kind == "admin"

    @property
    def cache_key(self) -> str:
        if self.user is not None:
            return f"user:{self.user.token_identifier}"
        return self.kind


ADMIN = Identity("admin")
