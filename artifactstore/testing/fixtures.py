"""pytest plugin: real S3, GCS and Azure Blob servers on loopback, and fresh buckets.

Enable it in a ``conftest.py`` (at the rootdir, since pytest only honours
``pytest_plugins`` there)::

    pytest_plugins = ["artifactstore.testing.fixtures"]

Fixtures:

- ``moto_server``, ``gcs_server``, ``azurite_server`` (session): a running
  :class:`~artifactstore.testing.servers.ServerHandle` each, started on first
  use on a free 127.0.0.1 port and stopped (by its PID) at the end.
- ``s3_url``, ``gcs_url``, ``azure_url`` (function): a :class:`RemoteRoot` on a
  fresh, empty bucket/container -- ``.url`` such as ``s3://t-1a2b.../store`` and
  ``.storage_options`` for fsspec / :class:`~artifactstore.backends.fsspec_backend.FsspecBackend`.
  The bucket is deleted afterwards.

Tests that use them get the ``s3``, ``gcs`` or ``azure`` marker automatically,
so ``pytest -m "not azure"`` works.

When a server cannot start: if the ``CI`` environment variable is set (non-empty)
the test *fails* with the reason -- CI must run every backend; otherwise (a
developer's machine) it is *skipped* with a message saying how to enable it.

Importing this module imports :mod:`artifactstore.testing.servers` first, which
sets ``GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT=false`` before anything can import
gcsfs (gcsfs otherwise waits about a minute per call against the emulator).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

# Importing servers sets GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT=false; nothing above imports gcsfs.
from . import servers
from .servers import ServerHandle, ServerStartError, ServerUnavailable

__all__ = [
    "RemoteRoot",
    "azure_url",
    "azurite_server",
    "gcs_server",
    "gcs_url",
    "moto_server",
    "s3_url",
]

_MARKERS = {
    "moto_server": ("s3", "needs the moto S3 server"),
    "gcs_server": ("gcs", "needs fake-gcs-server"),
    "azurite_server": ("azure", "needs Azurite (Node.js)"),
}


@dataclass(frozen=True)
class RemoteRoot:
    """A fresh store root on a test server: pass ``url`` and ``storage_options`` to a backend."""

    url: str
    storage_options: Mapping[str, Any]
    bucket: str
    server: ServerHandle

    def __repr__(self) -> str:  # storage options hold keys
        return f"RemoteRoot({self.url!r}, server={self.server.name!r})"


def pytest_configure(config: pytest.Config) -> None:
    # Register the markers here too, so the plugin works under --strict-markers
    # in any project (a plugin author's), not only with our pyproject.toml.
    for marker, doc in _MARKERS.values():
        config.addinivalue_line("markers", f"{marker}: {doc}")
    # gcsfs sends each resumable-upload chunk (> 1 MiB) as raw bytes, and aiohttp warns
    # about it in fsspec's I/O thread. Harmless, but under filterwarnings=error it
    # turns every GCS upload over 5 MiB into an exception. Appended last, so it wins.
    config.addinivalue_line("filterwarnings", "ignore:Sending a large body directly:ResourceWarning:aiohttp")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        names = getattr(item, "fixturenames", ())
        for fixture, (marker, _) in _MARKERS.items():
            if fixture in names:
                item.add_marker(marker)


def _in_ci() -> bool:
    return bool(os.environ.get("CI", ""))


def _start(starter: Callable[..., ServerHandle], log_dir: Path) -> ServerHandle:
    try:
        return starter(log_dir=log_dir)
    except ServerStartError as exc:
        if _in_ci():
            pytest.fail(f"{exc}\n(CI is set: a server that cannot start is a failure, not a skip)", pytrace=False)
        how = "" if isinstance(exc, ServerUnavailable) else " (set CI=1 to make this a failure)"
        pytest.skip(f"{exc}{how}")


def _server(starter: Callable[..., ServerHandle], tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerHandle]:
    handle = _start(starter, tmp_path_factory.mktemp("servers", numbered=True))
    try:
        yield handle
    finally:
        handle.stop()


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerHandle]:
    """moto's S3 server (``python -m moto.server``), for the whole session."""
    yield from _server(servers.start_moto, tmp_path_factory)


@pytest.fixture(scope="session")
def gcs_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerHandle]:
    """fake-gcs-server (in memory), for the whole session."""
    yield from _server(servers.start_fake_gcs, tmp_path_factory)


@pytest.fixture(scope="session")
def azurite_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerHandle]:
    """Azurite's blob service (in memory), for the whole session."""
    yield from _server(servers.start_azurite, tmp_path_factory)


def _fresh_root(server: ServerHandle, scheme: str, request: pytest.FixtureRequest) -> Iterator[RemoteRoot]:
    if not server.is_running():
        pytest.fail(f"{server.name} has died; log tail:\n{server.log_tail()}", pytrace=False)
    bucket = servers.create_bucket(server, prefix="t")
    try:
        yield RemoteRoot(f"{scheme}://{bucket}/store", server.storage_options, bucket, server)
    finally:
        try:
            servers.delete_bucket(server, bucket)
        except Exception as exc:  # cleanup only; the test's own outcome matters more
            request.node.warn(pytest.PytestWarning(f"could not delete {scheme}://{bucket} on {server.name}: {exc!r}"))


@pytest.fixture
def s3_url(moto_server: ServerHandle, request: pytest.FixtureRequest) -> Iterator[RemoteRoot]:
    """A fresh ``s3://<bucket>/store`` root on the moto server."""
    yield from _fresh_root(moto_server, "s3", request)


@pytest.fixture
def gcs_url(gcs_server: ServerHandle, request: pytest.FixtureRequest) -> Iterator[RemoteRoot]:
    """A fresh ``gs://<bucket>/store`` root on fake-gcs-server."""
    yield from _fresh_root(gcs_server, "gs", request)


@pytest.fixture
def azure_url(azurite_server: ServerHandle, request: pytest.FixtureRequest) -> Iterator[RemoteRoot]:
    """A fresh ``az://<container>/store`` root on Azurite."""
    yield from _fresh_root(azurite_server, "az", request)
