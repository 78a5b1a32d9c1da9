"""Every built-in backend passes the shipped conformance suite (artifactstore.testing.backend).

The cloud backends run against real protocol servers on loopback, started by the
pytest plugin artifactstore.testing.fixtures: moto (S3), fake-gcs-server (GCS)
and Azurite (Azure Blob). A small part size makes the large-object tests go
through multipart (S3), resumable (GCS) and staged-block (Azure) uploads.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fsspec
import pytest

from artifactstore.backends.base import Backend
from artifactstore.backends.fsspec_backend import FsspecBackend
from artifactstore.testing.backend import BackendTests
from artifactstore.testing.fixtures import RemoteRoot

MiB = 1 << 20
#: The smallest part S3 accepts; 12 MiB objects then take three parts.
PART_SIZE = 5 * MiB


class TestFileBackend(BackendTests):
    @pytest.fixture
    def backend(self, tmp_path: Path) -> Iterator[Backend]:
        b = FsspecBackend(str(tmp_path / "root"))
        yield b
        b.close()

    def reopen(self, backend: Backend) -> Backend:
        return FsspecBackend(backend.url)


class TestMemoryBackend(BackendTests):
    @pytest.fixture
    def backend(self) -> Iterator[Backend]:
        root = f"memory://conformance-{uuid.uuid4().hex}"
        b = FsspecBackend(root)
        yield b
        b.close()
        fs = fsspec.filesystem("memory")
        if fs.exists(b.root):
            fs.rm(b.root, recursive=True)

    def reopen(self, backend: Backend) -> Backend:
        return FsspecBackend(backend.url)


class _RemoteBackendTests(BackendTests):
    """A fresh bucket per test on the session's server; subclasses name the root fixture."""

    #: storage option that sets the client library's part (block) size
    part_size_option: str = ""

    def _options(self, root: RemoteRoot) -> dict[str, Any]:
        return {**root.storage_options, self.part_size_option: PART_SIZE}

    def _backend(self, root: RemoteRoot) -> Iterator[Backend]:
        self._root = root
        b = FsspecBackend(root.url, **self._options(root))
        yield b
        b.close()

    def reopen(self, backend: Backend) -> Backend:
        return FsspecBackend(self._root.url, **self._options(self._root))


@pytest.fixture(scope="module")
def botocore_session() -> Any:
    """One botocore session for the module's S3 clients.

    Each new S3FileSystem otherwise builds a session and parses botocore's S3
    model again (0.1-0.5 s here, per test); the clients stay one per backend.
    """
    return pytest.importorskip("aiobotocore.session").AioSession()


class TestS3Backend(_RemoteBackendTests):
    part_size_option = "default_block_size"

    @pytest.fixture
    def backend(self, s3_url: RemoteRoot, botocore_session: Any) -> Iterator[Backend]:
        self._session = botocore_session
        yield from self._backend(s3_url)

    def _options(self, root: RemoteRoot) -> dict[str, Any]:
        return {**super()._options(root), "session": self._session}


class TestGCSBackend(_RemoteBackendTests):
    part_size_option = "block_size"

    @pytest.fixture
    def backend(self, gcs_url: RemoteRoot) -> Iterator[Backend]:
        yield from self._backend(gcs_url)


class TestAzureBackend(_RemoteBackendTests):
    part_size_option = "blocksize"

    @pytest.fixture
    def backend(self, azure_url: RemoteRoot) -> Iterator[Backend]:
        yield from self._backend(azure_url)
