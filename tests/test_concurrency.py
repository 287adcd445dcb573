"""Many concurrent clients against one real server: no lost updates, no
non-serializable interleavings, no duplicate inserts.

Each client is a thread with its own ``httpx.Client`` (its own connection),
so requests really overlap on the server.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx

from tests.support.server import RunningServer


def _run_clients(n: int, work: Callable[[int, httpx.Client], None], timeout: float = 90.0) -> None:
    """Run ``work(i, client)`` in ``n`` threads started together; re-raise the first failure."""
    errors: list[BaseException] = []
    start = threading.Barrier(n)

    def main(i: int) -> None:
        try:
            with httpx.Client(timeout=30) as client:
                start.wait(timeout=30)
                work(i, client)
        except BaseException as e:  # noqa: BLE001 - re-raised in the main thread
            errors.append(e)

    threads = [threading.Thread(target=main, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + timeout
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    assert not any(t.is_alive() for t in threads), "clients did not finish in time"
    if errors:
        raise errors[0]


def _call(client: httpx.Client, server: RunningServer, endpoint: str, path: str, args: dict[str, Any]) -> Any:
    response = client.post(f"{server.url}/api/{endpoint}", json={"path": path, "args": args, "format": "json"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "success", body
    return body["value"]


def test_counter_has_no_lost_updates(testapp: RunningServer) -> None:
    clients, per_client = 10, 30
    name = f"counter-{uuid.uuid4().hex[:8]}"
    results: list[list[int]] = [[] for _ in range(clients)]

    def work(i: int, client: httpx.Client) -> None:
        for _ in range(per_client):
            results[i].append(_call(client, testapp, "mutation", "counters:increment", {"name": name}))

    _run_clients(clients, work)
    total = clients * per_client
    with httpx.Client() as c:
        assert _call(c, testapp, "query", "counters:get", {"name": name}) == total
    # Serializability, more strictly: every increment saw a distinct
    # predecessor, so the returned values are exactly 1..total.
    returned = sorted(v for r in results for v in r)
    assert returned == list(range(1, total + 1))
    # And each client's own increments were applied in its order.
    for r in results:
        assert r == sorted(r)


def test_transfers_keep_the_total_and_readers_never_see_a_broken_sum(testapp: RunningServer) -> None:
    prefix = f"acct-{uuid.uuid4().hex[:8]}-"
    names = [f"{prefix}{i}" for i in range(5)]
    per_account = 1000
    with httpx.Client() as c:
        _call(c, testapp, "mutation", "bank:open_accounts", {"names": names, "balance": per_account})
    expected = {"count": len(names), "sum": len(names) * per_account}
    writers, transfers_each, readers = 8, 40, 3
    done = threading.Event()
    observed: list[dict[str, Any]] = []
    outcomes: Counter[bool] = Counter()
    lock = threading.Lock()

    def work(i: int, client: httpx.Client) -> None:
        if i >= writers:
            # Readers: keep checking the invariant until the writers are done.
            while not done.is_set():
                seen = _call(client, testapp, "query", "bank:total", {"prefix": prefix})
                with lock:
                    observed.append(seen)
            return
        rng = random.Random(i)
        try:
            for _ in range(transfers_each):
                src, dst = rng.sample(names, 2)
                ok = _call(client, testapp, "mutation", "bank:transfer", {"src": src, "dst": dst, "amount": rng.randint(1, 400)})
                with lock:
                    outcomes[ok] += 1
        finally:
            with lock:
                finished[0] += 1
                if finished[0] == writers:
                    done.set()

    finished = [0]
    _run_clients(writers + readers, work)
    assert sum(outcomes.values()) == writers * transfers_each
    assert outcomes[True] > 0
    assert len(observed) >= readers, "the readers never ran"
    broken = [o for o in observed if o != expected]
    assert not broken, f"{len(broken)} of {len(observed)} reads saw a broken total, e.g. {broken[:3]}"
    with httpx.Client() as c:
        assert _call(c, testapp, "query", "bank:total", {"prefix": prefix}) == expected


def test_concurrent_insert_if_absent_never_duplicates(testapp: RunningServer) -> None:
    prefix = f"uniq-{uuid.uuid4().hex[:8]}-"
    keys = [f"{prefix}{i}" for i in range(12)]
    clients = 8
    claims: list[tuple[str, str, dict[str, Any]]] = []
    lock = threading.Lock()

    def work(i: int, client: httpx.Client) -> None:
        order = keys[:]
        random.Random(i).shuffle(order)
        for key in order:
            result = _call(client, testapp, "mutation", "uniques:claim", {"key": key, "owner": f"client{i}"})
            with lock:
                claims.append((key, f"client{i}", result))

    _run_clients(clients, work)
    assert len(claims) == clients * len(keys)
    with httpx.Client() as c:
        stored = _call(c, testapp, "query", "uniques:by_prefix", {"prefix": prefix})
    per_key = Counter(d["key"] for d in stored)
    assert per_key == Counter({k: 1 for k in keys}), per_key
    owner = {d["key"]: d["owner"] for d in stored}
    for key in keys:
        created = [who for k, who, r in claims if k == key and r["created"]]
        assert created == [owner[key]], (key, created, owner[key])
    # Every loser was told who won.
    for key, _who, result in claims:
        assert result["owner"] == owner[key]
