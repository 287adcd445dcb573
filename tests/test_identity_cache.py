"""A query shared by users (it did not read ctx.auth) that starts reading the
identity is split per user: nobody ever sees another user's result."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from livebase.client import Client
from tests.support.jwks import JwksServer
from tests.support.server import RunningServer, make_project, start_server

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningServer, object]]:
    jwks = JwksServer()
    issuer = jwks.issuer("identity", "RS256")
    project = make_project(tmp_path_factory.mktemp("identityapp"), "identityapp")
    server = start_server(project, env={"IDENTITYAPP_ISSUER": issuer.url})
    yield server, issuer
    server.stop()
    jwks.stop()


def test_a_shared_query_that_starts_reading_auth_is_split_per_user(setup) -> None:  # type: ignore[no-untyped-def]
    server, issuer = setup
    with Client(server.url) as admin, Client(server.url) as alice, Client(server.url) as bob:
        admin.set_admin_auth(server.admin_key)
        admin.mutation("personal:set_personal", {"personal": False}, timeout=10)
        alice.set_auth(issuer.token(sub="alice"))
        bob.set_auth(issuer.token(sub="bob"))
        with alice.subscribe("personal:greeting") as a, bob.subscribe("personal:greeting") as b:
            assert a.next(timeout=10) == "hello everyone"
            assert b.next(timeout=10) == "hello everyone"
            admin.mutation("personal:set_personal", {"personal": True}, timeout=10)
            assert a.next(timeout=10) == "hello alice"
            assert b.next(timeout=10) == "hello bob"
            admin.mutation("personal:set_personal", {"personal": False}, timeout=10)
            assert a.next(timeout=10) == "hello everyone"
            assert b.next(timeout=10) == "hello everyone"
        # A fresh anonymous subscriber gets its own answer too.
        admin.mutation("personal:set_personal", {"personal": True}, timeout=10)
        with Client(server.url) as anonymous:
            assert anonymous.query("personal:greeting", timeout=10) == "hello stranger"
