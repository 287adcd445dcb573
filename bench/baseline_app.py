"""The hand-written baseline for bench/http_throughput.py: Starlette + stdlib
``sqlite3``, doing what ``items:add`` and ``items:byOwner`` do in Livebase.

It is the fastest straightforward way to write these endpoints: one SQLite
connection used inline on the event loop (no thread hop per request), WAL
mode, and the same durability as Livebase with ``--synchronous FULL`` (the
commit is fsynced before the response is sent). It parses the same request
body as Livebase's ``/api/mutation`` and ``/api/query``
(``{"path": ..., "args": {...}, "format": "json"}``), checks the argument
types, and answers in the same shape (``{"status": "success", "value": ...}``).

    python bench/baseline_app.py --db /tmp/x.sqlite3 --port 8000 --synchronous FULL
"""

from __future__ import annotations

import argparse
import sqlite3
import time
from typing import Any

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

_SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    id INTEGER PRIMARY KEY,
    creation_time REAL NOT NULL,
    owner TEXT NOT NULL,
    n REAL NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS items_by_owner ON items (owner);
"""

# rowid order is insertion order, and the (owner) index holds the rowid, so
# "newest 10 of one owner" is one descending index range scan.
_BY_OWNER = (
    "SELECT id, creation_time, owner, n, body FROM items WHERE owner = ? ORDER BY id DESC LIMIT 10"
)
_INSERT = "INSERT INTO items (creation_time, owner, n, body) VALUES (?, ?, ?, ?)"


def _json(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def _bad(message: str) -> Response:
    return _json({"code": "BadRequest", "message": message}, 400)


async def _args(request: Request, path: str) -> dict[str, Any] | Response:
    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        return _bad("body is not JSON")
    if not isinstance(body, dict) or body.get("path") != path:
        return _bad(f'expected {{"path": "{path}", "args": {{...}}}}')
    args = body.get("args")
    if not isinstance(args, dict):
        return _bad("args must be an object")
    return args


def make_app(db_path: str, synchronous: str) -> Starlette:
    conn = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={synchronous}")
    conn.executescript(_SCHEMA)

    async def add(request: Request) -> Response:
        args = await _args(request, "items:add")
        if isinstance(args, Response):
            return args
        owner, n, body = args.get("owner"), args.get("n"), args.get("body")
        if not isinstance(owner, str) or not isinstance(body, str) or type(n) not in (int, float):
            return _bad("args must be {owner: string, n: number, body: string}")
        conn.execute("BEGIN")
        try:
            row_id = conn.execute(_INSERT, (time.time() * 1000, owner, n, body)).lastrowid
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return _json({"status": "success", "value": str(row_id), "logLines": []})

    async def by_owner(request: Request) -> Response:
        args = await _args(request, "items:byOwner")
        if isinstance(args, Response):
            return args
        owner = args.get("owner")
        if not isinstance(owner, str):
            return _bad("args must be {owner: string}")
        rows = conn.execute(_BY_OWNER, (owner,)).fetchall()
        value = [
            {"_id": str(i), "_creationTime": ct, "owner": o, "n": n, "body": b}
            for i, ct, o, n, b in rows
        ]
        return _json({"status": "success", "value": value, "logLines": []})

    async def seed(request: Request) -> Response:
        # Seeding only (not measured), like items:seed in the Livebase app.
        args = await _args(request, "items:seed")
        if isinstance(args, Response):
            return args
        owners, start, count = int(args["owners"]), int(args["start"]), int(args["count"])
        now = time.time() * 1000
        conn.execute("BEGIN")
        conn.executemany(
            _INSERT,
            ((now, f"o{i % owners}", i, f"seed item {i}") for i in range(start, start + count)),
        )
        conn.execute("COMMIT")
        return _json({"status": "success", "value": count, "logLines": []})

    async def version(request: Request) -> Response:
        return Response(b"baseline")

    return Starlette(
        routes=[
            Route("/add", add, methods=["POST"]),
            Route("/byOwner", by_owner, methods=["POST"]),
            Route("/seed", seed, methods=["POST"]),
            Route("/version", version, methods=["GET"]),
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", required=True, help="SQLite file")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--synchronous", choices=["FULL", "NORMAL"], default="FULL")
    opts = parser.parse_args()
    # The same uvicorn settings as livebase/server/serve.py: uvloop,
    # httptools, one worker, no access log, no lifespan, no Server header.
    config = uvicorn.Config(
        make_app(opts.db, opts.synchronous),
        host=opts.host,
        port=opts.port,
        loop="uvloop",
        http="httptools",
        lifespan="off",
        log_level="warning",
        access_log=False,
        server_header=False,
        workers=1,
    )
    uvicorn.Server(config).run()


if __name__ == "__main__":
    main()
