"""Server settings, as the CLI builds them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass
class ServerConfig:
    project_dir: Path
    port: int = 3210
    site_port: int = 3211
    host: str = "127.0.0.1"
    database_url: str | None = None
    dev: bool = True
    reload: bool = False
    instance_name: str = "livebase"

    @property
    def functions_dir(self) -> Path:
        return self.project_dir / "functions"

    @property
    def data_dir(self) -> Path:
        return self.project_dir / ".livebase"

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or str(self.data_dir / "data.sqlite3")

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host
        return f"http://{host}:{self.port}"

    @property
    def site_url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host
        return f"http://{host}:{self.site_port}"
