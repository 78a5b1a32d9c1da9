"""The one fsspec-based backend: local disk, memory, and (with extras) S3, GCS, Azure.

Local disk gets a fast path through ``os`` (atomic rename publish, O_APPEND
logs, fsync on demand) because fsspec's local filesystem adds per-call
overhead that dominates small artifacts; every other protocol goes through
the fsspec filesystem object.
"""

from __future__ import annotations

import datetime as _dt
import errno
import functools
import io
import os
import shutil
import tempfile
import threading
import uuid
import weakref
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, BinaryIO, ClassVar, TypeVar

import fsspec

from ..errors import BackendError, MissingDependencyError, StorageFullError
from ..redact import redact_url
from . import cloud
from .base import Backend, BlobWriter, ObjectInfo

__all__ = ["FsspecBackend", "REMOTE_EXTRAS"]

TMP_PREFIX = "tmp/"
CHUNK = 8 << 20

#: protocol -> (python package, extra) for helpful errors when it is missing
REMOTE_EXTRAS: dict[str, tuple[str, str]] = cloud.REMOTE_EXTRAS
_FULL = {errno.ENOSPC, errno.EDQUOT}
F = TypeVar("F", bound=Callable[..., Any])


def local_errors(op: str, *, absent_ok: bool = True) -> Callable[[F], F]:
    """Local-disk methods raise typed errors: an ``OSError`` becomes :class:`BackendError`
    (:class:`StorageFullError` for ENOSPC/EDQUOT) naming the operation, the key and the
    store; ``FileNotFoundError`` passes through where the contract says so (reads)."""

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
                b = self if isinstance(self, FsspecBackend) else self._b
                key = args[0] if args and isinstance(args[0], str) else ""
                what = f"{op} {key!r} in {b.url}" if key else f"{op} in {b.url}"
                if exc.errno in _FULL:
                    raise StorageFullError(f"{what} failed: no space left on the storage ({exc.strerror}); "
                                           "free some space (artifactstore gc --apply) and retry",
                                           url=b.url, key=key, errno_=exc.errno or 0) from exc
                raise BackendError(f"{what} failed: {type(exc).__name__}: {exc}", url=b.url, key=key) from exc

        return call  # type: ignore[return-value]

    return wrap


def _split_url(url: str) -> tuple[str, str]:
    if "://" in url:
        proto, _, rest = url.partition("://")
        return proto.lower(), rest
    return "file", url


def _mtime_of(info: Mapping[str, Any]) -> float | None:
    for k in ("mtime", "LastModified", "last_modified", "updated", "created", "creation_time"):
        v = info.get(k)
        if v is None:
            continue
        if isinstance(v, (int, float)):
            return float(v)
        if isinstance(v, _dt.datetime):
            return (v if v.tzinfo else v.replace(tzinfo=_dt.timezone.utc)).timestamp()
        if isinstance(v, str):
            try:
                d = _dt.datetime.fromisoformat(v.replace("Z", "+00:00"))
                return (d if d.tzinfo else d.replace(tzinfo=_dt.timezone.utc)).timestamp()
            except ValueError:
                continue
    return None


class _LocalWriter(BlobWriter):
    """Temp file under <root>/tmp/ on the same filesystem, published by rename."""

    def __init__(self, backend: FsspecBackend) -> None:
        self._b = backend
        tmpdir = backend.root_path / "tmp"
        self._tmp = tmpdir / f"{uuid.uuid4().hex}.part"
        try:
            self._f: BinaryIO | None = open(self._tmp, "w+b")  # noqa: SIM115  (w+: staged_fd reads back)
        except FileNotFoundError:
            tmpdir.mkdir(parents=True, exist_ok=True)
            self._f = open(self._tmp, "w+b")  # noqa: SIM115
        self._n = 0

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
            if self._b.fsync:
                f.flush()
                os.fsync(f.fileno())
            f.close()
            dest = self._b.path_of(key)
            try:
                os.replace(self._tmp, dest)
            except FileNotFoundError:
                dest.parent.mkdir(parents=True, exist_ok=True)
                os.replace(self._tmp, dest)
            if self._b.fsync:
                self._b.fsync_dir(dest.parent)
        except BaseException:
            self.abort()
            raise

    def abort(self) -> None:
        if self._f is not None:
            try:
                self._f.close()
            finally:
                self._f = None
        try:
            os.unlink(self._tmp)
        except FileNotFoundError:
            pass


def _discard_spool(f: Any) -> None:
    try:
        f.close()
    finally:
        try:
            os.unlink(f.name)
        except FileNotFoundError:
            pass


