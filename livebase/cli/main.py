"""``livebase``: create, serve and operate a Livebase deployment."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import click
import httpx
import orjson
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn

from livebase import __version__

console = Console(stderr=True)
TEMPLATES = Path(__file__).parent / "templates"


def _project_dir(dir_: str) -> Path:
    path = Path(dir_).resolve()
    if not (path / "functions").is_dir():
        raise click.ClickException(
            f"{path} has no functions/ folder. Create a project with `livebase init {dir_}`."
        )
    return path


@click.group()
@click.version_option(__version__, prog_name="livebase")
def main() -> None:
    """Livebase: a reactive backend for Python functions."""


@main.command()
@click.argument("directory", default=".", type=click.Path(file_okay=False))
def init(directory: str) -> None:
    """Create a starter project in DIRECTORY (default: here)."""
    target = Path(directory).resolve()
    functions = target / "functions"
    if functions.exists() and any(functions.iterdir()):
        raise click.ClickException(f"{functions} already exists and is not empty")
    target.mkdir(parents=True, exist_ok=True)
    starter = TEMPLATES / "starter"
    for src in starter.rglob("*"):
        if src.is_dir() or "__pycache__" in src.parts:
            continue
        rel = src.relative_to(starter)
        dest = target / (".gitignore" if rel.name == "gitignore" else rel)
        if dest.exists():
            continue
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dest)
    console.print(f"[green]Created a Livebase project in {target}[/]")
    console.print(f"Next: [bold]livebase dev --dir {directory}[/]")


def _progress_reporter() -> Any:
    bars: dict[str, Any] = {}
    progress = Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"), console=console, transient=True)

    def report(stage: str, done: int, total: int) -> None:
        if not bars:
            progress.start()
        task = bars.get(stage)
        if task is None:
            task = bars[stage] = progress.add_task(stage, total=max(total, 1))
        progress.update(task, completed=done, total=max(total, done, 1))

    def stop() -> None:
        if bars:
            progress.stop()

    report.stop = stop  # type: ignore[attr-defined]
    return report


def _describe_report(report: Any) -> None:
    for t in report.tables_created:
        console.print(f"  [green]+[/] table {t}")
    for ix in report.indexes_added:
        console.print(f"  [green]+[/] index {ix}")
    for ix in report.indexes_removed:
        console.print(f"  [red]-[/] index {ix}")


class _ServerLogFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        text = f"{record.levelname} {record.name}: {record.getMessage()}"
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


def _configure_logging() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_ServerLogFormatter())
    logger = logging.getLogger("livebase")
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    logger.propagate = False


def _serve(directory: str, port: int, site_port: int, host: str, database: str | None, dev: bool) -> None:
    from livebase.server.config import ServerConfig
    from livebase.server.serve import run

    _configure_logging()
    project = _project_dir(directory)
    config = ServerConfig(
        project_dir=project,
        port=port,
        site_port=site_port,
        host=host,
        database_url=database,
        dev=dev,
        reload=dev,
    )
    progress = _progress_reporter()

    def ready(app: Any) -> None:
        progress.stop()
        mode = "dev" if dev else "production"
        console.print(f"[bold green]Livebase {__version__}[/] ({mode}) serving {config.functions_dir}", soft_wrap=True)
        console.print(f"  API:          {config.url}", soft_wrap=True)
        if app.site_asgi() is not None:
            console.print(f"  HTTP actions: {config.site_url}", soft_wrap=True)
        console.print(f"  Database:     {config.resolved_database_url}", soft_wrap=True)
        console.print(f"  Admin key:    {app.admin_key}", soft_wrap=True, highlight=False)
        console.print(f"  Functions:    {len(app.registry.functions)} loaded", soft_wrap=True)
        if dev:
            console.print("  Watching functions/ for changes. Press Ctrl+C to stop.")
        sys.stdout.flush()

    def reloaded(app: Any, error: Exception | None, report: Any) -> None:
        if error is not None:
            console.print(f"[red]Reload failed, still serving the previous functions:[/] {error}")
            return
        console.print(f"[green]Reloaded[/] {len(app.registry.functions)} functions")
        _describe_report(report)

    try:
        run(config, on_ready=ready, progress=progress, on_reload=reloaded)
    except Exception as e:  # noqa: BLE001 - startup errors: bad schema, import errors, port in use
        progress.stop()
        raise click.ClickException(str(e)) from None


@main.command()
@click.option("--dir", "directory", default=".", help="Project folder (holds functions/).")
@click.option("--port", default=3210, show_default=True, help="API port.")
@click.option("--site-port", default=3211, show_default=True, help="Port for HTTP actions.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--database", default=None, help="Database URL (default: DIR/.livebase/data.sqlite3).")
def dev(directory: str, port: int, site_port: int, host: str, database: str | None) -> None:
    """Serve DIR/functions, reloading on every change."""
    _serve(directory, port, site_port, host, database, dev=True)


@main.command()
@click.option("--dir", "directory", default=".", help="Project folder (holds functions/).")
@click.option("--port", default=3210, show_default=True, help="API port.")
@click.option("--site-port", default=3211, show_default=True, help="Port for HTTP actions.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--database", default=None, help="Database URL (default: DIR/.livebase/data.sqlite3).")
def serve(directory: str, port: int, site_port: int, host: str, database: str | None) -> None:
    """Serve DIR/functions in production mode (no reload, redacted errors)."""
    _serve(directory, port, site_port, host, database, dev=False)


def _running_server(project: Path) -> dict[str, Any] | None:
    state_file = project / ".livebase" / "server.json"
    try:
        state = json.loads(state_file.read_text())
    except (OSError, ValueError):
        return None
    try:
        httpx.get(state["url"] + "/version", timeout=2).raise_for_status()
    except (httpx.HTTPError, KeyError):
        return None
    return state


def _print_result(body: dict[str, Any]) -> None:
    for line in body.get("logLines", []):
        console.print(line, markup=False, highlight=False)
    if body.get("status") == "success":
        click.echo(json.dumps(body.get("value"), indent=2, ensure_ascii=False))
        return
    console.print(f"[red]{body.get('errorMessage')}[/]", markup=True, highlight=False)
    if "errorData" in body:
        console.print(json.dumps(body["errorData"], indent=2))
    sys.exit(1)


@main.command("run")
@click.argument("path")
@click.argument("args_json", default="{}")
@click.option("--dir", "directory", default=".", help="Project folder.")
@click.option("--url", default=None, help="Deployment URL (default: the running dev server, else in-process).")
@click.option("--admin-key", default=None, envvar="LIVEBASE_ADMIN_KEY", help="Admin key for --url.")
def run_cmd(path: str, args_json: str, directory: str, url: str | None, admin_key: str | None) -> None:
    """Run a function (public or internal) with JSON arguments and print its result."""
    try:
        args = orjson.loads(args_json)
    except orjson.JSONDecodeError as e:
        raise click.ClickException(f"ARGS_JSON is not valid JSON: {e}") from None
    if not isinstance(args, dict):
        raise click.ClickException("ARGS_JSON must be a JSON object, like '{\"body\": \"hi\"}'")
    if url is None:
        project = _project_dir(directory)
        state = _running_server(project)
        if state is None:
            try:
                body = asyncio.run(_run_in_process(project, path, args))
            except click.ClickException:
                raise
            except Exception as e:  # noqa: BLE001 - load errors, schema errors, database in use
                raise click.ClickException(str(e)) from None
            _print_result(body)
            return
        url, admin_key = state["url"], admin_key or state.get("admin_key")
    headers = {"Authorization": f"Convex {admin_key}"} if admin_key else {}
    try:
        response = httpx.post(
            url.rstrip("/") + "/api/function",
            json={"path": path, "args": args, "format": "json"},
            headers=headers,
            timeout=None,
        )
    except httpx.HTTPError as e:
        raise click.ClickException(f"could not reach {url}: {e}") from None
    if response.status_code != 200:
        raise click.ClickException(_error_text(response))
    _print_result(response.json())


async def _run_in_process(project: Path, path: str, args: dict[str, Any]) -> dict[str, Any]:
    from livebase.auth.identity import ADMIN
    from livebase.functions.paths import InvalidPath
    from livebase.server.app import LivebaseApp
    from livebase.server.config import ServerConfig
    from livebase.server.http_api import outcome_body
    from livebase.values.wire import from_clean_json

    app = LivebaseApp(ServerConfig(project_dir=project, dev=True))
    # A one-off run must not execute due jobs or fire crons: the server will.
    app.scheduler.enabled = False
    try:
        await app.startup()
        try:
            outcome = await app.runner.run(path, from_clean_json(args), identity=ADMIN, internal_ok=True)
        except InvalidPath as e:
            raise click.ClickException(str(e)) from None
        return outcome_body(outcome, "json")
    finally:
        await app.shutdown()


def _deployment(directory: str, url: str | None, admin_key: str | None) -> tuple[str, str] | None:
    """(url, admin key) of the deployment to talk to, or None if no server runs."""
    if url is not None:
        if not admin_key:
            raise click.ClickException("--url needs --admin-key (or LIVEBASE_ADMIN_KEY)")
        return url.rstrip("/"), admin_key
    state = _running_server(_project_dir(directory))
    if state is None:
        return None
    return state["url"], admin_key or state["admin_key"]


def _admin_request(method: str, url: str, admin_key: str, path: str, **kwargs: Any) -> Any:
    try:
        response = httpx.request(
            method, url + path, headers={"Authorization": f"Convex {admin_key}"}, timeout=30, **kwargs
        )
    except httpx.HTTPError as e:
        raise click.ClickException(f"could not reach {url}: {e}") from None
    if response.status_code != 200:
        raise click.ClickException(_error_text(response))
    return response.json()


def _error_text(response: httpx.Response) -> str:
    """A server's ``{"code", "message"}`` error as the message alone."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return body["message"]
    return f"{response.status_code}: {response.text}"


