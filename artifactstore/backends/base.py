"""The contract a storage backend implements.

Users never call a backend directly: :class:`artifactstore.ArtifactStore` is the
user API and the only caller of these methods. A backend stores opaque objects
under ``/``-separated keys relative to its root (``blobs/sha256/ab/ab12...``,
``manifests/...``). It knows nothing of codecs, catalogs or artifacts.

Implementers subclass :class:`Backend` and :class:`BlobWriter`, set the
capability flags truthfully, and run the conformance suite in
:mod:`artifactstore.testing` against their backend. Methods marked *default*
have a working implementation built on the abstract ones; override them only
to do better.
"""

from __future__ import annotations

import shutil
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, ClassVar

__all__ = ["STAGING_PREFIX", "Backend", "BlobWriter", "ObjectInfo"]

#: Where a backend may keep staged objects inside its root (``tmp/<id>.part`` on
#: local disk). Keys under it are never listed, and gc removes stale ones.
STAGING_PREFIX = "tmp/"


@dataclass(frozen=True)
class ObjectInfo:
    """What a listing or :meth:`Backend.info` reports about one object.

    ``key`` is relative to the backend's root. ``mtime`` is seconds since the
    epoch as the *storage* sees it (the server's clock for object stores), or
    ``None`` when the backend cannot tell.
    """

    key: str
    size: int
    mtime: float | None = None


class BlobWriter(ABC):
    """A staged object being written; invisible to readers until :meth:`commit`.

    The store writes the encoded bytes with :meth:`write`, then calls exactly
    one of :meth:`commit` (publish under ``key``) or :meth:`abort` (discard).
    A writer that is garbage-collected or whose process dies without either
    call must leave nothing visible under ``blobs/``; leftover staging files
    live under ``tmp/`` (or outside the backend) where gc can remove them.
    """

    @abstractmethod
    def write(self, data: bytes | memoryview) -> int:
        """Append ``data`` to the staged object; return the number of bytes written."""

    @abstractmethod
    def commit(self, key: str) -> None:
        """Publish the staged bytes atomically under ``key``.

        After this returns, a reader sees either the whole object or, if the
        key already existed, the old object (content-addressed keys make the
        two identical). Must never expose a partially written object.
        """

    @abstractmethod
    def abort(self) -> None:
        """Discard the staged bytes. Safe to call more than once or after a failure."""

    @property
    @abstractmethod
    def bytes_written(self) -> int:
        """How many bytes have been written so far."""

    def staged_fd(self) -> int | None:
        """A read-write OS file descriptor of the staged object, if it is a local file.

        The store then copies large raw artifacts into it in the kernel
        (``os.copy_file_range``) and hashes them back with ``os.pread``,
        calling :meth:`note_written` for what it wrote. Only offered before
        any :meth:`write`. *Default*: ``None`` (no zero-copy path).
        """
        return None

    def note_written(self, n: int) -> None:
        """Account for ``n`` bytes written through :meth:`staged_fd`. *Default*: unsupported."""
        raise NotImplementedError


class Backend(ABC):
    """Abstract storage backend.

    Capability flags (class attributes) tell the store and the conformance
    suite what the backend can do; a capability that is ``False`` makes the
    suite skip the matching tests with a reason, never fail them.

    Errors: a read of an absent key raises ``FileNotFoundError``; every other failure
    raises :class:`~artifactstore.errors.BackendError` naming the operation and the key
    (:class:`~artifactstore.errors.StorageFullError` when the storage is out of space), so
    that the store's callers only ever see typed errors.
    ``artifactstore.testing.FaultyBackend`` injects such failures to test what is built on top.
    """

    #: Whether :meth:`append_bytes` is supported (cheap in-place appends, e.g.
    #: local disk). The store then keeps one manifest log per writer instead of
    #: one object per put.
    supports_append: ClassVar[bool] = False
    #: Whether the backend lives on another machine (object stores). The store
    #: then uses a local read cache by default and uploads new content without a
    #: HEAD request first.
    is_remote: ClassVar[bool] = False
    #: Whether object mtimes come from the storage's clock and are reliable
    #: enough for gc's grace period.
    has_mtime: ClassVar[bool] = True

    #: The backend's URL with credentials removed: safe to print.
    url: str

    # --- writing -------------------------------------------------------------------------

    @abstractmethod
    def writer(self) -> BlobWriter:
        """Start a staged write. See :class:`BlobWriter`."""

    @abstractmethod
    def write_bytes(self, key: str, data: bytes) -> None:
        """Write a small object atomically (whole or not at all), replacing any old one."""

    def append_bytes(self, key: str, data: bytes) -> None:
        """Append to an object, creating it if needed (only if ``supports_append``).

        Appends of one call must not interleave with other writers' appends
        (``O_APPEND`` semantics). *Default*: raises ``NotImplementedError``.
        """
        raise NotImplementedError(f"{type(self).__name__} does not support appends")

    def upload_file(self, path: Path, key: str) -> None:
        """Publish the local file ``path`` under ``key``.

        *Default*: streams it through :meth:`writer`. Remote backends override
        it with their multipart/resumable/block upload.
        """
        w = self.writer()
        try:
            with open(path, "rb") as f:
                while chunk := f.read(8 << 20):
                    w.write(chunk)
            w.commit(key)
        except BaseException:
            w.abort()
            raise

    # --- reading -------------------------------------------------------------------------

    @abstractmethod
    def open_read(self, key: str) -> BinaryIO:
        """Open ``key`` for streaming, seekable reading.

        Raises ``FileNotFoundError`` (or a subclass) when the key is absent.
        """

    @abstractmethod
    def read_bytes(self, key: str) -> bytes:
        """Whole content of a (small) object; ``FileNotFoundError`` when absent."""

    def read_range(self, key: str, start: int, length: int) -> bytes:
        """``length`` bytes from offset ``start`` (short at end of object). *Default*: seek + read."""
        with self.open_read(key) as f:
            f.seek(start)
            return f.read(length)

    def download_file(self, key: str, path: Path) -> None:
        """Copy ``key`` into the local file ``path``. *Default*: stream through :meth:`open_read`."""
        with self.open_read(key) as src, open(path, "wb") as dst:
            shutil.copyfileobj(src, dst, 8 << 20)

    # --- metadata ------------------------------------------------------------------------

    @abstractmethod
    def exists(self, key: str) -> bool:
        """Whether ``key`` exists."""

    @abstractmethod
    def info(self, key: str) -> ObjectInfo:
        """Size and mtime of ``key``; ``FileNotFoundError`` when absent."""

    @abstractmethod
    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """Every object whose key starts with ``prefix`` (a folder-like prefix ending in ``/``
        or empty), recursively, in no particular order. Staging objects are not listed."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Delete ``key``. Deleting an absent key is not an error."""

    # --- lifecycle -----------------------------------------------------------------------

    def local_path(self, key: str) -> Path | None:
        """The real local file behind ``key``, if there is one (local disk), else ``None``.

        Used for hard-link checkouts and the seed facade's ``file_path``. *Default*: ``None``.
        """
        return None

    @property
    def storage_options(self) -> Mapping[str, Any]:
        """The options the storage client was built with (endpoint, account, credentials...):
        what, beyond :attr:`url`, says where the root lives (``backends.options.location_key``
        reads it without secrets). May hold credentials: never log or print it.
        *Default*: empty (the URL says it all, as on local disk)."""
        return {}

    def close(self) -> None:  # noqa: B027 - optional hook with a default
        """Release connections and threads. *Default*: nothing."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r})"
