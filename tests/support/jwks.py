"""A real OIDC/JWKS issuer for tests: a threaded HTTP server on 127.0.0.1.

One ``JwksServer`` hosts any number of issuers under path prefixes
(``http://127.0.0.1:PORT/<name>``); each serves

- ``/<name>/.well-known/openid-configuration`` (``issuer``, ``jwks_uri``),
- ``/<name>/jwks.json`` (the public halves of its published keys),

- ``POST /<name>/mint`` with ``{"claims": {...}, "expires_in": s}``: a fresh
  token signed with the first key, for Node scripts that need new tokens,

and counts the requests it gets. Keys are generated with ``cryptography``
(RS256 2048-bit RSA, ES256 P-256) and ``Issuer.token(...)`` mints JWTs with
any claims and headers -- including broken ones (``sign_raw``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm


@dataclass
class SigningKey:
    kid: str
    alg: str  # "RS256" | "ES256"
    private_key: Any

    def public_jwk(self) -> dict[str, Any]:
        algo = RSAAlgorithm if self.alg.startswith("RS") else ECAlgorithm
        jwk = algo.to_jwk(self.private_key.public_key(), as_dict=True)
        return {**jwk, "kid": self.kid, "alg": self.alg, "use": "sig"}

    def public_pem(self) -> bytes:
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )


def new_key(alg: str = "RS256", kid: str | None = None) -> SigningKey:
    if alg == "RS256":
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    elif alg == "ES256":
        private = ec.generate_private_key(ec.SECP256R1())
    else:
        raise ValueError(alg)
    return SigningKey(kid or f"{alg.lower()}-{uuid.uuid4().hex[:8]}", alg, private)


def b64url(data: bytes | dict[str, Any]) -> str:
    if isinstance(data, dict):
        data = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sign_raw(
    header: dict[str, Any], payload: dict[str, Any], *, hmac_secret: bytes | None = None
) -> str:
    """A JWT assembled by hand: unsigned (``alg: none``), or HMAC-signed with
    any bytes (PyJWT refuses to use a public key as an HMAC secret)."""
    signing_input = f"{b64url(header)}.{b64url(payload)}"
    signature = b""
    if hmac_secret is not None:
        signature = hmac.new(hmac_secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(signature)}"


@dataclass
class Issuer:
    server: JwksServer
    name: str
    audience: str = "livebase-tests"
    keys: list[SigningKey] = field(default_factory=list)  # published
    requests: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"{self.server.url}/{self.name}"

    @property
    def jwks_url(self) -> str:
        return f"{self.url}/jwks.json"

    def jwks(self) -> dict[str, Any]:
        with self.server.lock:
            return {"keys": [k.public_jwk() for k in self.keys]}

    def jwks_data_uri(self) -> str:
        return (
            "data:application/json;base64,"
            + base64.b64encode(json.dumps(self.jwks()).encode()).decode()
        )

    def add_key(self, alg: str = "RS256", kid: str | None = None) -> SigningKey:
        key = new_key(alg, kid)
        with self.server.lock:
            self.keys.append(key)
        return key

    def remove_key(self, key: SigningKey) -> None:
        with self.server.lock:
            self.keys.remove(key)

    def fetches(self, suffix: str = "jwks.json") -> int:
        with self.server.lock:
            return sum(1 for r in self.requests if r.endswith(suffix))

    def claims(self, **overrides: Any) -> dict[str, Any]:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.url,
            "sub": "user-1",
            "aud": self.audience,
            "iat": now,
            "exp": now + 3600,
        }
        claims.update(overrides)
        return {k: v for k, v in claims.items() if v is not None}

    def token(
        self,
        key: SigningKey | None = None,
        *,
        headers: dict[str, Any] | None = None,
        **claims: Any,
    ) -> str:
        """A JWT signed with ``key`` (default: the first published key).
        Claims default to a valid token of this issuer; pass ``claim=None``
        (or ``headers={"kid": None}``) to leave one out."""
        key = key or self.keys[0]
        header = {k: v for k, v in {"kid": key.kid, **(headers or {})}.items() if v is not None}
        # PyJWT adds "kid" only when given; without one the header has none.
        return jwt.encode(self.claims(**claims), key.private_key, algorithm=key.alg, headers=header)


class JwksServer:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.issuers: dict[str, Issuer] = {}
        self.delay_s = 0.0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer._serve(self)

            def do_POST(self) -> None:
                outer._mint(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name="jwks-server", daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def issuer(self, name: str, *algs: str, audience: str = "livebase-tests") -> Issuer:
        issuer = Issuer(self, name, audience)
        for alg in algs or ("RS256",):
            issuer.add_key(alg)
        self.issuers[name] = issuer
        return issuer

    def _serve(self, request: BaseHTTPRequestHandler) -> None:
        name, _, rest = request.path.lstrip("/").partition("/")
        issuer = self.issuers.get(name)
        body: dict[str, Any] | None = None
        if issuer is not None:
            with self.lock:
                issuer.requests.append(rest)
            if rest == ".well-known/openid-configuration":
                body = {
                    "issuer": issuer.url,
                    "jwks_uri": issuer.jwks_url,
                    "id_token_signing_alg_values_supported": ["RS256", "ES256"],
                }
            elif rest == "jwks.json":
                body = issuer.jwks()
        if self.delay_s:
            time.sleep(self.delay_s)
        data = json.dumps(body).encode() if body is not None else b'{"error":"not found"}'
        request.send_response(200 if body is not None else 404)
        request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(data)))
        request.end_headers()
        request.wfile.write(data)

    def _mint(self, request: BaseHTTPRequestHandler) -> None:
        name, _, rest = request.path.lstrip("/").partition("/")
        issuer = self.issuers.get(name)
        length = int(request.headers.get("Content-Length") or 0)
        spec = json.loads(request.rfile.read(length) or b"{}")
        if issuer is None or rest != "mint":
            request.send_response(404)
            request.end_headers()
            return
        now = int(time.time())
        claims = {
            "iat": now,
            "exp": now + int(spec.get("expires_in", 3600)),
            **spec.get("claims", {}),
        }
        data = json.dumps({"token": issuer.token(**claims)}).encode()
        request.send_response(200)
        request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(data)))
        request.end_headers()
        request.wfile.write(data)

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(5)
