"""Authentication: identities, admin keys, JWT/OIDC verification."""

from livebase.auth.identity import Identity, UserIdentity

__all__ = ["Identity", "UserIdentity"]
