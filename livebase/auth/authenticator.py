"""Verifying user tokens (JWTs) against the providers of ``functions/auth_config.py``.

The order of checks, each refusal naming the check that failed:

1. the token parses as a JWT (three base64url parts, JSON header and payload);
2. ``alg`` is an asymmetric algorithm the provider allows (never ``none``,
   never HS*: those would be "verified" with the issuer's public key);
3. a provider's issuer equals ``iss`` (ignoring a trailing ``/``); among
   those, the first whose ``application_id`` is in ``aud`` wins;
4. the signature verifies with the issuer's key named by ``kid``;
5. ``aud``, ``exp``, ``nbf``, ``iat`` (with ``LEEWAY_S`` of clock skew) and ``sub``.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import jwt
from jwt.exceptions import InvalidTokenError

from livebase.auth.config import AuthConfigError, Provider, normalize_issuer, parse_providers
from livebase.auth.identity import Identity, user_identity_from_claims
from livebase.auth.keys import KeyFetchError, KeySet, KeyStore
from livebase.errors import LivebaseError

log = logging.getLogger("livebase.auth")

LEEWAY_S = 10.0
MAX_TOKEN_CHARS = 16 * 1024

# Error codes (the ``code`` of the HTTP 401 body).
MALFORMED = "InvalidAuthHeader"
NO_PROVIDER = "NoAuthProvider"
REFUSED = "Unauthenticated"
FETCH_FAILED = "AuthProviderDiscoveryFailed"
BAD_CONFIG = "InvalidAuthConfig"


class AuthenticationError(LivebaseError):
    """A token was refused; ``message`` says why."""

    code = REFUSED


def _env_float(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name, default))
    except ValueError:
        return default


class Authenticator:
    """Turns a user's JWT into an ``Identity``; one per server.

    ``providers`` returns the current raw ``providers`` list (it changes when
    the functions are reloaded); it is parsed again only when it changes.
    """

    def __init__(self, providers: Callable[[], list[dict[str, Any]] | None]) -> None:
        self._providers = providers
        self._parsed_from: object = None
        self._parsed: list[Provider] = []
        self.keys = KeyStore(
            # How long fetched keys are trusted, and the least time between two
            # refetches caused by unknown kids (tests shorten it).
            ttl_s=_env_float("LIVEBASE_AUTH_JWKS_TTL_S", 3600.0),
            cooldown_s=_env_float("LIVEBASE_AUTH_JWKS_COOLDOWN_S", 10.0),
        )

    def providers(self) -> list[Provider]:
        raw = self._providers()
        if raw is not self._parsed_from:
            try:
                parsed = parse_providers(raw)
            except AuthConfigError as e:
                raise AuthenticationError(str(e), code=BAD_CONFIG) from None
            self._parsed_from, self._parsed = raw, parsed
        return self._parsed

    async def authenticate(self, token: str) -> Identity:
        """The identity a JWT proves, or ``AuthenticationError``."""
        providers = self.providers()
        if not providers:
            raise AuthenticationError(
                "This deployment has no auth providers; add functions/auth_config.py to accept user tokens",
                code=NO_PROVIDER,
            )
        header, claims = _parse(token)
        alg = header.get("alg")
        if not isinstance(alg, str) or not alg:
            raise AuthenticationError(
                "Could not parse JWT: the header has no `alg`", code=MALFORMED
            )
        if alg.lower() == "none":
            raise AuthenticationError(
                "Token is unsigned (alg: none); unsigned tokens are never accepted", code=REFUSED
            )
        provider, audience_ok = _choose_provider(providers, claims)
        if alg not in provider.algorithms:
            raise AuthenticationError(
                f"Token algorithm {alg!r} is not allowed for issuer {provider.issuer!r}; expected "
                f"{'one of ' if len(provider.algorithms) > 1 else ''}{', '.join(provider.algorithms)}",
                code=REFUSED,
            )
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise AuthenticationError("Token header `kid` must be a string", code=MALFORMED)
        if provider.kind == "custom_jwt":
            _check_custom_header(header, kid)
        await self._verify_signature(token, provider, alg, kid)
        if not audience_ok:
            raise AuthenticationError(_audience_message(providers, claims), code=REFUSED)
        expires_at = _check_claims(claims)
        return Identity("user", user_identity_from_claims(claims), expires_at)

    async def _verify_signature(
        self, token: str, provider: Provider, alg: str, kid: str | None
    ) -> None:
        try:
            candidates, keyset = await self.keys.keys_for(provider, kid)
        except KeyFetchError as e:
            raise AuthenticationError(str(e), code=FETCH_FAILED) from None
        if not candidates:
            raise AuthenticationError(
                _unknown_key_message(provider, kid, keyset, self.keys.cooldown_s), code=REFUSED
            )
        problems = []
        for jwk in candidates:
            try:
                key = jwt.PyJWK(jwk, algorithm=alg)
            except Exception as e:  # noqa: BLE001 - a malformed or mismatched JWK, whatever PyJWT raises
                problems.append(
                    f"key {jwk.get('kid', '?')!r} ({jwk.get('kty', '?')}) cannot verify {alg}: {e}"
                )
                continue
            if isinstance(jwk.get("alg"), str) and jwk["alg"] != alg:
                problems.append(f"key {jwk.get('kid', '?')!r} is for {jwk['alg']}, not {alg}")
                continue
            try:
                jwt.api_jws.PyJWS().decode_complete(token, key, algorithms=[alg])
                return
            except jwt.InvalidSignatureError:
                problems.append("signature does not match")
            except InvalidTokenError as e:
                problems.append(str(e))
        if problems == ["signature does not match"] * len(problems):
            raise AuthenticationError(
                f"Token signature is invalid: it was not signed by "
                f"{'key ' + repr(kid) if kid else 'any key'} of issuer {provider.issuer!r}",
                code=REFUSED,
            )
        raise AuthenticationError(
            f"Token signature could not be verified: {'; '.join(problems)}", code=REFUSED
        )


def _parse(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    if not isinstance(token, str) or not token.strip():
        raise AuthenticationError("Could not parse JWT: the token is empty", code=MALFORMED)
    if len(token) > MAX_TOKEN_CHARS:
        raise AuthenticationError(
            f"Could not parse JWT: the token is {len(token)} characters long, more than {MAX_TOKEN_CHARS}",
            code=MALFORMED,
        )
    if token.count(".") != 2:
        raise AuthenticationError(
            "Could not parse JWT: a JWT has three base64url parts separated by '.'", code=MALFORMED
        )
    try:
        header = jwt.get_unverified_header(token)
        claims = jwt.decode(token, options={"verify_signature": False})
    except InvalidTokenError as e:
        raise AuthenticationError(f"Could not parse JWT: {e}", code=MALFORMED) from None
    if not isinstance(claims, dict):
        raise AuthenticationError(
            "Could not parse JWT: the payload is not a JSON object", code=MALFORMED
        )
    return header, claims


def _choose_provider(providers: list[Provider], claims: dict[str, Any]) -> tuple[Provider, bool]:
    """The provider for this token's issuer, and whether its audience matches.

    When no provider of the issuer accepts the audience, the first one is
    still returned so that the signature is checked before the audience is
    reported (a forged token is called forged, not mis-addressed).
    """
    iss = claims.get("iss")
    if not isinstance(iss, str) or not iss:
        raise AuthenticationError("Token has no `iss` (issuer) claim", code=REFUSED)
    same_issuer = [p for p in providers if p.normalized_issuer == normalize_issuer(iss)]
    if not same_issuer:
        known = ", ".join(dict.fromkeys(repr(p.issuer) for p in providers))
        raise AuthenticationError(
            f"No auth provider matches the token's issuer {iss!r}; configured issuers: {known}",
            code=NO_PROVIDER,
        )
    audiences = _audiences(claims)
    for p in same_issuer:
        if p.application_id is None or p.application_id in audiences:
            return p, True
    return same_issuer[0], False


def _audiences(claims: dict[str, Any]) -> list[str]:
    aud = claims.get("aud")
    if isinstance(aud, str):
        return [aud]
    if isinstance(aud, list):
        return [a for a in aud if isinstance(a, str)]
    return []


def _audience_message(providers: list[Provider], claims: dict[str, Any]) -> str:
    iss = normalize_issuer(str(claims.get("iss")))
    expected = [
        repr(p.application_id) for p in providers if p.normalized_issuer == iss and p.application_id
    ]
    got = claims.get("aud")
    return (
        f"Token audience mismatch: expected {' or '.join(expected)}, "
        f"got {'no `aud` claim' if got is None else repr(got)}"
    )


def _check_custom_header(header: dict[str, Any], kid: str | None) -> None:
    if kid is None:
        raise AuthenticationError(
            "Token header has no `kid`; custom_jwt providers require one to pick the key",
            code=REFUSED,
        )
    typ = header.get("typ")
    # `typ` may be absent; when present it must say this is a JWT ("JWT", or
    # an explicit type such as "at+jwt", RFC 8725 §3.11).
    if typ is not None and not (
        isinstance(typ, str) and (typ.upper() == "JWT" or typ.lower().endswith("+jwt"))
    ):
        raise AuthenticationError(f"Token header `typ` is {typ!r}, not 'JWT'", code=REFUSED)


def _unknown_key_message(
    provider: Provider, kid: str | None, keyset: KeySet, cooldown_s: float
) -> str:
    if kid is None:
        return f"No signing key in {keyset.source} of issuer {provider.issuer!r} (it has none with use 'sig')"
    known = ", ".join(repr(k) for k in keyset.kids()) or "none"
    message = f"Token key id {kid!r} is not among the keys of issuer {provider.issuer!r} ({keyset.source}: {known})"
    if provider.jwks_inline is None:
        age = time.monotonic() - keyset.fetched_at
        message += (
            f"; the keys were fetched {age:.1f} s ago (an unknown key id makes Livebase refetch "
            f"them, at most every {cooldown_s:g} s)"
        )
    return message


def _when(ts: float) -> str:
    try:
        return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, OSError, ValueError):
        return str(ts)


def _numeric(claims: dict[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise AuthenticationError(
            f"Token claim `{name}` must be a number of seconds, not {value!r}", code=REFUSED
        )
    return float(value)


def _check_claims(claims: dict[str, Any]) -> float:
    """Checks the time claims and ``sub``; returns ``exp``."""
    now = time.time()
    exp = _numeric(claims, "exp")
    if exp is None:
        raise AuthenticationError(
            "Token has no `exp` (expiry) claim; tokens must expire", code=REFUSED
        )
    if now > exp + LEEWAY_S:
        raise AuthenticationError(
            f"Token expired at {_when(exp)} ({now - exp:.0f} s ago)", code=REFUSED
        )
    nbf = _numeric(claims, "nbf")
    if nbf is not None and now + LEEWAY_S < nbf:
        raise AuthenticationError(
            f"Token not valid yet: its `nbf` is {_when(nbf)} ({nbf - now:.0f} s from now)",
            code=REFUSED,
        )
    iat = _numeric(claims, "iat")
    if iat is not None and now + LEEWAY_S < iat:
        raise AuthenticationError(
            f"Token issued in the future: its `iat` is {_when(iat)} ({iat - now:.0f} s from now); "
            "check the issuer's clock",
            code=REFUSED,
        )
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub:
        raise AuthenticationError("Token has no `sub` (subject) claim", code=REFUSED)
    return exp
