"""File storage through a real server: upload URLs, serving with ranges and
ETags, _storage metadata, deletion, actions, and streaming without holding
files in memory."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from convex import ConvexClient

from livebase.files.blobstore import LocalBlobStore
from livebase.files.tokens import InvalidUploadToken, check_upload_token, make_upload_token
from livebase.values.ids import IdGenerator
from tests.support.http import assert_request_error, error, error_detail, value
from tests.support.server import RunningServer, make_project, start_server

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    project = make_project(tmp_path_factory.mktemp("storageapp"), "storageapp")
    s = start_server(project)
    yield s
    s.stop()


def run(server: RunningServer, kind: str, path: str, args: dict | None = None):
    return value(server, kind, path, args or {}, fmt=None)


def upload(
    server: RunningServer, data: bytes, content_type: str | None = "application/octet-stream"
) -> str:
    url = run(server, "mutation", "files:upload_url")
    headers = {"Content-Type": content_type} if content_type else {}
    r = httpx.post(url, content=data, headers=headers, timeout=60)
    assert r.status_code == 200, r.text
    return r.json()["storageId"]


def blob_path(server: RunningServer, sha: str) -> Path:
    return server.project_dir / ".livebase" / "files" / sha[:2] / sha


def wait_until(predicate, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.02)


@pytest.fixture(scope="module")
def big_file(server: RunningServer) -> tuple[str, bytes]:
    data = os.urandom(5 << 20)
    return upload(server, data, "image/png"), data


def test_upload_url_shape(server: RunningServer) -> None:
    url = run(server, "mutation", "files:upload_url")
    assert url.startswith(f"{server.url}/api/storage/upload?token=")


def test_upload_and_read_back_byte_identical(
    server: RunningServer, big_file: tuple[str, bytes]
) -> None:
    storage_id, data = big_file
    url = run(server, "query", "files:url", {"id": storage_id})
    assert url == f"{server.url}/api/storage/{storage_id}"
    r = httpx.get(url, timeout=60)
    assert r.status_code == 200
    assert r.content == data
    sha = hashlib.sha256(data).hexdigest()
    assert r.headers["content-type"] == "image/png"
    assert r.headers["content-length"] == str(len(data))
    assert r.headers["etag"] == f'"{sha}"'
    assert r.headers["accept-ranges"] == "bytes"


def test_metadata_in_the_storage_system_table(
    server: RunningServer, big_file: tuple[str, bytes]
) -> None:
    storage_id, data = big_file
    doc = run(server, "query", "files:metadata", {"id": storage_id})
    assert set(doc) == {"_id", "_creationTime", "sha256", "size", "contentType"}
    assert doc["_id"] == storage_id
    assert doc["sha256"] == hashlib.sha256(data).hexdigest()
    assert doc["size"] == len(data)
    assert doc["contentType"] == "image/png"
    assert run(server, "query", "files:legacy_metadata", {"id": storage_id}) == {
        "storageId": storage_id,
        "sha256": doc["sha256"],
        "size": len(data),
        "contentType": "image/png",
    }
    # Without a Content-Type the document has no contentType field.
    bare = upload(server, b"no type", content_type=None)
    assert "contentType" not in run(server, "query", "files:metadata", {"id": bare})
    assert (
        httpx.get(f"{server.url}/api/storage/{bare}").headers["content-type"]
        == "application/octet-stream"
    )


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [
        ("bytes=0-499", 0, 500),
        ("bytes=1000-1999", 1000, 2000),
        ("bytes=-500", (5 << 20) - 500, 5 << 20),
        ("bytes=100-", 100, 5 << 20),
        ("bytes=5242000-99999999", 5242000, 5 << 20),  # end clamped to the file
        ("bytes=-99999999", 0, 5 << 20),  # suffix longer than the file
        ("bytes=7-7", 7, 8),
    ],
)
def test_single_ranges(
    server: RunningServer, big_file: tuple[str, bytes], header: str, start: int, end: int
) -> None:
    storage_id, data = big_file
    r = httpx.get(f"{server.url}/api/storage/{storage_id}", headers={"Range": header})
    assert r.status_code == 206, r.text[:200]
    assert r.headers["content-range"] == f"bytes {start}-{end - 1}/{len(data)}"
    assert r.headers["content-length"] == str(end - start)
    assert r.content == data[start:end]


@pytest.mark.parametrize("header", ["bytes=5242880-", "bytes=99999999-100000000", "bytes=-0"])
def test_unsatisfiable_range(
    server: RunningServer, big_file: tuple[str, bytes], header: str
) -> None:
    storage_id, data = big_file
    r = httpx.get(f"{server.url}/api/storage/{storage_id}", headers={"Range": header})
    body = assert_request_error(r, 416)
    assert body["code"] == "RangeNotSatisfiable"
    assert r.headers["content-range"] == f"bytes */{len(data)}"


@pytest.mark.parametrize("header", ["bytes=0-1,5-6", "items=0-5", "bytes=9-3", "nonsense"])
def test_ranges_we_ignore_serve_the_whole_file(server: RunningServer, header: str) -> None:
    storage_id = upload(server, b"0123456789", "text/plain")
    r = httpx.get(f"{server.url}/api/storage/{storage_id}", headers={"Range": header})
    assert (r.status_code, r.content) == (200, b"0123456789")


def test_if_range(server: RunningServer) -> None:
    storage_id = upload(server, b"0123456789", "text/plain")
    url = f"{server.url}/api/storage/{storage_id}"
    etag = httpx.head(url).headers["etag"]
    assert httpx.get(url, headers={"Range": "bytes=2-3", "If-Range": etag}).content == b"23"
    stale = httpx.get(url, headers={"Range": "bytes=2-3", "If-Range": '"other"'})
    assert (stale.status_code, stale.content) == (200, b"0123456789")


def test_etag_and_conditional_get(server: RunningServer, big_file: tuple[str, bytes]) -> None:
    storage_id, data = big_file
    url = f"{server.url}/api/storage/{storage_id}"
    etag = httpx.head(url).headers["etag"]
    for header in (etag, f"W/{etag}", f'"nope", {etag}', "*"):
        r = httpx.get(url, headers={"If-None-Match": header})
        assert r.status_code == 304, header
        assert r.content == b""
        assert r.headers["etag"] == etag
    r = httpx.get(url, headers={"If-None-Match": '"something-else"'})
    assert r.status_code == 200 and len(r.content) == len(data)


def test_head(server: RunningServer, big_file: tuple[str, bytes]) -> None:
    storage_id, data = big_file
    r = httpx.head(f"{server.url}/api/storage/{storage_id}")
    assert r.status_code == 200
    assert r.content == b""
    assert r.headers["content-length"] == str(len(data))
    assert r.headers["content-type"] == "image/png"
    r = httpx.head(f"{server.url}/api/storage/{storage_id}", headers={"Range": "bytes=10-19"})
    assert (r.status_code, r.headers["content-length"], r.headers["content-range"]) == (
        206,
        "10",
        f"bytes 10-19/{len(data)}",
    )


def test_delete_from_a_mutation(server: RunningServer) -> None:
    data = os.urandom(1000)
    storage_id = upload(server, data)
    sha = hashlib.sha256(data).hexdigest()
    assert blob_path(server, sha).exists()
    # A failing mutation rolls its delete back: the file stays.
    failed = error(server, "mutation", "files:remove_then_fail", {"id": storage_id}, fmt=None)
    assert "rolled back" in error_detail(failed)
    assert httpx.get(f"{server.url}/api/storage/{storage_id}").content == data
    run(server, "mutation", "files:remove", {"id": storage_id})
    assert run(server, "query", "files:url", {"id": storage_id}) is None
    assert run(server, "query", "files:metadata", {"id": storage_id}) is None
    body = assert_request_error(httpx.get(f"{server.url}/api/storage/{storage_id}"), 404)
    assert body["code"] == "FileNotFound"
    wait_until(lambda: not blob_path(server, sha).exists())
    # Deleting it again is an error naming the id.
    again = error(server, "mutation", "files:remove", {"id": storage_id}, fmt=None)
    assert "no file with storage id" in error_detail(again)


def test_identical_uploads_share_a_blob_until_the_last_is_deleted(server: RunningServer) -> None:
    data = os.urandom(3000)
    sha = hashlib.sha256(data).hexdigest()
    first, second = upload(server, data, "a/b"), upload(server, data, "c/d")
    assert first != second
    assert sorted(run(server, "query", "files:by_hash", {"sha256": sha})) == sorted([first, second])
    run(server, "mutation", "files:remove", {"id": first})
    time.sleep(0.2)  # give a (wrong) blob removal the chance to happen
    r = httpx.get(f"{server.url}/api/storage/{second}")
    assert (r.content, r.headers["content-type"]) == (data, "c/d")
    run(server, "mutation", "files:remove", {"id": second})
    wait_until(lambda: not blob_path(server, sha).exists())


def test_bad_upload_tokens_are_refused_and_create_nothing(server: RunningServer) -> None:
    count = run(server, "query", "files:count")
    url = run(server, "mutation", "files:upload_url")
    base, token = url.split("?token=")
    expires, nonce, signature = token.split(".")
    forged = [
        f"{int(expires) + 3_600_000}.{nonce}.{signature}",  # a later expiry
        f"{expires}.{nonce}x.{signature}",
        f"{expires}.{nonce}.{signature[:-2]}AA",
        "garbage",
        "",
    ]
    for bad in forged:
        r = httpx.post(f"{base}?token={bad}", content=b"x" * 100)
        body = assert_request_error(r)
        assert body["code"] in ("InvalidUploadToken", "MissingUploadToken"), body
    assert assert_request_error(httpx.post(base, content=b"x"), 400)["code"] == "MissingUploadToken"
    short = run(server, "mutation", "files:short_upload_url", {"seconds": 0.2})
    time.sleep(0.3)
    body = assert_request_error(httpx.post(short, content=b"late"), 403)
    assert body["code"] == "UploadUrlExpired"
    assert "expired" in body["message"]
    assert run(server, "query", "files:count") == count
    tmp = server.project_dir / ".livebase" / "files" / "tmp"
    assert not list(tmp.glob("*")), "a refused upload left a temp file"
    # The valid URL still works (a URL may be used until it expires).
    r = httpx.post(url, content=b"fine")
    assert r.status_code == 200


def test_bad_ids_and_methods(server: RunningServer) -> None:
    assert (
        assert_request_error(httpx.get(f"{server.url}/api/storage/not-an-id"), 404)["code"]
        == "FileNotFound"
    )
    other_table_id = IdGenerator().new_id(10001)
    assert assert_request_error(httpx.get(f"{server.url}/api/storage/{other_table_id}"), 404)
    storage_id = upload(server, b"abc")
    for method in ("PUT", "DELETE", "POST", "PATCH"):
        assert_request_error(httpx.request(method, f"{server.url}/api/storage/{storage_id}"), 405)
    assert_request_error(httpx.get(f"{server.url}/api/storage/upload"), 405)
    failure = error(server, "query", "files:url_of_anything", {"id": "garbage"}, fmt=None)
    assert "is not a storage id" in error_detail(failure)
    failure = error(server, "query", "files:url_of_anything", {"id": other_table_id}, fmt=None)
    assert "is not a storage id" in error_detail(failure)


def test_actions_store_get_delete(server: RunningServer) -> None:
    storage_id = run(
        server,
        "action",
        "files:store_text",
        {"text": "héllo", "content_type": "text/plain; charset=utf-8"},
    )
    assert run(server, "action", "files:read_text", {"id": storage_id}) == "héllo"
    doc = run(server, "query", "files:metadata", {"id": storage_id})
    assert doc["size"] == len("héllo".encode())
    assert doc["sha256"] == hashlib.sha256("héllo".encode()).hexdigest()
    assert doc["contentType"] == "text/plain; charset=utf-8"
    details = run(server, "action", "files:action_details", {"id": storage_id})
    assert details["url"] == f"{server.url}/api/storage/{storage_id}"
    assert details["metadata"]["storageId"] == storage_id
    r = httpx.get(details["url"])
    assert r.text == "héllo"
    run(server, "action", "files:delete_file", {"id": storage_id})
    assert run(server, "action", "files:read_text", {"id": storage_id}) is None
    assert run(server, "action", "files:streamed_size", {"id": storage_id}) is None
    assert run(server, "action", "files:action_details", {"id": storage_id}) == {
        "url": None,
        "metadata": None,
    }


def test_action_stores_an_async_stream(server: RunningServer) -> None:
    storage_id = run(server, "action", "files:store_generated", {"chunks": 20, "size": 100_000})
    got = run(server, "action", "files:streamed_size", {"id": storage_id})
    assert got == {"total": 2_000_000, "size": 2_000_000, "contentType": None}
    expected = b"".join(bytes([i]) * 100_000 for i in range(20))
    assert httpx.get(f"{server.url}/api/storage/{storage_id}").content == expected


def _rss_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"{field} not in /proc/{pid}/status")


def test_large_upload_and_download_are_streamed(tmp_path: Path) -> None:
    """200 MB up and down; the server's peak RSS grows far less than that."""
    s = start_server(make_project(tmp_path / "big", "storageapp"))
    try:
        assert s.process is not None
        pid = s.process.pid
        upload_url = run(s, "mutation", "files:upload_url")
        httpx.get(f"{s.url}/api/storage/warmup")  # settle allocations of the first requests
        baseline = _rss_kb(pid, "VmRSS")
        chunk = os.urandom(1 << 20)
        total = 200
        digest = hashlib.sha256()

        def body() -> Iterator[bytes]:
            for i in range(total):
                piece = chunk[i:] + chunk[:i]  # distinct content per MiB
                digest.update(piece)
                yield piece

        r = httpx.post(
            upload_url, content=body(), headers={"Content-Type": "video/mp4"}, timeout=120
        )
        assert r.status_code == 200, r.text
        storage_id = r.json()["storageId"]
        peak_after_upload = _rss_kb(pid, "VmHWM")
        doc = run(s, "query", "files:metadata", {"id": storage_id})
        assert doc["size"] == total << 20
        assert doc["sha256"] == digest.hexdigest()

        down = hashlib.sha256()
        size = 0
        with httpx.stream("GET", f"{s.url}/api/storage/{storage_id}", timeout=120) as response:
            assert response.headers["content-length"] == str(total << 20)
            for part in response.iter_bytes(1 << 20):
                down.update(part)
                size += len(part)
        assert (size, down.hexdigest()) == (total << 20, digest.hexdigest())
        peak = _rss_kb(pid, "VmHWM")
        growth_mb = (max(peak, peak_after_upload) - baseline) / 1024
        assert growth_mb < 60, (
            f"server peak RSS grew by {growth_mb:.0f} MB while moving a 200 MB file"
        )
    finally:
        s.stop()


