"""Verifying user tokens against the providers of ``functions/auth_config.py``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from livebase.auth.identity import Identity
from livebase.errors import LivebaseError


class AuthenticationError(LivebaseError):
    """A token was refused; ``message`` says why."""

    code = "Unauthenticated"


class Authenticator:
    def __init__(self, providers: Callable[[], list[dict[str, Any]] | None]) -> None:
        self._providers = providers

    async def authenticate(self, token: str) -> Identity:
        """The identity a JWT proves, or ``AuthenticationError``."""
        if not self._providers():
            raise AuthenticationError(
                "This deployment has no auth providers; add functions/auth_config.py to accept user tokens",
                code="NoAuthProvider",
            )
        raise AuthenticationError("Token verification is not available", code="InvalidAuthHeader")
