"""The local-disk backend: real files under a folder, through ``os`` directly.

Publishes are an atomic rename of a staged file under ``<root>/tmp/`` (same
filesystem), journals are ``O_APPEND`` logs (``supports_append``), large raw
artifacts are copied into the staged file in the kernel (:meth:`LocalWriter.staged_fd`),
and ``fsync=True`` makes every publish and append durable (file and folder).
fsspec's local filesystem is not used: its per-call overhead dominates small
artifacts. The object stores are :mod:`artifactstore.backends.fsspec_backend`.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO, ClassVar

from ..atomic import discard, fsync_path, open_creating, publish
from .base import STAGING_PREFIX, Backend, BlobWriter, ObjectInfo

__all__ = ["LocalBackend", "LocalWriter", "local_root"]


def local_root(url: str) -> Path:
    """The folder of a ``file://`` URL or a plain path (``~`` expanded, made absolute and resolved)."""
    proto, sep, rest = url.partition("://")
    if sep and proto.lower() not in ("file", "local"):
        raise ValueError(f"not a local path or file:// URL: {url!r}")
    return Path(rest if sep else url).expanduser().resolve()


class LocalWriter(BlobWriter):
    """A temp file under ``<root>/tmp/`` on the same filesystem, published by rename."""

    def __init__(self, backend: LocalBackend) -> None:
        self._b = backend
        self._tmp = backend.root_path / STAGING_PREFIX / f"{uuid.uuid4().hex}.part"
        fd = open_creating(self._tmp, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o666)
        self._f: BinaryIO | None = os.fdopen(fd, "w+b")  # read-write: staged_fd reads the bytes back
        self._n = 0

    def write(self, data: bytes | memoryview) -> int:
        assert self._f is not None, "writer already closed"
        n = self._f.write(data)
        self._n += n
        return n

    @property
    def bytes_written(self) -> int:
        return self._n

    def staged_fd(self) -> int | None:
        if self._f is None or self._n:
            return None
        return self._f.fileno()

    def note_written(self, n: int) -> None:
        self._n += n

    def commit(self, key: str) -> None:
        assert self._f is not None, "writer already closed"
        f, self._f = self._f, None
        try:
            f.close()
            publish(self._tmp, self._b.path_of(key), fsync=self._b.fsync, make_parents=True)
        except BaseException:
            self.abort()
            raise

    def abort(self) -> None:
        if self._f is not None:
            try:
                self._f.close()
            finally:
                self._f = None
        discard(self._tmp)


class LocalBackend(Backend):
    """Backend on a local folder: ``LocalBackend("/data/store")`` or ``LocalBackend("file:///data/store")``.

    The folder is created if needed. ``fsync=True`` makes publishes and appends
    durable. Storage options are accepted and ignored (local disk has none), so
    that one set of options can be given to any store URL.

    Beyond the :class:`~artifactstore.backends.base.Backend` contract it offers
    the local files themselves: :attr:`root_path`, :meth:`path_of` and
    :meth:`fsync_dir`, for code that works on a local store's files.
    """

    supports_append: ClassVar[bool] = True
    is_remote: ClassVar[bool] = False
    has_mtime: ClassVar[bool] = True
    #: The fsspec-style protocol name of this backend's URLs.
    protocol: ClassVar[str] = "file"

    def __init__(self, url: str, *, fsync: bool = False, **storage_options: Any) -> None:
        root = local_root(url)
        #: The store's folder.
        self.root_path = root
        #: The store's folder as a string (as ``FsspecBackend.root`` is the root's fsspec path).
        self.root = str(root)
        self.url = f"file://{root}"
        self.fsync = fsync
        root.mkdir(parents=True, exist_ok=True)

    # --- paths ---------------------------------------------------------------------------

    def path_of(self, key: str) -> Path:
        """The local file of ``key`` (whether it exists or not)."""
        return self.root_path / key

    def fsync_dir(self, path: Path) -> None:
        """Make a rename or creation inside the local folder ``path`` durable."""
        fsync_path(path)

    def local_path(self, key: str) -> Path | None:
        return self.path_of(key)

    # --- writing -------------------------------------------------------------------------

    def writer(self) -> BlobWriter:
        return LocalWriter(self)

    def write_bytes(self, key: str, data: bytes) -> None:
        w = LocalWriter(self)
        w.write(data)
        w.commit(key)

    def append_bytes(self, key: str, data: bytes) -> None:
        # One os.write on an O_APPEND descriptor: concurrent appenders from
        # several processes never interleave within a record.
        fd = open_creating(self.path_of(key), os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        try:
            view = memoryview(data)
            while view:
                n = os.write(fd, view)
                view = view[n:]
            if self.fsync:
                os.fsync(fd)
        finally:
            os.close(fd)

    # --- reading -------------------------------------------------------------------------

    def open_read(self, key: str) -> BinaryIO:
        return open(self.path_of(key), "rb")

    def read_bytes(self, key: str) -> bytes:
        return self.path_of(key).read_bytes()

    def download_file(self, key: str, path: Path) -> None:
        shutil.copyfile(self.path_of(key), path)

    # --- metadata ------------------------------------------------------------------------

    def exists(self, key: str) -> bool:
        return self.path_of(key).exists()

    def info(self, key: str) -> ObjectInfo:
        st = os.stat(self.path_of(key))
        return ObjectInfo(key, st.st_size, st.st_mtime)

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        base = self.path_of(prefix)
        if not base.exists():
            return
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames.sort()
            for fn in sorted(filenames):
                full = os.path.join(dirpath, fn)
                key = os.path.relpath(full, self.root_path).replace(os.sep, "/")
                if key.startswith(STAGING_PREFIX):
                    continue
                try:
                    st = os.stat(full)
                except FileNotFoundError:
                    continue
                yield ObjectInfo(key, st.st_size, st.st_mtime)

    def delete(self, key: str) -> None:
        discard(self.path_of(key))
