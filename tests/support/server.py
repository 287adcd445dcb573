"""Start real Livebase servers (subprocesses on free ports) for tests."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]
APPS = REPO / "tests" / "apps"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_project(dest: Path, app: str | Path) -> Path:
    """Copy an app (a folder holding functions/) to ``dest`` and return it."""
    src = APPS / app if isinstance(app, str) else Path(app)
    shutil.copytree(src / "functions", dest / "functions", ignore=shutil.ignore_patterns("__pycache__"))
    return dest


@dataclass
class RunningServer:
    project_dir: Path
    mode: str
    port: int
    site_port: int
    database: str | None = None
    extra_env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen | None = None
    admin_key: str = ""
    log_path: Path | None = None
    # How the CLI is invoked: its working directory and the --dir argument
    # (default: the absolute project_dir).
    cwd: Path | None = None
    dir_arg: str | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def site_url(self) -> str:
        return f"http://127.0.0.1:{self.site_port}"

    def start(self, timeout: float = 30.0) -> RunningServer:
        cmd = [
            sys.executable, "-m", "livebase.cli.main", self.mode,
            "--dir", self.dir_arg or str(self.project_dir),
            "--port", str(self.port),
            "--site-port", str(self.site_port),
        ]
        if self.database:
            cmd += ["--database", self.database]
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **self.extra_env}
        self.log_path = self.project_dir / f"server-{self.port}.log"
        with open(self.log_path, "ab") as log:  # the child keeps its own copy
            self.process = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=self.cwd)
        deadline = time.monotonic() + timeout
        state: dict | None = None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}:\n{self.log()}")
            # server.json is written just after the port opens; a stale one
            # (left by a killed server) names another pid.
            state = self._state_file()
            try:
                if state is not None and httpx.get(self.url + "/version", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        else:
            self.stop()
            raise RuntimeError(f"server did not answer /version within {timeout}s:\n{self.log()}")
        assert state is not None
        self.admin_key = state["admin_key"]
        return self

    def _state_file(self) -> dict | None:
        try:
            state = json.loads((self.project_dir / ".livebase" / "server.json").read_text())
        except (OSError, ValueError):
            return None
        if self.process is None or state.get("pid") != self.process.pid:
            return None
        return state

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path and self.log_path.exists() else ""

    def stop(self, timeout: float = 15.0) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def kill(self) -> None:
        """SIGKILL, as a crash would."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def restart(self) -> RunningServer:
        self.stop()
        return self.start()

    def admin_headers(self) -> dict[str, str]:
        return {"Authorization": f"Convex {self.admin_key}"}


def start_server(
    project_dir: Path,
    *,
    mode: str = "dev",
    database: str | None = None,
    env: dict[str, str] | None = None,
) -> RunningServer:
    return RunningServer(project_dir, mode, free_port(), free_port(), database, env or {}).start()
