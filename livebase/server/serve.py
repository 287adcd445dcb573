"""Run the API (and site) servers with uvicorn in one event loop."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import gc
import json
import logging
import os
import signal
import socket
from collections.abc import Callable, Iterator
from typing import Any

import uvicorn

from livebase.database.database import Progress
from livebase.server.app import LivebaseApp
from livebase.server.config import ServerConfig

log = logging.getLogger("livebase.server")


class _Server(uvicorn.Server):
    # We install our own signal handlers (several servers share one loop).
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _uvicorn_config(asgi: Any, host: str, port: int) -> uvicorn.Config:
    return uvicorn.Config(
        asgi,
        host=host,
        port=port,
        http="httptools",
        ws="websockets-sansio",
        ws_max_size=(16 << 20) + 65536,
        ws_per_message_deflate=False,
        lifespan="off",
        log_level="warning",
        access_log=False,
        server_header=False,
    )


class ServerError(RuntimeError):
    """The server could not start (port in use, bad host...)."""


def bind_socket(host: str, port: int, what: str) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        reason = "is already in use" if e.errno == errno.EADDRINUSE else f"can't be used ({e.strerror})"
        raise ServerError(f"{what} port {host}:{port} {reason}; pick another with --port/--site-port") from None
    sock.set_inheritable(True)
    return sock


def write_state_file(config: ServerConfig, app: LivebaseApp) -> None:
    config.data_dir.mkdir(parents=True, exist_ok=True)
    state = {
        "url": config.url,
        "site_url": config.site_url,
        "pid": os.getpid(),
        "admin_key": app.admin_key,
    }
    path = config.data_dir / "server.json"
    path.write_text(json.dumps(state, indent=2))
    path.chmod(0o600)


def remove_state_file(config: ServerConfig) -> None:
    with contextlib.suppress(FileNotFoundError):
        (config.data_dir / "server.json").unlink()


async def serve(
    config: ServerConfig,
    *,
    on_ready: Callable[[LivebaseApp], None] | None = None,
    progress: Progress | None = None,
    on_reload: Callable[[LivebaseApp, Exception | None, Any], None] | None = None,
) -> None:
    # Bind first: a port in use is reported before any work, as a clear error.
    api_socket = bind_socket(config.host, config.port, "API")
    try:
        app = LivebaseApp(config)
    except BaseException:
        api_socket.close()
        raise
    try:
        await app.startup(progress)
        site = app.site_asgi()
        site_socket = bind_socket(config.host, config.site_port, "HTTP actions") if site is not None else None
    except BaseException:
        api_socket.close()
        await app.shutdown()
        raise
    servers = [(_Server(_uvicorn_config(app.api_asgi(), config.host, config.port)), api_socket)]
    if site is not None:
        assert site_socket is not None
        servers.append((_Server(_uvicorn_config(site, config.host, config.site_port)), site_socket))

    loop = asyncio.get_running_loop()

    def request_stop() -> None:
        for s, _ in servers:
            s.should_exit = True

    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, request_stop)

    tasks = [asyncio.create_task(s.serve(sockets=[sock])) for s, sock in servers]
    while not all(s.started for s, _ in servers):
        if any(t.done() for t in tasks):
            request_stop()
            await asyncio.gather(*tasks, return_exceptions=True)
            await app.shutdown()
            raise ServerError(f"the server stopped while starting on {config.host}:{config.port}")
        await asyncio.sleep(0.01)
    # Everything loaded so far lives as long as the server: keep it out of
    # garbage collection, and collect the young generation less often
    # (full collections of a big heap are the long pauses).
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 20, 50)
    write_state_file(config, app)
    if on_ready is not None:
        on_ready(app)
    watcher = None
    if config.reload:
        watcher = asyncio.create_task(_watch(app, on_reload))
    try:
        await asyncio.gather(*tasks)
    finally:
        if watcher is not None:
            watcher.cancel()
        remove_state_file(config)
        await app.shutdown()


async def _watch(app: LivebaseApp, on_reload: Callable[[LivebaseApp, Exception | None, Any], None] | None) -> None:
    from watchfiles import awatch

    async for _changes in awatch(app.config.functions_dir, debounce=200, step=50):
        try:
            report = await app.reload()
        except Exception as e:  # noqa: BLE001 - keep serving the previous functions
            if on_reload:
                on_reload(app, e, None)
            else:
                log.error("reload failed: %s", e)
            continue
        if on_reload:
            on_reload(app, None, report)


def run(config: ServerConfig, **kwargs: Any) -> None:
    import uvloop

    uvloop.run(serve(config, **kwargs))