@main.command()
@click.option("--dir", "directory", default=".", help="Project folder.")
@click.option("--url", default=None, help="Deployment URL (default: the running server of --dir).")
@click.option("--admin-key", default=None, envvar="LIVEBASE_ADMIN_KEY")
@click.option("--history", default=20, show_default=True, help="How many past runs to show first.")
@click.option("--follow/--no-follow", default=True, show_default=True, help="Keep printing new runs.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per run.")
def logs(directory: str, url: str | None, admin_key: str | None, history: int, follow: bool, as_json: bool) -> None:
    """Show function runs (path, kind, duration, outcome, log lines) as they happen."""
    from livebase.server.logs import format_entry

    target = _deployment(directory, url, admin_key)
    if target is None:
        raise click.ClickException("no Livebase server is running for this project; start `livebase dev`")
    base, key = target

    def show(entry: dict[str, Any]) -> None:
        click.echo(json.dumps(entry) if as_json else format_entry(entry))

    if not follow:
        for entry in _admin_request("GET", base, key, f"/api/_admin/logs?history={history}")["entries"]:
            show(entry)
        return
    try:
        with httpx.stream(
            "GET",
            f"{base}/api/_admin/logs?follow=1&history={history}",
            headers={"Authorization": f"Convex {key}"},
            timeout=httpx.Timeout(10, read=None),
        ) as response:
            if response.status_code != 200:
                raise click.ClickException(f"{response.status_code}: {response.read().decode()}")
            for line in response.iter_lines():
                if line.strip():
                    show(json.loads(line))
    except httpx.HTTPError as e:
        raise click.ClickException(f"lost the connection to {base}: {e}") from None
    except KeyboardInterrupt:
        pass