class _SpoolWriter(BlobWriter):
    """For non-local filesystems: spool in memory (small) or to a local temp file, upload on commit.

    The upload goes to the final key in one PUT or one completed multipart
    upload, so readers never see a partial object. Objects up to
    ``SMALL_OBJECT`` bytes stay in memory and go up with one PUT (no temp file
    to create and delete per small artifact). A writer dropped without commit
    or abort removes its spool file when garbage-collected.
    """

    SMALL_OBJECT = 4 << 20

    def __init__(self, backend: FsspecBackend) -> None:
        self._b = backend
        self._buf: io.BytesIO | None = io.BytesIO()
        self._f: Any = None
        self._discard: Any = None
        self._n = 0

    @local_errors("spool")
    def write(self, data: bytes | memoryview) -> int:
        if self._buf is not None and self._n + len(data) > self.SMALL_OBJECT:
            from ..scratch import entry_name, scratch_dir

            # In the store's scratch folder, named after this process: swept when a killed writer left it.
            self._f = tempfile.NamedTemporaryFile(prefix=entry_name("spool") + "-", suffix=".part",  # noqa: SIM115
                                                  dir=scratch_dir(self._b), delete=False)
            self._discard = weakref.finalize(self, _discard_spool, self._f)
            self._f.write(self._buf.getbuffer())
            self._buf = None
        n: int = (self._buf if self._buf is not None else self._f).write(data)
        self._n += n
        return n

    @property
    def bytes_written(self) -> int:
        return self._n

    @local_errors("publish", absent_ok=False)
    def commit(self, key: str) -> None:
        try:
            if self._buf is not None:
                self._b.write_bytes(key, self._buf.getvalue())
            else:
                self._f.close()
                self._b.upload_file(Path(self._f.name), key)
        finally:
            self.abort()

    def abort(self) -> None:
        self._buf = None
        if self._discard is not None:
            self._discard()  # runs once: later calls (and the finalizer) do nothing


