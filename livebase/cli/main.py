"""``livebase``: create, serve and operate a Livebase deployment."""

from __future__ import annotations

import asyncio
import json
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


def _serve(directory: str, port: int, site_port: int, host: str, database: str | None, dev: bool) -> None:
    from livebase.server.config import ServerConfig
    from livebase.server.serve import run

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
    except Exception as e:  # startup errors: bad schema, import errors, port in use
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
            _print_result(asyncio.run(_run_in_process(project, path, args)))
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
        raise click.ClickException(f"{response.status_code}: {response.text}")
    _print_result(response.json())


async def _run_in_process(project: Path, path: str, args: dict[str, Any]) -> dict[str, Any]:
    from livebase.auth.identity import ADMIN
    from livebase.functions.paths import InvalidPath
    from livebase.server.app import LivebaseApp
    from livebase.server.config import ServerConfig
    from livebase.server.http_api import outcome_body
    from livebase.values.wire import from_clean_json

    app = LivebaseApp(ServerConfig(project_dir=project, dev=True))
    try:
        await app.startup()
        try:
            outcome = await app.runner.run(path, from_clean_json(args), identity=ADMIN, internal_ok=True)
        except InvalidPath as e:
            raise click.ClickException(str(e)) from None
        return outcome_body(outcome, "json")
    finally:
        await app.shutdown()


if __name__ == "__main__":  # pragma: no cover
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
