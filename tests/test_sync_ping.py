"""A silent socket gets Ping messages, so clients don't drop it as dead
(PROTOCOL.md §6.5 rule 8: the Python client reconnects after 30 s of silence)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import orjson
import pytest
from websockets.asyncio.client import connect

from tests.support.server import RunningServer, make_project, start_server

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    s = start_server(make_project(tmp_path_factory.mktemp("ping"), "testapp"), env={"LIVEBASE_SYNC_PING_S": "1"})
    yield s
    s.stop()


def test_silent_sockets_get_pings(server: RunningServer) -> None:
    async def body() -> None:
        async with connect(server.url.replace("http", "ws") + "/api/sync") as ws:
            await ws.send(orjson.dumps({"type": "Connect", "sessionId": "p", "connectionCount": 0, "clientTs": 0}).decode())
            await ws.send(orjson.dumps({"type": "ModifyQuerySet", "baseVersion": 0, "newVersion": 1, "modifications": []}).decode())
            first = orjson.loads(await asyncio.wait_for(ws.recv(), 5))
            assert first["type"] == "Transition"
            started = time.monotonic()
            pings = []
            while len(pings) < 2:
                msg = orjson.loads(await asyncio.wait_for(ws.recv(), 5))
                assert msg == {"type": "Ping"}
                pings.append(time.monotonic() - started)
            # About one per second of silence (checked every third of it).
            assert 0.9 < pings[0] < 2.5 and 0.9 < pings[1] - pings[0] < 2.5, pings

    asyncio.run(body())
