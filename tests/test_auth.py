"""Authentication end to end: a real OIDC/JWKS issuer (tests/support/jwks.py),
a real Livebase server running tests/apps/authapp, tokens over HTTP and the
WebSocket, the official Python and npm clients, and every way a token is
refused (SEMANTICS.md §9, PROTOCOL.md §2.1, §6.3-6.7, §9.7)."""

from __future__ import annotations

import json
import pickle
import re
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from convex import ConvexClient
from convex.http_client import ConvexHttpClient
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from livebase.auth.config import AuthConfigError, parse_providers
from livebase.auth.identity import Identity, UserIdentity
from tests.support.jwks import JwksServer, new_key, sign_raw
from tests.support.node import run_node
from tests.support.server import REPO, RunningServer, free_port, make_project, start_server

COOLDOWN_S = 0.5  # LIVEBASE_AUTH_JWKS_COOLDOWN_S for the servers under test
TIMEOUT_S = 10.0


# -- fixtures ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def issuers() -> Iterator[SimpleNamespace]:
    server = JwksServer()
    yield SimpleNamespace(
        server=server,
        oidc=server.issuer("oidc", "RS256", "ES256"),
        custom=server.issuer("custom", "ES256", audience="custom-app"),
        inline=server.issuer("inline", "RS256", audience="anyone"),
        # Nothing listens there: fetching its keys fails.
        down_url=f"http://127.0.0.1:{free_port()}/down",
    )
    server.stop()


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, issuers: SimpleNamespace
) -> Iterator[RunningServer]:
    project = make_project(tmp_path_factory.mktemp("authapp"), "authapp")
    env = {
        "AUTHAPP_OIDC_ISSUER": issuers.oidc.url,
        "AUTHAPP_CUSTOM_ISSUER": issuers.custom.url,
        "AUTHAPP_CUSTOM_JWKS": issuers.custom.jwks_url,
        "AUTHAPP_INLINE_ISSUER": issuers.inline.url,
        "AUTHAPP_INLINE_JWKS": issuers.inline.jwks_data_uri(),
        "AUTHAPP_DOWN_ISSUER": issuers.down_url,
        "LIVEBASE_AUTH_JWKS_COOLDOWN_S": str(COOLDOWN_S),
    }
    running = start_server(project, env=env)
    yield running
    running.stop()


