"""Issuers' public keys (JWKS): fetched over HTTP, cached, refetched on rotation.

An OIDC provider's keys are found through its discovery document
(``{domain}/.well-known/openid-configuration`` -> ``jwks_uri``); a custom
JWT provider names its JWKS URL (or inlines it as a ``data:`` URI).

Keys are cached per source for ``ttl_s``. A token naming a ``kid`` the cache
doesn't hold triggers a refetch -- that is how key rotation is picked up --
but at most once per ``cooldown_s`` per source, so a flood of tokens with
made-up kids cannot hammer the issuer. Concurrent fetches of one source are
coalesced into one request.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from livebase.auth.config import Provider

log = logging.getLogger("livebase.auth")

MAX_DOCUMENT_BYTES = 1 << 20


class KeyFetchError(Exception):
    """The discovery document or the JWKS could not be fetched or parsed."""


@dataclass
class KeySet:
    """The keys of one source, as last fetched."""

    keys: list[dict[str, Any]]
    source: str  # the JWKS URL, or "inline JWKS"
    fetched_at: float  # time.monotonic()
    jwks_uri: str | None = None

    def matching(self, kid: str | None) -> list[dict[str, Any]]:
        """Signing keys that may have made a token naming ``kid`` (all when None)."""
        sig = [k for k in self.keys if isinstance(k, dict) and k.get("use", "sig") == "sig"]
        return sig if kid is None else [k for k in sig if k.get("kid") == kid]

    def kids(self) -> list[str]:
        return [str(k.get("kid")) for k in self.keys if isinstance(k, dict) and "kid" in k]


@dataclass
class _Source:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    keys: KeySet | None = None
    # The last failed first fetch, replayed during the cooldown so requests
    # against an unreachable issuer don't each try again.
    error: KeyFetchError | None = None
    failed_at: float = 0.0


class KeyStore:
    def __init__(
        self, *, ttl_s: float = 3600.0, cooldown_s: float = 10.0, timeout_s: float = 5.0
    ) -> None:
        self.ttl_s = ttl_s
        self.cooldown_s = cooldown_s
        self.timeout_s = timeout_s
        self._sources: dict[str, _Source] = {}

    async def keys_for(
        self, provider: Provider, kid: str | None
    ) -> tuple[list[dict[str, Any]], KeySet]:
        """The provider's keys that match ``kid``, refetching once if none do
        (subject to the cooldown); also returns the key set looked in."""
        if provider.jwks_inline is not None:
            inline = KeySet(provider.jwks_inline["keys"], "the inline JWKS", 0.0)
            return inline.matching(kid), inline
        name = provider.jwks_url or provider.discovery_url
        source = self._sources.setdefault(name, _Source())
        current = source.keys
        if current is None or time.monotonic() - current.fetched_at > self.ttl_s:
            current = await self._refresh(provider, source, current)
        found = current.matching(kid)
        if (
            not found
            and kid is not None
            and time.monotonic() - current.fetched_at >= self.cooldown_s
        ):
            # Possibly a rotated key: look again.
            current = await self._refresh(provider, source, current)
            found = current.matching(kid)
        return found, current

    async def _refresh(self, provider: Provider, source: _Source, seen: KeySet | None) -> KeySet:
        async with source.lock:
            if source.keys is not seen and source.keys is not None:
                return source.keys  # another request fetched while we waited
            if (
                seen is None
                and source.error is not None
                and time.monotonic() - source.failed_at < self.cooldown_s
            ):
                raise source.error
            try:
                source.keys = await self._fetch(provider, seen)
                source.error = None
            except KeyFetchError as e:
                if seen is None:
                    source.error, source.failed_at = e, time.monotonic()
                    raise
                # The issuer is down: keep verifying with the keys we have,
                # and don't retry on every request.
                log.warning("%s; still using the keys fetched earlier", e)
                seen.fetched_at = time.monotonic()
                source.keys = seen
            return source.keys

    async def _fetch(self, provider: Provider, previous: KeySet | None) -> KeySet:
        timeout = httpx.Timeout(self.timeout_s)
        async with httpx.AsyncClient(timeout=timeout, follow_redirects=True) as client:
            jwks_uri = provider.jwks_url
            if jwks_uri is None:
                # Rotation changes the keys, not where they live: reuse the
                # jwks_uri found by the last discovery until the cache expires.
                fresh = previous is None or time.monotonic() - previous.fetched_at > self.ttl_s
                jwks_uri = previous.jwks_uri if previous is not None and not fresh else None
                if jwks_uri is None:
                    doc = await self._get_json(
                        client,
                        provider.discovery_url,
                        f"the OIDC discovery document of issuer {provider.issuer!r}",
                    )
                    jwks_uri = doc.get("jwks_uri")
                    if not isinstance(jwks_uri, str) or not jwks_uri.startswith(
                        ("http://", "https://")
                    ):
                        raise KeyFetchError(
                            f"The OIDC discovery document at {provider.discovery_url} has no valid `jwks_uri` (got {jwks_uri!r})"
                        )
            jwks = await self._get_json(client, jwks_uri, f"the JWKS of issuer {provider.issuer!r}")
        keys = jwks.get("keys")
        if not isinstance(keys, list):
            raise KeyFetchError(f"The JWKS at {jwks_uri} has no `keys` list")
        return KeySet(keys, jwks_uri, time.monotonic(), jwks_uri)

    async def _get_json(self, client: httpx.AsyncClient, url: str, what: str) -> dict[str, Any]:
        try:
            response = await client.get(url, headers={"Accept": "application/json"})
        except httpx.HTTPError as e:
            raise KeyFetchError(
                f"Could not fetch {what} from {url}: {type(e).__name__}: {e or 'no detail'}"
            ) from None
        if response.status_code != 200:
            raise KeyFetchError(f"Could not fetch {what} from {url}: HTTP {response.status_code}")
        if len(response.content) > MAX_DOCUMENT_BYTES:
            raise KeyFetchError(
                f"Could not fetch {what} from {url}: the response is larger than 1 MiB"
            )
        try:
            doc = response.json()
        except ValueError:
            raise KeyFetchError(
                f"Could not fetch {what} from {url}: the response is not JSON"
            ) from None
        if not isinstance(doc, dict):
            raise KeyFetchError(
                f"Could not fetch {what} from {url}: the response is not a JSON object"
            )
        return doc
