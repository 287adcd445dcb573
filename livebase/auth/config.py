"""The ``providers`` list of ``functions/auth_config.py``, checked and parsed.

Two kinds of provider, as in Convex's ``auth.config.ts``::

    providers = [
        # An OpenID Connect issuer: keys come from its discovery document.
        {"domain": "https://issuer.example.com", "application_id": "my-app"},
        # Any JWT issuer with a JWKS (URL or data: URI) and a fixed algorithm.
        {"type": "custom_jwt", "issuer": "https://auth.example.com",
         "jwks": "https://auth.example.com/.well-known/jwks.json",
         "algorithm": "RS256", "application_id": "my-app"},
    ]

Convex's camelCase spellings (``applicationID``, ``"customJwt"``) are
accepted too, so a config can be ported as is.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_to_bytes, urlsplit

# Asymmetric algorithms only: an HS* token would be "verified" with the
# issuer's *public* key, which anyone can read (RFC 8725 §2.1).
OIDC_ALGORITHMS = (
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "ES256",
    "ES384",
    "ES512",
    "EdDSA",
)
CUSTOM_JWT_ALGORITHMS = ("RS256", "ES256")

_ALIASES = {"applicationID": "application_id", "applicationId": "application_id"}
_OIDC_KEYS = {"domain", "application_id", "type"}
_CUSTOM_KEYS = {"type", "issuer", "jwks", "algorithm", "application_id"}


class AuthConfigError(ValueError):
    """``functions/auth_config.py`` is not a valid provider list."""


@dataclass(frozen=True)
class Provider:
    """One accepted token issuer.

    ``jwks_url`` is None for OIDC providers (found through discovery) and
    for custom providers whose JWKS is inline (``jwks_inline``).
    """

    kind: str  # "oidc" | "custom_jwt"
    issuer: str
    application_id: str | None
    algorithms: tuple[str, ...]
    jwks_url: str | None = None
    jwks_inline: dict[str, Any] | None = None

    @property
    def normalized_issuer(self) -> str:
        return normalize_issuer(self.issuer)

    @property
    def discovery_url(self) -> str:
        return self.issuer.rstrip("/") + "/.well-known/openid-configuration"

    def describe(self) -> str:
        aud = f", application_id {self.application_id!r}" if self.application_id else ""
        return f"{self.issuer!r}{aud}"


def normalize_issuer(issuer: str) -> str:
    """Issuers compare equal with or without a trailing slash."""
    return issuer.rstrip("/")


def parse_providers(raw: Any) -> list[Provider]:
    """Check a ``providers`` value and parse it; raises ``AuthConfigError``."""
    if raw is None:
        return []
    if not isinstance(raw, list | tuple):
        raise AuthConfigError(
            f"functions/auth_config.py: `providers` must be a list of dicts, not {type(raw).__name__}"
        )
    return [_parse_provider(i, p) for i, p in enumerate(raw)]


def _parse_provider(index: int, raw: Any) -> Provider:
    where = f"functions/auth_config.py: providers[{index}]"
    if not isinstance(raw, dict):
        raise AuthConfigError(f"{where} must be a dict, not {type(raw).__name__}")
    spec: dict[str, Any] = {_ALIASES.get(str(k), str(k)): v for k, v in raw.items()}
    kind = spec.get("type")
    if kind in ("custom_jwt", "customJwt"):
        _check_keys(where, spec, _CUSTOM_KEYS, "a custom_jwt provider")
        issuer = _url(where, spec, "issuer")
        algorithm = spec.get("algorithm")
        if algorithm not in CUSTOM_JWT_ALGORITHMS:
            raise AuthConfigError(
                f"{where}: `algorithm` must be one of {', '.join(map(repr, CUSTOM_JWT_ALGORITHMS))}, "
                f"not {algorithm!r}"
            )
        jwks = spec.get("jwks")
        if not isinstance(jwks, str) or not jwks:
            raise AuthConfigError(
                f"{where}: `jwks` must be the JWKS URL or a data: URI, not {jwks!r}"
            )
        url, inline = (
            (None, parse_data_uri(where, jwks))
            if jwks.startswith("data:")
            else (_http_url(where, "jwks", jwks), None)
        )
        return Provider(
            "custom_jwt",
            issuer,
            _application_id(where, spec, required=False),
            (algorithm,),
            url,
            inline,
        )
    if kind is not None and kind != "oidc":
        raise AuthConfigError(
            f'{where}: unknown provider type {kind!r}; use "custom_jwt" or leave `type` out for an OIDC provider'
        )
    if "domain" not in spec and "issuer" in spec:
        raise AuthConfigError(
            f"{where}: an OIDC provider is configured with `domain`; for `issuer` + `jwks` "
            'add "type": "custom_jwt"'
        )
    _check_keys(where, spec, _OIDC_KEYS, "an OIDC provider")
    domain = _url(where, spec, "domain")
    return Provider("oidc", domain, _application_id(where, spec, required=True), OIDC_ALGORITHMS)


def _check_keys(where: str, spec: dict[str, Any], allowed: set[str], what: str) -> None:
    unknown = sorted(set(spec) - allowed)
    if unknown:
        raise AuthConfigError(
            f"{where}: unknown key {unknown[0]!r} for {what} (allowed: {', '.join(sorted(allowed))})"
        )


def _url(where: str, spec: dict[str, Any], key: str) -> str:
    value = spec.get(key)
    if not isinstance(value, str) or not value:
        raise AuthConfigError(f"{where}: `{key}` must be the issuer URL (a string), not {value!r}")
    return _http_url(where, key, value)


def _http_url(where: str, key: str, value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise AuthConfigError(f"{where}: `{key}` must be an http(s) URL, not {value!r}")
    return value


def _application_id(where: str, spec: dict[str, Any], *, required: bool) -> str | None:
    value = spec.get("application_id")
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise AuthConfigError(
            f"{where}: `application_id` must be the audience (`aud`) tokens are issued for, not {value!r}"
        )
    return value


def parse_data_uri(where: str, uri: str) -> dict[str, Any]:
    """The JWKS inside ``data:application/json[;base64],...``."""
    header, sep, data = uri[len("data:") :].partition(",")
    if not sep:
        raise AuthConfigError(f"{where}: `jwks` data: URI has no ',' before its data")
    try:
        body = (
            base64.b64decode(data, validate=True)
            if header.endswith(";base64")
            else unquote_to_bytes(data)
        )
        jwks = json.loads(body)
    except (binascii.Error, ValueError) as e:
        raise AuthConfigError(f"{where}: `jwks` data: URI does not hold JSON: {e}") from None
    if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list):
        raise AuthConfigError(
            f'{where}: `jwks` data: URI must hold a JWKS object {{"keys": [...]}}'
        )
    return jwks