def test_files_survive_a_restart(tmp_path: Path) -> None:
    s = start_server(make_project(tmp_path / "restart", "storageapp"))
    try:
        storage_id = upload(s, b"durable bytes", "text/plain")
        s.restart()
        assert (
            httpx.get(run(s, "query", "files:url", {"id": storage_id})).content == b"durable bytes"
        )
    finally:
        s.stop()


# -- the parts on their own --------------------------------------------------------


def test_upload_tokens() -> None:
    secret = os.urandom(32)
    token = make_upload_token(secret, ttl_s=60, now=1000.0)
    check_upload_token(secret, token, now=1059.0)
    with pytest.raises(InvalidUploadToken, match="expired"):
        check_upload_token(secret, token, now=1061.0)
    with pytest.raises(InvalidUploadToken, match="signature"):
        check_upload_token(os.urandom(32), token, now=1000.0)


def test_local_blob_store(tmp_path: Path) -> None:
    asyncio.run(_local_blob_store(tmp_path))


async def _local_blob_store(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "files")

    async def chunks(parts: list[bytes]):
        for p in parts:
            yield p

    info = await store.put(chunks([b"hello ", b"", b"world"]))
    assert (info.size, info.sha256) == (11, hashlib.sha256(b"hello world").hexdigest())
    reader = await store.open(info.key)
    assert reader is not None and reader.size == 11
    assert b"".join([c async for c in reader.iter_range(6, 11)]) == b"world"
    staged = await store.stage(chunks([b"discard me"]))
    await store.discard(staged)
    assert not list((tmp_path / "files" / "tmp").iterdir())
    assert [k async for k in store.keys(older_than=time.time() + 1)] == [info.key]
    assert await store.delete(info.key) is True
    assert await store.delete(info.key) is False
    assert await store.open(info.key) is None


