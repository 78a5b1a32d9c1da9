from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

import artifactstore
from artifactstore import ArtifactStore

# Real-server fixtures (moto, fake-gcs-server, Azurite, PostgreSQL) live in the package so
# plugin authors can reuse them.
pytest_plugins = ["artifactstore.testing.fixtures"]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ArtifactStore]:
    with artifactstore.open(tmp_path / "store") as s:
        yield s


@pytest.fixture(autouse=True)
def _isolate_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # A user's environment must not leak into tests.
    for var in ("ARTIFACTSTORE_URL", "ARTIFACTSTORE_CATALOG", "ARTIFACTSTORE_DISABLE_PLUGINS",
                "ARTIFACTSTORE_TRACE_PLUGINS"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    os.environ.setdefault("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")
