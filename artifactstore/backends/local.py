"""The local-disk backend: real files under a folder, through ``os`` directly.

Publishes are an atomic rename of a staged file under ``<root>/tmp/`` (same
filesystem), journals are ``O_APPEND`` logs (``supports_append``), large raw
artifacts are copied into the staged file in the kernel (:meth:`LocalWriter.staged_fd`),
and ``fsync=True`` makes every publish and append durable (file and folder).
fsspec's local filesystem is not used: its per-call overhead dominates small
artifacts. The object stores are :mod:`artifactstore.backends.fsspec_backend`.
"""

from __future__ import annotations

import errno
import functools
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO, ClassVar, TypeVar

from ..atomic import discard, fsync_path, open_creating, publish
from ..errors import BackendError, StorageFullError
from .base import STAGING_PREFIX, Backend, BlobWriter, ObjectInfo

__all__ = ["LocalBackend", "LocalWriter", "local_errors", "local_root"]

_FULL = {errno.ENOSPC, errno.EDQUOT}
F = TypeVar("F", bound=Callable[..., Any])


def local_errors(op: str, *, absent_ok: bool = True) -> Callable[[F], F]:
    """Methods that touch local files raise typed errors: an ``OSError`` becomes
    :class:`~artifactstore.errors.BackendError` (:class:`~artifactstore.errors.StorageFullError`
    for ENOSPC/EDQUOT) naming the operation, the key and the store; ``FileNotFoundError``
    passes through where the Backend contract says so (reads, ``absent_ok``).

    Decorates methods of a :class:`~artifactstore.backends.base.Backend` (``self.url``) or of
    a writer that has a ``backend_url`` property (the local writer, the remote spool writer).
    """

    def wrap(fn: F) -> F:
        @functools.wraps(fn)
        def call(self: Any, *args: Any, **kw: Any) -> Any:
            try:
                return fn(self, *args, **kw)
            except BackendError:
                raise
            except OSError as exc:
                if absent_ok and isinstance(exc, FileNotFoundError):
                    raise
                url = self.url if isinstance(self, Backend) else self.backend_url
                key = args[0] if args and isinstance(args[0], str) else ""
                what = f"{op} {key!r} in {url}" if key else f"{op} in {url}"
                if exc.errno in _FULL:
                    raise StorageFullError(f"{what} failed: no space left on the storage ({exc.strerror}); "
                                           "free some space (artifactstore gc --apply) and retry",
                                           url=url, key=key, errno_=exc.errno or 0) from exc
                raise BackendError(f"{what} failed: {type(exc).__name__}: {exc}", url=url, key=key) from exc

        return call  # type: ignore[return-value]

    return wrap


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

    @property
    def backend_url(self) -> str:
        """The URL of the store this writer publishes into (for error messages)."""
        return self._b.url

    @local_errors("write")
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

    @local_errors("publish", absent_ok=False)
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

    @local_errors("stage a write", absent_ok=False)
    def writer(self) -> BlobWriter:
        return LocalWriter(self)

    @local_errors("write", absent_ok=False)
    def write_bytes(self, key: str, data: bytes) -> None:
        w = LocalWriter(self)
        w.write(data)
        w.commit(key)

    @local_errors("append", absent_ok=False)
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

    @local_errors("open")
    def open_read(self, key: str) -> BinaryIO:
        return open(self.path_of(key), "rb")

    @local_errors("read")
    def read_bytes(self, key: str) -> bytes:
        return self.path_of(key).read_bytes()

    @local_errors("download")
    def download_file(self, key: str, path: Path) -> None:
        shutil.copyfile(self.path_of(key), path)

    # --- metadata ------------------------------------------------------------------------

    @local_errors("exists")
    def exists(self, key: str) -> bool:
        return self.path_of(key).exists()

    @local_errors("info")
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

    @local_errors("delete")
    def delete(self, key: str) -> None:
        discard(self.path_of(key))
