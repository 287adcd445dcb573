from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.server import RunningServer, make_project, start_server


@pytest.fixture(scope="module")
def testapp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A dev server running tests/apps/testapp, shared by a test module."""
    project = make_project(tmp_path_factory.mktemp("testapp"), "testapp")
    server = start_server(project)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def testapp_serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """``livebase serve`` (production mode: no reload, redacted errors) on
    tests/apps/testapp, shared by a test module."""
    project = make_project(tmp_path_factory.mktemp("testapp_serve"), "testapp")
    server = start_server(project, mode="serve")
    yield server
    server.stop()


@pytest.fixture
def project(tmp_path: Path):
    """Copy an app from tests/apps into a fresh folder: ``project("testapp")``."""

    def make(app: str) -> Path:
        return make_project(tmp_path / app, app)

    return make
