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
from artifactstore.backends.fsspec_backend import FsspecBackend, MemoryBackend
from artifactstore.backends.local import LocalBackend
from artifactstore.testing.backend import BackendTests
from artifactstore.testing.fixtures import RemoteRoot

MiB = 1 << 20
#: The smallest part S3 accepts; 12 MiB objects then take three parts.
PART_SIZE = 5 * MiB


class TestFileBackend(BackendTests):
    @pytest.fixture
    def backend(self, tmp_path: Path) -> Iterator[Backend]:
        b = LocalBackend(str(tmp_path / "root"))
        yield b
        b.close()

    def reopen(self, backend: Backend) -> Backend:
        return LocalBackend(backend.url)


class TestMemoryBackend(BackendTests):
    @pytest.fixture
    def backend(self) -> Iterator[Backend]:
        root = f"memory://conformance-{uuid.uuid4().hex}"
        b = MemoryBackend(root)
        yield b
        b.close()
        fs = fsspec.filesystem("memory")
        if fs.exists(b.root):
            fs.rm(b.root, recursive=True)

    def reopen(self, backend: Backend) -> Backend:
        return MemoryBackend(backend.url)


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


def test_backend_classes_by_kind(tmp_path: Path) -> None:
    """One class per kind, capability flags on the class; FsspecBackend("memory://") stays the memory store."""
    local = LocalBackend(f"file://{tmp_path}/x")
    assert (LocalBackend.supports_append, LocalBackend.is_remote) == (True, False)
    assert local.local_path("a/b") == local.path_of("a/b") == tmp_path / "x" / "a" / "b"
    mem = FsspecBackend(f"memory://kinds-{uuid.uuid4().hex}")
    assert type(mem) is MemoryBackend and not mem.is_remote and not mem.supports_append
    assert mem.local_path("a") is None
    assert FsspecBackend.is_remote and not FsspecBackend.supports_append
    for b in (local, mem):  # the flags are the class's, never overwritten per instance
        assert not {"supports_append", "is_remote", "has_mtime"} & set(vars(b)), b
    with pytest.raises(ValueError, match="LocalBackend"):
        FsspecBackend(str(tmp_path / "y"))
    with pytest.raises(ValueError, match="not a local path"):
        LocalBackend("s3://bucket/x")