@main.group()
def env() -> None:
    """Environment variables of the deployment (read by functions as ctx.env)."""


async def _env_in_process(project: Path, changes: dict[str, str | None] | None) -> dict[str, str]:
    from livebase.server.app import LivebaseApp
    from livebase.server.config import ServerConfig
    from livebase.server.env import load_env

    app = LivebaseApp(ServerConfig(project_dir=project))
    try:
        app.env = load_env(app.db.globals.get("env"))
        if changes:
            await app.set_env(changes)
        return dict(sorted(app.env.items()))
    finally:
        await app.db.committer.wait_idle()
        app.db.close()


def _env_call(directory: str, url: str | None, admin_key: str | None, changes: dict[str, str | None] | None) -> dict[str, str]:
    target = _deployment(directory, url, admin_key)
    if target is None:
        try:
            return asyncio.run(_env_in_process(_project_dir(directory), changes))
        except ValueError as e:
            raise click.ClickException(str(e)) from None
    base, key = target
    if changes:
        return _admin_request("POST", base, key, "/api/_admin/env", json={"changes": changes})["env"]
    return _admin_request("GET", base, key, "/api/_admin/env")["env"]


def _env_value(directory: str, url: str | None, admin_key: str | None, name: str) -> str:
    """The value of ``name``; a clear error if it is not set."""
    values = _env_call(directory, url, admin_key, None)
    if name not in values:
        raise click.ClickException(f"{name} is not set")
    return values[name]


_env_options = [
    click.option("--dir", "directory", default=".", help="Project folder."),
    click.option("--url", default=None, help="Deployment URL (default: running server, else the data folder)."),
    click.option("--admin-key", default=None, envvar="LIVEBASE_ADMIN_KEY"),
]


def _with_env_options(fn: Any) -> Any:
    for option in reversed(_env_options):
        fn = option(fn)
    return fn


@env.command("set")
@click.argument("name")
@click.argument("value")
@_with_env_options
def env_set(name: str, value: str, directory: str, url: str | None, admin_key: str | None) -> None:
    """Set NAME to VALUE."""
    _env_call(directory, url, admin_key, {name: value})
    console.print(f"Set {name}")


@env.command("get")
@click.argument("name")
@_with_env_options
def env_get(name: str, directory: str, url: str | None, admin_key: str | None) -> None:
    """Print the value of NAME."""
    click.echo(_env_value(directory, url, admin_key, name))


@env.command("list")
@_with_env_options
def env_list(directory: str, url: str | None, admin_key: str | None) -> None:
    """Print every variable as NAME=VALUE."""
    for name, value in _env_call(directory, url, admin_key, None).items():
        click.echo(f"{name}={value}")


@env.command("remove")
@click.argument("name")
@_with_env_options
def env_remove(name: str, directory: str, url: str | None, admin_key: str | None) -> None:
    """Remove NAME."""
    _env_value(directory, url, admin_key, name)
    _env_call(directory, url, admin_key, {name: None})
    console.print(f"Removed {name}")


if __name__ == "__main__":  # pragma: no cover
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