def call(
    server: RunningServer,
    path: str,
    token: str | None = None,
    *,
    kind: str = "query",
    args: dict | None = None,
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return httpx.post(
        f"{server.url}/api/{kind}",
        json={"path": path, "args": args or {}, "format": "json"},
        headers=headers,
        timeout=TIMEOUT_S,
    )


def value(response: httpx.Response) -> Any:
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "success", body
    return body["value"]


def refused(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 401, response.text
    body = response.json()
    assert set(body) == {"code", "message"}, body
    return body


# -- the raw sync protocol ------------------------------------------------------------


def ws_url(server: RunningServer) -> str:
    return server.url.replace("http://", "ws://") + "/api/sync"


def connect_msg() -> str:
    return json.dumps(
        {
            "type": "Connect",
            "sessionId": str(uuid.uuid4()),
            "connectionCount": 0,
            "lastCloseReason": "InitialConnect",
            "clientTs": 0,
        }
    )


def authenticate(base: int, token: str | None) -> str:
    if token is None:
        return json.dumps({"type": "Authenticate", "baseVersion": base, "tokenType": "None"})
    return json.dumps(
        {"type": "Authenticate", "baseVersion": base, "tokenType": "User", "value": token}
    )


def recv_until(ws: Any, done: Callable[[dict], bool]) -> dict:
    """The first message (Pings skipped) for which ``done`` is true."""
    deadline = time.monotonic() + TIMEOUT_S
    while True:
        msg = json.loads(ws.recv(timeout=max(0.01, deadline - time.monotonic())))
        if msg["type"] != "Ping" and done(msg):
            return msg


def socket_refusal(server: RunningServer, token: str) -> dict:
    """Authenticate on a fresh socket; returns the AuthError and checks the
    server closed the socket after it."""
    with connect(ws_url(server), open_timeout=TIMEOUT_S) as ws:
        ws.send(connect_msg())
        ws.send(authenticate(0, token))
        messages = []
        with pytest.raises(ConnectionClosed):
            while True:
                messages.append(json.loads(ws.recv(timeout=TIMEOUT_S)))
    messages = [m for m in messages if m["type"] != "Ping"]
    assert len(messages) == 1, messages
    error = messages[0]
    assert error["type"] == "AuthError", error
    assert error["baseVersion"] == 0
    assert error["authUpdateAttempted"] is True
    return error


# -- valid tokens over HTTP ---------------------------------------------------------------


def test_anonymous_callers_have_no_identity(server: RunningServer) -> None:
    assert value(call(server, "whoami:me")) is None
    assert value(call(server, "whoami:from_action", kind="action")) == {
        "own": None,
        "via_query": None,
    }


def test_valid_token_maps_every_claim(server: RunningServer, issuers: SimpleNamespace) -> None:
    oidc = issuers.oidc
    token = oidc.token(
        sub="ada",
        name="Ada Lovelace",
        given_name="Ada",
        family_name="Lovelace",
        nickname="ada",
        preferred_username="countess",
        profile="https://example.com/ada",
        picture="https://example.com/ada.png",
        email="ada@example.com",
        email_verified=True,
        gender="female",
        birthdate="1815-12-10",
        zoneinfo="Europe/London",
        locale="en-GB",
        phone_number="+44 20 0000 0000",
        phone_number_verified="true",  # Cognito-style string
        address={"formatted": "12 St James's Square, London"},
        updated_at=1700000000,
        org={"role": "admin", "team": {"id": "t1"}},
        roles=["reader", "writer"],
        jti="token-1",
        nbf=int(time.time()) - 5,
    )
    expected = {
        "tokenIdentifier": f"{oidc.url}|ada",
        "subject": "ada",
        "issuer": oidc.url,
        "name": "Ada Lovelace",
        "givenName": "Ada",
        "familyName": "Lovelace",
        "nickname": "ada",
        "preferredUsername": "countess",
        "profileUrl": "https://example.com/ada",
        "pictureUrl": "https://example.com/ada.png",
        "email": "ada@example.com",
        "emailVerified": True,
        "gender": "female",
        "birthday": "1815-12-10",
        "timezone": "Europe/London",
        "language": "en-GB",
        "phoneNumber": "+44 20 0000 0000",
        "phoneNumberVerified": True,
        "address": "12 St James's Square, London",
        "updatedAt": "2023-11-14T22:13:20Z",
        # Custom claims, nested objects flattened; registered claims
        # (aud, exp, iat, nbf, jti) are not part of the identity.
        "org.role": "admin",
        "org.team.id": "t1",
        "roles": ["reader", "writer"],
    }
    assert value(call(server, "whoami:me", token)) == expected
    assert value(call(server, "whoami:summary", token)) == {
        "subject": "ada",
        "issuer": oidc.url,
        "token_identifier": f"{oidc.url}|ada",
        "email": "ada@example.com",
        "given_name": "Ada",
        "email_verified": True,
        "role": "admin",
        "to_dict_equal": True,
    }
    # Actions see the caller, and so do the queries they run.
    assert value(call(server, "whoami:from_action", token, kind="action")) == {
        "own": expected,
        "via_query": expected,
    }


def test_es256_key_and_second_audience(server: RunningServer, issuers: SimpleNamespace) -> None:
    oidc = issuers.oidc
    es_key = oidc.keys[1]
    assert es_key.alg == "ES256"
    assert value(call(server, "whoami:me", oidc.token(es_key, sub="es")))["subject"] == "es"
    # The second provider of the same issuer accepts another application id;
    # `aud` may be a list.
    me = value(call(server, "whoami:me", oidc.token(sub="two", aud=["unrelated", "second-app"])))
    assert me["tokenIdentifier"] == f"{oidc.url}|two"


def test_users_are_isolated_and_claims_key_the_cache(
    server: RunningServer, issuers: SimpleNamespace
) -> None:
    oidc = issuers.oidc
    alice, bob = oidc.token(sub="alice", email="a@1"), oidc.token(sub="bob")
    value(call(server, "whoami:add_note", alice, kind="mutation", args={"text": "alice's"}))
    value(call(server, "whoami:add_note", bob, kind="mutation", args={"text": "bob's"}))
    assert value(call(server, "whoami:my_notes", alice)) == ["alice's"]
    assert value(call(server, "whoami:my_notes", bob)) == ["bob's"]
    assert value(call(server, "whoami:my_notes")) == []
    # The same user with changed claims must not get a result cached for the
    # old ones.
    assert value(call(server, "whoami:me", alice))["email"] == "a@1"
    assert value(call(server, "whoami:me", oidc.token(sub="alice", email="a@2")))["email"] == "a@2"
    body = call(server, "whoami:add_note", kind="mutation", args={"text": "x"}).json()
    assert body["status"] == "error" and body["errorData"] == "sign in to add notes"


def test_custom_jwt_provider(server: RunningServer, issuers: SimpleNamespace) -> None:
    custom = issuers.custom
    # The provider's issuer is configured with a trailing slash; iss has none.
    me = value(call(server, "whoami:me", custom.token(sub="c1", aud="custom-app")))
    assert me == {"tokenIdentifier": f"{custom.url}|c1", "subject": "c1", "issuer": custom.url}
    # ...and the other way round.
    assert (
        value(call(server, "whoami:me", custom.token(sub="c2", iss=custom.url + "/")))["subject"]
        == "c2"
    )
    # Explicitly typed JWTs are fine; `typ` may also be absent.
    typed = custom.token(sub="c3", headers={"typ": "at+jwt"})
    assert value(call(server, "whoami:me", typed))["subject"] == "c3"


def test_inline_jwks_needs_no_fetch(server: RunningServer, issuers: SimpleNamespace) -> None:
    inline = issuers.inline
    # That provider has no application_id: any audience is accepted.
    me = value(call(server, "whoami:me", inline.token(sub="i1", aud="whoever")))
    assert me["tokenIdentifier"] == f"{inline.url}|i1"
    assert inline.requests == []


def test_expiry_leeway(server: RunningServer, issuers: SimpleNamespace) -> None:
    now = int(time.time())
    # Within the 10 s leeway for clock skew...
    assert value(
        call(server, "whoami:me", issuers.oidc.token(sub="skew", exp=now - 3, nbf=now + 3))
    )
    # ...but not beyond.
    message = refused(call(server, "whoami:me", issuers.oidc.token(exp=now - 30)))["message"]
    assert re.fullmatch(
        r"Token expired at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \(\d+ s ago\)", message
    ), message


# -- refusals --------------------------------------------------------------------------------

# (id, token factory, error code, regex the message must contain)
Case = tuple[str, Callable[[SimpleNamespace], str], str, str]
FORGER = new_key("RS256")


def _forged_payload(i: SimpleNamespace) -> str:
    header, _, signature = i.oidc.token(sub="victim").split(".")
    payload = sign_raw({}, i.oidc.claims(sub="attacker")).split(".")[1]
    return f"{header}.{payload}.{signature}"


def _hs256_with_public_key(i: SimpleNamespace) -> str:
    key = i.oidc.keys[0]
    return sign_raw(
        {"alg": "HS256", "typ": "JWT", "kid": key.kid},
        i.oidc.claims(),
        hmac_secret=key.public_pem(),
    )


def _rs256_token_naming_es_key(i: SimpleNamespace) -> str:
    rsa_key = new_key("RS256", kid=i.oidc.keys[1].kid)  # kid of the published ES256 key
    return i.oidc.token(rsa_key)


NOW = int(time.time())
REFUSALS: list[Case] = [
    (
        "forged-signature",
        lambda i: i.oidc.token(new_key("RS256", kid=i.oidc.keys[0].kid)),
        "Unauthenticated",
        r"^Token signature is invalid: it was not signed by key '[^']+' of issuer",
    ),
    ("tampered-payload", _forged_payload, "Unauthenticated", r"^Token signature is invalid"),
    (
        "expired",
        lambda i: i.oidc.token(iat=NOW - 7200, exp=NOW - 3600),
        "Unauthenticated",
        r"^Token expired at ",
    ),
    (
        "not-yet-valid",
        lambda i: i.oidc.token(nbf=NOW + 3600),
        "Unauthenticated",
        r"^Token not valid yet: its `nbf` is ",
    ),
    (
        "issued-in-the-future",
        lambda i: i.oidc.token(iat=NOW + 3600, exp=NOW + 7200),
        "Unauthenticated",
        r"^Token issued in the future",
    ),
    (
        "wrong-issuer",
        lambda i: i.oidc.token(iss="https://evil.example.com"),
        "NoAuthProvider",
        r"^No auth provider matches the token's issuer 'https://evil.example.com'; configured issuers: ",
    ),
    (
        "wrong-audience",
        lambda i: i.oidc.token(aud="someone-else"),
        "Unauthenticated",
        r"^Token audience mismatch: expected 'livebase-tests' or 'second-app', got 'someone-else'$",
    ),
    ("no-audience", lambda i: i.oidc.token(aud=None), "Unauthenticated", r"got no `aud` claim$"),
    (
        "alg-none",
        lambda i: sign_raw(
            {"alg": "none", "typ": "JWT", "kid": i.oidc.keys[0].kid}, i.oidc.claims()
        ),
        "Unauthenticated",
        r"^Token is unsigned \(alg: none\)",
    ),
    (
        "hs256-with-public-key",
        _hs256_with_public_key,
        "Unauthenticated",
        r"^Token algorithm 'HS256' is not allowed for issuer '[^']+'; expected one of RS256, ",
    ),
    (
        "key-type-mismatch",
        _rs256_token_naming_es_key,
        "Unauthenticated",
        r"^Token signature could not be verified: key '[^']+' \(EC\) cannot verify RS256",
    ),
    (
        "unknown-kid",
        lambda i: i.oidc.token(FORGER, headers={"kid": "nobody"}),
        "Unauthenticated",
        r"^Token key id 'nobody' is not among the keys of issuer '[^']+' \(http://[^ ]+/oidc/jwks.json: '",
    ),
    ("no-exp", lambda i: i.oidc.token(exp=None), "Unauthenticated", r"^Token has no `exp`"),
    ("no-sub", lambda i: i.oidc.token(sub=None), "Unauthenticated", r"^Token has no `sub`"),
    ("no-iss", lambda i: i.oidc.token(iss=None), "Unauthenticated", r"^Token has no `iss`"),
    ("garbage", lambda i: "garbage", "InvalidAuthHeader", r"^Could not parse JWT: a JWT has three"),
    ("three-garbage-parts", lambda i: "a.b.c", "InvalidAuthHeader", r"^Could not parse JWT: "),
    (
        "non-json-payload",
        lambda i: "eyJhbGciOiJSUzI1NiJ9.bm90IGpzb24.c2ln",
        "InvalidAuthHeader",
        r"^Could not parse JWT: ",
    ),
    (
        "custom-wrong-algorithm",
        lambda i: i.custom.token(FORGER, iss=i.custom.url, aud="custom-app"),
        "Unauthenticated",
        r"^Token algorithm 'RS256' is not allowed for issuer '[^']+/custom/'; expected ES256$",
    ),
    (
        "custom-no-kid",
        lambda i: i.custom.token(headers={"kid": None}, aud="custom-app"),
        "Unauthenticated",
        r"^Token header has no `kid`; custom_jwt providers require one",
    ),
    (
        "custom-bad-typ",
        lambda i: i.custom.token(headers={"typ": "JWE"}, aud="custom-app"),
        "Unauthenticated",
        r"^Token header `typ` is 'JWE', not 'JWT'",
    ),
    (
        "custom-wrong-audience",
        lambda i: i.custom.token(aud="livebase-tests"),
        "Unauthenticated",
        r"^Token audience mismatch: expected 'custom-app', got 'livebase-tests'$",
    ),
    (
        "issuer-unreachable",
        lambda i: i.oidc.token(iss=i.down_url),
        "AuthProviderDiscoveryFailed",
        r"^Could not fetch the OIDC discovery document of issuer '[^']+/down' from http://127\.0\.0\.1:\d+/down/"
        r"\.well-known/openid-configuration: ConnectError",
    ),
]


@pytest.mark.parametrize(
    ("factory", "code", "pattern"), [c[1:] for c in REFUSALS], ids=[c[0] for c in REFUSALS]
)
def test_refused_over_http(
    server: RunningServer, issuers: SimpleNamespace, factory: Callable, code: str, pattern: str
) -> None:
    body = refused(call(server, "whoami:me", factory(issuers)))
    assert body["code"] == code, body
    assert re.search(pattern, body["message"]), body["message"]


@pytest.mark.parametrize(
    ("factory", "pattern"), [(c[1], c[3]) for c in REFUSALS], ids=[c[0] for c in REFUSALS]
)
def test_refused_over_socket(
    server: RunningServer, issuers: SimpleNamespace, factory: Callable, pattern: str
) -> None:
    error = socket_refusal(server, factory(issuers))
    assert re.search(pattern, error["error"]), error["error"]


def start_without_providers(tmp_path: Path) -> RunningServer:
    project = make_project(tmp_path / "noauth", "authapp")
    (project / "functions" / "auth_config.py").unlink()
    return start_server(project)


NO_PROVIDERS = {
    "code": "NoAuthProvider",
    "message": "This deployment has no auth providers; add functions/auth_config.py to accept user tokens",
}


def test_no_providers_then_reload(tmp_path: Path, issuers: SimpleNamespace) -> None:
    """Without auth_config.py every token is refused; adding one (dev
    reload) makes tokens work."""
    running = start_without_providers(tmp_path)
    try:
        token = issuers.oidc.token(sub="late-config")
        assert refused(call(running, "whoami:me", token)) == NO_PROVIDERS
        assert value(call(running, "whoami:me")) is None  # anonymous calls are fine
        (running.project_dir / "functions" / "auth_config.py").write_text(
            f"providers = [{{'domain': {issuers.oidc.url!r}, 'application_id': 'livebase-tests'}}]\n"
        )
        deadline = time.monotonic() + TIMEOUT_S
        while (response := call(running, "whoami:me", token)).status_code == 401:
            assert time.monotonic() < deadline, f"auth_config.py was not reloaded: {response.text}"
            time.sleep(0.1)
        assert value(response)["subject"] == "late-config"
    finally:
        running.stop()


def test_no_providers_over_socket(tmp_path: Path, issuers: SimpleNamespace) -> None:
    running = start_without_providers(tmp_path)
    try:
        assert socket_refusal(running, issuers.oidc.token())["error"] == NO_PROVIDERS["message"]
    finally:
        running.stop()


# -- keys: caching, rotation, rate limits ------------------------------------------------------


def test_keys_are_cached(server: RunningServer, issuers: SimpleNamespace) -> None:
    oidc = issuers.oidc
    value(call(server, "whoami:me", oidc.token()))
    before = (oidc.fetches(".well-known/openid-configuration"), oidc.fetches())
    for i in range(5):
        value(call(server, "whoami:me", oidc.token(sub=f"cached-{i}")))
    assert (oidc.fetches(".well-known/openid-configuration"), oidc.fetches()) == before


def test_key_rotation_is_picked_up(server: RunningServer, issuers: SimpleNamespace) -> None:
    oidc = issuers.oidc
    value(call(server, "whoami:me", oidc.token()))  # keys cached
    discovery, jwks = oidc.fetches(".well-known/openid-configuration"), oidc.fetches()
    rotated = oidc.add_key("RS256")
    try:
        time.sleep(COOLDOWN_S + 0.1)
        me = value(call(server, "whoami:me", oidc.token(rotated, sub="rotated")))
        assert me["subject"] == "rotated"
        # One JWKS refetch, no new discovery; the refetched set is then cached.
        assert oidc.fetches() == jwks + 1
        assert oidc.fetches(".well-known/openid-configuration") == discovery
        value(call(server, "whoami:me", oidc.token(rotated, sub="again")))
        value(call(server, "whoami:me", oidc.token(sub="old key still valid")))
        assert oidc.fetches() == jwks + 1
    finally:
        oidc.remove_key(rotated)


def test_unknown_kid_flood_is_rate_limited(server: RunningServer, issuers: SimpleNamespace) -> None:
    oidc = issuers.oidc
    value(call(server, "whoami:me", oidc.token()))
    time.sleep(COOLDOWN_S + 0.1)  # so the flood may trigger one refetch
    before = oidc.fetches()
    tokens = [oidc.token(FORGER, headers={"kid": f"bogus-{i}"}) for i in range(40)]
    start = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(lambda t: call(server, "whoami:me", t), tokens))
    elapsed = time.monotonic() - start
    for i, response in enumerate(responses):
        assert f"Token key id 'bogus-{i}'" in refused(response)["message"]
    fetched = oidc.fetches() - before
    assert 1 <= fetched <= 1 + elapsed / COOLDOWN_S, (fetched, elapsed)


# -- the sync protocol ------------------------------------------------------------------------------


def test_socket_authenticate_refresh_and_sign_out(
    server: RunningServer, issuers: SimpleNamespace
) -> None:
    oidc = issuers.oidc
    with connect(ws_url(server), open_timeout=TIMEOUT_S) as ws:
        ws.send(connect_msg())
        ws.send(authenticate(0, oidc.token(sub="sock", email="one@example.com")))
        t = recv_until(ws, lambda m: m["type"] == "Transition")
        assert (t["startVersion"]["identity"], t["endVersion"]["identity"]) == (0, 1)
        ws.send(
            json.dumps(
                {
                    "type": "ModifyQuerySet",
                    "baseVersion": 0,
                    "newVersion": 1,
                    "modifications": [
                        {"type": "Add", "queryId": 0, "udfPath": "whoami:me", "args": [{}]}
                    ],
                }
            )
        )
        t = recv_until(ws, lambda m: m["type"] == "Transition" and m["modifications"])
        assert t["modifications"][0]["value"]["email"] == "one@example.com"
        # A refreshed token with new claims: the query re-runs.
        ws.send(authenticate(1, oidc.token(sub="sock", email="two@example.com")))
        t = recv_until(ws, lambda m: m["type"] == "Transition")
        assert (t["startVersion"]["identity"], t["endVersion"]["identity"]) == (1, 2)
        if not t["modifications"]:
            t = recv_until(ws, lambda m: m["type"] == "Transition" and m["modifications"])
        assert t["modifications"][0]["value"]["email"] == "two@example.com"
        ws.send(authenticate(2, None))
        t = recv_until(ws, lambda m: m["type"] == "Transition" and m["modifications"])
        assert t["endVersion"]["identity"] == 3
        assert t["modifications"][0] == {**t["modifications"][0], "queryId": 0, "value": None}


def test_socket_refused_refresh(server: RunningServer, issuers: SimpleNamespace) -> None:
    """A refused refresh ends the socket, reporting the version it failed on."""
    oidc = issuers.oidc
    with connect(ws_url(server), open_timeout=TIMEOUT_S) as ws:
        ws.send(connect_msg())
        ws.send(authenticate(0, oidc.token(sub="sock")))
        recv_until(ws, lambda m: m["type"] == "Transition" and m["endVersion"]["identity"] == 1)
        ws.send(authenticate(1, oidc.token(sub="sock", aud="nope")))
        messages = []
        with pytest.raises(ConnectionClosed):
            while True:
                messages.append(json.loads(ws.recv(timeout=TIMEOUT_S)))
        error = [m for m in messages if m["type"] == "AuthError"]
        assert len(error) == 1 and messages[-1] == error[0], messages
        assert error[0]["baseVersion"] == 1 and error[0]["authUpdateAttempted"] is True
        assert error[0]["error"].startswith("Token audience mismatch")


# -- the official clients ---------------------------------------------------------------------------


def test_python_http_client(server: RunningServer, issuers: SimpleNamespace) -> None:
    client = ConvexHttpClient(server.url)
    assert client.query("whoami:me") is None
    client.set_auth(issuers.oidc.token(sub="py-http", email="py@example.com", org={"role": "dev"}))
    me = client.query("whoami:me")
    assert (me["subject"], me["email"], me["org.role"]) == ("py-http", "py@example.com", "dev")
    client.mutation("whoami:add_note", {"text": "from the python client"})
    assert client.query("whoami:my_notes") == ["from the python client"]
    client.set_auth(issuers.oidc.token(exp=int(time.time()) - 60))
    with pytest.raises(Exception, match=r"^401 Unauthenticated: Token expired at "):
        client.query("whoami:me")
    client.clear_auth()
    assert client.query("whoami:me") is None


def test_python_websocket_client(server: RunningServer, issuers: SimpleNamespace) -> None:
    client = ConvexClient(server.url)
    assert client.query("whoami:me") is None
    client.set_auth(issuers.oidc.token(sub="py-ws", given_name="Wes"))
    me = client.query("whoami:me")
    assert (me["subject"], me["givenName"], me["tokenIdentifier"]) == (
        "py-ws",
        "Wes",
        f"{issuers.oidc.url}|py-ws",
    )
    client.mutation("whoami:add_note", {"text": "over the python socket"})
    assert client.query("whoami:my_notes") == ["over the python socket"]
    client.clear_auth()
    assert client.query("whoami:me") is None
    assert client.query("whoami:my_notes") == []


def _js_checks() -> list[str]:
    try:
        result = run_node("auth_client.test.mjs", "--list", timeout=30)
    except pytest.skip.Exception:
        return ["(node unavailable)"]
    return json.loads(result.stdout) if result.returncode == 0 else ["(could not list checks)"]


@pytest.mark.parametrize("check", _js_checks())
def test_npm_clients(server: RunningServer, issuers: SimpleNamespace, check: str) -> None:
    result = run_node("auth_client.test.mjs", server.url, issuers.oidc.url, check, timeout=60)
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    assert f"ok   {check}\n" in result.stdout, result.stdout


# -- configuration and identity objects ------------------------------------------------------------


@pytest.mark.parametrize(
    ("providers", "message"),
    [
        ({"domain": "https://a"}, r"`providers` must be a list of dicts, not dict"),
        (["https://a"], r"providers\[0\] must be a dict, not str"),
        ([{"domain": "https://a"}], r"providers\[0\]: `application_id` must be the audience"),
        (
            [{"domain": "a.example.com", "application_id": "x"}],
            r"`domain` must be an http\(s\) URL",
        ),
        (
            [{"domain": "https://a", "application_id": "x", "jwks": "u"}],
            r"unknown key 'jwks' for an OIDC provider",
        ),
        ([{"issuer": "https://a", "jwks": "https://a/k"}], r"add \"type\": \"custom_jwt\""),
        ([{"type": "saml"}], r"unknown provider type 'saml'"),
        (
            [
                {
                    "type": "custom_jwt",
                    "issuer": "https://a",
                    "jwks": "https://a/k",
                    "algorithm": "HS256",
                }
            ],
            r"`algorithm` must be one of 'RS256', 'ES256', not 'HS256'",
        ),
        (
            [{"type": "custom_jwt", "issuer": "https://a", "algorithm": "RS256"}],
            r"`jwks` must be the JWKS URL",
        ),
        (
            [
                {
                    "type": "custom_jwt",
                    "issuer": "https://a",
                    "jwks": "data:application/json;base64,!!",
                    "algorithm": "RS256",
                }
            ],
            r"`jwks` data: URI does not hold JSON",
        ),
        (
            [
                {
                    "type": "custom_jwt",
                    "issuer": "https://a",
                    "jwks": "data:application/json,[]",
                    "algorithm": "RS256",
                }
            ],
            r"must hold a JWKS object",
        ),
        (
            [{"domain": "https://a", "application_id": "x"}, {"type": "customJwt", "issuer": 5}],
            r"providers\[1\]: `issuer` must be the issuer URL",
        ),
    ],
)
def test_invalid_configs(providers: Any, message: str) -> None:
    with pytest.raises(AuthConfigError, match=message):
        parse_providers(providers)


def test_valid_configs() -> None:
    parsed = parse_providers(
        [
            {"domain": "https://issuer.example.com/", "applicationID": "app"},
            {
                "type": "customJwt",
                "issuer": "https://jwt.example.com",
                "jwks": 'data:application/json,{"keys":[]}',
                "algorithm": "ES256",
            },
        ]
    )
    assert [(p.kind, p.normalized_issuer, p.application_id, p.algorithms) for p in parsed] == [
        ("oidc", "https://issuer.example.com", "app", parsed[0].algorithms),
        ("custom_jwt", "https://jwt.example.com", None, ("ES256",)),
    ]
    assert "HS256" not in parsed[0].algorithms and "none" not in parsed[0].algorithms
    assert parsed[0].discovery_url == "https://issuer.example.com/.well-known/openid-configuration"
    assert parsed[1].jwks_inline == {"keys": []}
    assert parse_providers(None) == [] and parse_providers([]) == []


def test_user_identity_object() -> None:
    user = UserIdentity("iss|sub", "sub", "iss", {"email": "e@x", "givenName": "G", "a.b": 1})
    assert user == {
        "tokenIdentifier": "iss|sub",
        "subject": "sub",
        "issuer": "iss",
        "email": "e@x",
        "givenName": "G",
        "a.b": 1,
    }
    assert (user.token_identifier, user.subject, user.issuer, user.email, user.given_name) == (
        "iss|sub",
        "sub",
        "iss",
        "e@x",
        "G",
    )
    assert user.family_name is None and user["a.b"] == 1 and user.get("missing") is None
    assert user.claims == {"email": "e@x", "givenName": "G", "a.b": 1}
    assert type(user.to_dict()) is dict and user.to_dict() == user
    with pytest.raises(AttributeError, match=r"identity\['custom'\]"):
        _ = user.custom
    for mutate in (
        lambda: user.__setitem__("email", "x"),
        lambda: user.pop("email"),
        lambda: user.update(a=1),
        user.clear,
    ):
        with pytest.raises(TypeError, match="read-only"):
            mutate()
    assert (
        pickle.loads(pickle.dumps(user)) == user
        and type(pickle.loads(pickle.dumps(user))) is UserIdentity
    )
    acting = Identity.impersonating({"subject": "s", "issuer": "i", "name": "N"})
    assert acting.user == {"tokenIdentifier": "i|s", "subject": "s", "issuer": "i", "name": "N"}
    assert acting.expires_at is None and not acting.is_admin
    same = Identity.impersonating({"subject": "s", "issuer": "i", "name": "N"})
    other = Identity.impersonating({"subject": "s", "issuer": "i", "name": "M"})
    assert acting.cache_key == same.cache_key != other.cache_key
    assert acting.cache_key.startswith("user:i|s#")


def test_identity_carries_expiry(issuers: SimpleNamespace) -> None:
    import asyncio

    from livebase.auth.authenticator import Authenticator

    exp = int(time.time()) + 1234
    raw = [{"domain": issuers.oidc.url, "application_id": "livebase-tests"}]
    identity = asyncio.run(
        Authenticator(lambda: raw).authenticate(issuers.oidc.token(sub="x", exp=exp))
    )
    assert identity.kind == "user" and identity.expires_at == exp
    assert identity.user is not None and identity.user.subject == "x"


# -- docs/auth.md ------------------------------------------------------------------------------------

DOC = REPO / "docs" / "auth.md"
EXAMPLE = REPO / "docs" / "examples" / "auth"


def test_doc_blocks_are_the_example_files() -> None:
    blocks = re.findall(r"```python\n# (docs/examples/auth/\S+)\n(.*?)```", DOC.read_text(), re.S)
    assert {path for path, _ in blocks} == {
        f"docs/examples/auth/functions/{name}"
        for name in ("auth_config.py", "schema.py", "users.py", "messages.py")
    }
    for path, body in blocks:
        assert body == (REPO / path).read_text(), f"{path} differs from its block in docs/auth.md"


def test_doc_example_app(tmp_path: Path, issuers: SimpleNamespace) -> None:
    oidc, custom = issuers.oidc, issuers.custom
    project = make_project(tmp_path / "docs-auth", EXAMPLE)
    running = start_server(
        project,
        env={
            "AUTH_ISSUER": oidc.url,
            "AUTH_APPLICATION_ID": "livebase-tests",
            "CUSTOM_JWT_ISSUER": custom.url,
            "CUSTOM_JWT_JWKS": custom.jwks_url,
        },
    )
    try:
        body = call(running, "messages:send", kind="mutation", args={"body": "hi"}).json()
        assert body["errorData"] == {
            "code": "unauthenticated",
            "message": "sign in to send messages",
        }
        ada = oidc.token(sub="ada", name="Ada", email="ada@example.com")
        user_id = value(call(running, "users:store", ada, kind="mutation"))
        assert value(call(running, "users:store", ada, kind="mutation")) == user_id  # idempotent
        me = value(call(running, "users:me", ada))
        assert (me["_id"], me["name"], me["email"]) == (user_id, "Ada", "ada@example.com")
        value(call(running, "messages:send", ada, kind="mutation", args={"body": "hello"}))
        # A custom JWT user without a name or email is named by subject.
        grace = custom.token(sub="grace", aud="my-app")
        assert value(call(running, "users:identity", grace))["issuer"] == custom.url
        value(call(running, "users:store", grace, kind="mutation"))
        value(call(running, "messages:send", grace, kind="mutation", args={"body": "hi ada"}))
        assert value(call(running, "messages:list")) == [
            {"author": "grace", "body": "hi ada"},
            {"author": "Ada", "body": "hello"},
        ]
    finally:
        running.stop()
