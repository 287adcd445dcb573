"""Run the API (and site) servers with uvicorn in one event loop."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
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
    app = LivebaseApp(config)
    await app.startup(progress)
    servers = [_Server(_uvicorn_config(app.api_asgi(), config.host, config.port))]
    site = app.site_asgi()
    if site is not None:
        servers.append(_Server(_uvicorn_config(site, config.host, config.site_port)))

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()

    def request_stop() -> None:
        stop.set()
        for s in servers:
            s.should_exit = True

    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, request_stop)

    tasks = [asyncio.create_task(s.serve()) for s in servers]
    while not all(s.started for s in servers):
        if any(t.done() for t in tasks):
            for t in tasks:
                if t.done() and t.exception():
                    raise t.exception()  # type: ignore[misc]
            request_stop()
            raise SystemExit(f"could not start the server on {config.host}:{config.port}")
        await asyncio.sleep(0.01)
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