def docs_blocks(page: Path) -> dict[str, str]:
    """The ```python blocks of a docs page that start with ``# docs/examples/...``."""
    blocks = {}
    for block in page.read_text().split("```python\n")[1:]:
        code = block.split("```", 1)[0]
        first, _, rest = code.partition("\n")
        if first.startswith("# docs/examples/"):
            blocks[first[2:]] = rest
    return blocks


def test_docs_blocks_equal_example_files() -> None:
    blocks = docs_blocks(REPO / "docs" / "storage.md")
    assert blocks, "docs/storage.md includes no example files"
    for rel, code in blocks.items():
        assert (REPO / rel).read_text() == code, f"docs/storage.md is out of date with {rel}"


def doc_output(page: str, command: str) -> dict:
    """The JSON a page prints after its first ``$ ...`` line containing ``command``."""
    lines = (REPO / page).read_text().splitlines()
    for i, line in enumerate(lines):
        if line.startswith("$ ") and command in line:
            return json.loads(lines[i + 1])
    raise AssertionError(f"{page} has no command containing {command!r}")


def call_run(server: RunningServer, path: str, args: dict) -> dict:
    """POST /api/run/<path>, as the page's curl lines do."""
    r = httpx.post(f"{server.url}/api/run/{path}", json={"args": args}, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


def test_docs_examples(tmp_path: Path) -> None:
    """The calls docs/storage.md shows, against its example app."""
    page = "docs/storage.md"
    s = start_server(
        make_project(tmp_path / "docs-storage", REPO / "docs" / "examples" / "storage")
    )
    try:
        got = call_run(s, "images/generate_upload_url", {})
        shown = doc_output(page, "images/generate_upload_url")
        assert set(got) == set(shown) and got["status"] == shown["status"] == "success"
        pattern = r"http://127\.0\.0\.1:\d+/api/storage/upload\?token=\d+\.[\w-]+\.[\w-]+"
        assert re.fullmatch(pattern, got["value"]) and re.fullmatch(pattern, shown["value"])

        cat = os.urandom(300_000)
        r = httpx.post(got["value"], content=cat, headers={"Content-Type": "image/png"})
        assert set(r.json()) == set(doc_output(page, "$UPLOAD_URL")) == {"storageId"}
        storage_id = r.json()["storageId"]
        saved = call_run(s, "images/save", {"storage_id": storage_id, "title": "Cat"})
        assert saved["status"] == "success"
        listed = call_run(s, "images/list", {})
        shown = doc_output(page, "images/list")
        assert [set(x) for x in listed["value"]] == [set(x) for x in shown["value"]]
        image = listed["value"][0]
        assert image == {
            "id": saved["value"],
            "title": "Cat",
            "url": f"{s.url}/api/storage/{storage_id}",
        }
        assert httpx.get(image["url"]).content == cat

        meta = call_run(s, "images/metadata", {"storage_id": storage_id})["value"]
        assert set(meta) == set(doc_output(page, "images/metadata")["value"])
        assert (meta["size"], meta["sha256"], meta["contentType"]) == (
            len(cat),
            hashlib.sha256(cat).hexdigest(),
            "image/png",
        )

        call_run(s, "images/remove", {"id": image["id"]})
        assert call_run(s, "images/list", {})["value"] == []
        assert httpx.get(image["url"]).status_code == 404

        exported = call_run(s, "reports/export_csv", {"rows": [["name", "qty"], ["apples", "3"]]})
        assert set(exported["value"]) == set(doc_output(page, "reports/export_csv")["value"])
        csv_id = exported["value"]["storageId"]
        assert httpx.get(exported["value"]["url"]).text == "name,qty\r\napples,3\r\n"
        counted = call_run(s, "reports/count_lines", {"storage_id": csv_id})
        assert (
            counted
            == doc_output(page, "reports/count_lines")
            == {"status": "success", "value": 2, "logLines": []}
        )
        assert call_run(s, "reports/first_row", {"storage_id": csv_id})["value"] == ["name", "qty"]
        call_run(s, "reports/discard", {"storage_id": csv_id})
        assert call_run(s, "reports/count_lines", {"storage_id": csv_id})["value"] is None
    finally:
        s.stop()


def test_action_store_sources(server: RunningServer) -> None:
    assert (
        run(server, "action", "files:store_other_sources", {"kind": "file"}) == "from a file object"
    )
    assert run(server, "action", "files:store_other_sources", {"kind": "iterable"}) == "from a list"
    assert (
        run(server, "action", "files:store_other_sources", {"kind": "memoryview"})
        == "from a memoryview"
    )
    failure = error(server, "action", "files:store_other_sources", {"kind": "text"}, fmt=None)
    assert "takes bytes, not str" in error_detail(failure)


def test_empty_file(server: RunningServer) -> None:
    storage_id = upload(server, b"", "text/plain")
    url = f"{server.url}/api/storage/{storage_id}"
    r = httpx.get(url)
    assert (r.status_code, r.content, r.headers["content-length"]) == (200, b"", "0")
    assert r.headers["etag"] == f'"{hashlib.sha256(b"").hexdigest()}"'
    assert_request_error(httpx.get(url, headers={"Range": "bytes=0-"}), 416)
    assert_request_error(httpx.get(url, headers={"Range": "bytes=-5"}), 416)


def test_get_url_in_a_subscribed_query_follows_deletion(server: RunningServer) -> None:
    """get_url reads the _storage document: deleting the file re-runs the query."""
    storage_id = upload(server, b"watch me")
    client = ConvexClient(server.url)
    sub = client.subscribe("files:url", {"id": storage_id})

    async def watch() -> list:
        seen = [await asyncio.wait_for(sub.__anext__(), 5)]
        run(server, "mutation", "files:remove", {"id": storage_id})
        seen.append(await asyncio.wait_for(sub.__anext__(), 5))
        return seen

    try:
        seen = asyncio.run(watch())
    finally:
        sub.unsubscribe()
    assert seen == [f"{server.url}/api/storage/{storage_id}", None]
