"""A stalled client never delays others: its queue is bounded and it is
disconnected (PROTOCOL.md §6.5; issue 3 "Back-pressure")."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import httpx
import orjson
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.support.server import RunningServer, make_project, start_server

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    s = start_server(make_project(tmp_path_factory.mktemp("pressure"), "pressureapp"), mode="serve")
    yield s
    s.stop()


async def subscribe(url: str, **kwargs: object):  # type: ignore[no-untyped-def]
    ws = await connect(url.replace("http", "ws") + "/api/sync", max_size=None, **kwargs)
    await ws.send(orjson.dumps({"type": "Connect", "sessionId": "s", "connectionCount": 0, "lastCloseReason": "InitialConnect", "clientTs": 0}).decode())
    await ws.send(orjson.dumps({"type": "ModifyQuerySet", "baseVersion": 0, "newVersion": 1, "modifications": [{"type": "Add", "queryId": 0, "udfPath": "big:blob", "args": [{}]}]}).decode())
    return ws


async def latest_n(ws) -> float:  # type: ignore[no-untyped-def]
    while True:
        msg = orjson.loads(await ws.recv())
        for mod in msg.get("modifications", []):
            if mod.get("type") == "QueryUpdated":
                return mod["value"]["n"]


def test_a_stalled_client_is_cut_off_and_others_keep_up(server: RunningServer) -> None:
    async def body() -> None:
        # The stalled client reads nothing after connecting; its library
        # buffers little (max_queue=1), so the server's
        # socket buffer fills and then its per-client queue does.
        stalled = await subscribe(server.url, max_queue=1)
        fast = await subscribe(server.url)
        assert await latest_n(fast) == 0
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            slowest = 0.0
            for n in range(1, 1201):
                started = time.monotonic()
                r = await http.post("/api/mutation", json={"path": "big:bump", "args": {"n": n}})
                assert r.json()["status"] == "success"
                # The fast client sees every value promptly, whatever the
                # stalled one does.
                while await asyncio.wait_for(latest_n(fast), 10) < n:
                    pass
                slowest = max(slowest, time.monotonic() - started)
            assert slowest < 5, f"a write took {slowest:.2f}s to reach the fast client"
        # The stalled client was disconnected with "try again later".
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                await asyncio.wait_for(stalled.recv(), 10)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 1013 and closed.value.rcvd.reason == "ClientTooSlow"
        await fast.close()

    asyncio.run(body())