class FsspecBackend(Backend):
    """Backend over any fsspec filesystem, with a fast path for local disk.

    ``FsspecBackend("file:///data/store")``, ``FsspecBackend("/data/store")``,
    ``FsspecBackend("memory://store")``, ``FsspecBackend("s3://bucket/prefix",
    endpoint_url=..., key=..., secret=...)``. Storage options are passed to the
    fsspec filesystem; ``fsync=True`` makes local publishes durable.

    Non-local calls go through :class:`~artifactstore.backends.cloud.RemoteCalls`:
    transient failures are retried (storage option ``retry``: a
    :class:`~artifactstore.backends.cloud.RetryPolicy`, an int, or False), permanent
    ones raise :class:`~artifactstore.errors.BackendError` with the redacted URL.
    Listing caches are off by default (``use_listings_cache=False``): other
    processes write to the same root, and a cached listing would hide their objects.
    To give options in the generic form (``endpoint``, ``part_size``, env vars),
    use :func:`artifactstore.backends.cloud.open_backend`.
    """

    supports_append: ClassVar[bool] = False  # set per instance below

    def __init__(self, url: str, *, fsync: bool = False, **storage_options: Any) -> None:
        proto, rest = _split_url(url)
        self.protocol = proto
        self.fsync = fsync
        self._options = storage_options
        self._lock = threading.Lock()
        if proto in ("file", "local"):
            root = Path(rest).expanduser().resolve()
            self.root_path = root
            self.root = str(root)
            self.url = f"file://{root}"
            self.is_local = True
            self.supports_append = True  # type: ignore[misc]
            self.is_remote = False  # type: ignore[misc]
            root.mkdir(parents=True, exist_ok=True)
            self.fs: Any = None
        else:
            self.is_local = False
            self.is_remote = proto != "memory"  # type: ignore[misc]
            self.url = redact_url(url)
            opts = dict(storage_options)
            policy = cloud.RetryPolicy.coerce(opts.pop("retry", None))
            cloud.require_client(proto)  # imports it: a missing extra is named even if fsspec cached the class
            try:
                cls = fsspec.get_filesystem_class(proto)
            except ImportError as exc:
                pkg, extra = REMOTE_EXTRAS.get(proto, (proto, "all"))
                raise MissingDependencyError(pkg, extra, f"the {proto}:// backend") from exc
            except ValueError as exc:
                raise BackendError(f"fsspec knows no protocol {proto!r}", url=self.url) from exc
            if proto != "memory":
                opts.setdefault("skip_instance_cache", True)
                opts.setdefault("use_listings_cache", False)
            self._call = cloud.RemoteCalls(self.url, opts, policy)
            self.fs = self._call("connect", "", lambda: cls(**opts))
            cloud.configure_filesystem(proto, self.fs, opts, policy)
            self._put_kwargs = cloud.upload_kwargs(proto, opts)
            self.root = rest.rstrip("/")
            self.root_path = Path("/nonexistent")

    # --- paths ---------------------------------------------------------------------------

    def path_of(self, key: str) -> Path:
        """The local file of ``key`` (local stores only: ``root_path`` is the store's folder)."""
        return self.root_path / key

    def _rpath(self, key: str) -> str:
        return f"{self.root}/{key}" if key else self.root

    def fsync_dir(self, path: Path) -> None:
        """Make a rename or creation inside the local folder ``path`` durable."""
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def local_path(self, key: str) -> Path | None:
        return self.path_of(key) if self.is_local else None

    # --- writing -------------------------------------------------------------------------

    @local_errors("stage a write", absent_ok=False)
    def writer(self) -> BlobWriter:
        if self.is_local:
            return _LocalWriter(self)
        return _SpoolWriter(self)

    @local_errors("write", absent_ok=False)
    def write_bytes(self, key: str, data: bytes) -> None:
        if self.is_local:
            w = _LocalWriter(self)
            w.write(data)
            w.commit(key)
            return
        rpath = self._rpath(key)
        self._call("write", key, lambda: self.fs.pipe_file(rpath, data))

    @local_errors("append", absent_ok=False)
    def append_bytes(self, key: str, data: bytes) -> None:
        if not self.is_local:
            raise NotImplementedError("append is only supported on local disk")
        path = self.path_of(key)
        # One os.write on an O_APPEND descriptor: concurrent appenders from
        # several processes never interleave within a record.
        try:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        except FileNotFoundError:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            view = memoryview(data)
            while view:
                n = os.write(fd, view)
                view = view[n:]
            if self.fsync:
                os.fsync(fd)
        finally:
            os.close(fd)

    @local_errors("upload", absent_ok=False)
    def upload_file(self, path: Path, key: str) -> None:
        if self.is_local:
            super().upload_file(path, key)
            return
        rpath = self._rpath(key)
        self._call("upload", key, lambda: self.fs.put_file(str(path), rpath, **self._put_kwargs))

    # --- reading -------------------------------------------------------------------------

    @local_errors("open")
    def open_read(self, key: str) -> BinaryIO:
        if self.is_local:
            return open(self.path_of(key), "rb")
        rpath = self._rpath(key)
        f: BinaryIO = self._call("open", key, lambda: self.fs.open(rpath, "rb"))
        return f

    @local_errors("read")
    def read_bytes(self, key: str) -> bytes:
        if self.is_local:
            return self.path_of(key).read_bytes()
        rpath = self._rpath(key)
        data: bytes = self._call("read", key, lambda: self.fs.cat_file(rpath))
        return data

    @local_errors("read")
    def read_range(self, key: str, start: int, length: int) -> bytes:
        if self.is_local:
            return super().read_range(key, start, length)
        if length <= 0:
            # An empty HTTP range is invalid: S3 and Azure answer with the whole object.
            self.info(key)  # FileNotFoundError when absent, like a local read
            return b""
        rpath = self._rpath(key)
        data: bytes = self._call("read", key, lambda: self.fs.cat_file(rpath, start=start, end=start + length))
        return data

    @local_errors("download")
    def download_file(self, key: str, path: Path) -> None:
        if self.is_local:
            shutil.copyfile(self.path_of(key), path)
            return
        rpath = self._rpath(key)
        self._call("download", key, lambda: self.fs.get_file(rpath, str(path)))

    # --- metadata ------------------------------------------------------------------------

    @local_errors("exists")
    def exists(self, key: str) -> bool:
        if self.is_local:
            return self.path_of(key).exists()
        rpath = self._rpath(key)
        return bool(self._call("exists", key, lambda: self.fs.exists(rpath)))

    @local_errors("info")
    def info(self, key: str) -> ObjectInfo:
        if self.is_local:
            st = os.stat(self.path_of(key))
            return ObjectInfo(key, st.st_size, st.st_mtime)
        rpath = self._rpath(key)
        d = self._call("info", key, lambda: self.fs.info(rpath))
        if d.get("type") == "directory":
            raise FileNotFoundError(key)
        return ObjectInfo(key, int(d.get("size") or 0), _mtime_of(d))

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        if self.is_local:
            base = self.path_of(prefix)
            if not base.exists():
                return
            for dirpath, dirnames, filenames in os.walk(base):
                dirnames.sort()
                for fn in sorted(filenames):
                    full = os.path.join(dirpath, fn)
                    key = os.path.relpath(full, self.root_path).replace(os.sep, "/")
                    if key.startswith(TMP_PREFIX):
                        continue
                    try:
                        st = os.stat(full)
                    except FileNotFoundError:
                        continue
                    yield ObjectInfo(key, st.st_size, st.st_mtime)
            return
        rbase = self._rpath(prefix).rstrip("/")
        try:
            found = self._call("list", prefix, lambda: self.fs.find(rbase, detail=True, withdirs=False))
        except FileNotFoundError:
            return
        root = self.root.strip("/")
        for full, d in sorted(found.items()):
            if d.get("type") == "directory":
                continue
            key = full.strip("/")
            if root:
                if not key.startswith(root + "/"):
                    continue
                key = key[len(root) + 1 :]
            if key.startswith(TMP_PREFIX):
                continue
            yield ObjectInfo(key, int(d.get("size") or 0), _mtime_of(d))

    @local_errors("delete")
    def delete(self, key: str) -> None:
        if self.is_local:
            try:
                os.unlink(self.path_of(key))
            except FileNotFoundError:
                pass
            return
        rpath = self._rpath(key)
        try:
            self._call("delete", key, lambda: self.fs.rm_file(rpath))
        except FileNotFoundError:
            pass

    def invalidate_cache(self) -> None:
        if self.fs is not None:
            self.fs.invalidate_cache()
