"""The object-store backend: S3, GCS, Azure (with their extras) and ``memory://``, through fsspec.

Every protocol goes through the fsspec filesystem object, its calls wrapped
by :class:`~artifactstore.backends.retry.RemoteCalls` (retries, errors with the
redacted URL). Staging is local (:class:`SpoolWriter`): memory up to 4 MiB,
then a spool file, uploaded in one PUT or one completed multipart upload on
commit. Options, retries and error classification live in their own modules
(:mod:`.options`, :mod:`.retry`, :mod:`.failures`, :mod:`.clouds`); local disk
is :mod:`artifactstore.backends.local`.
"""

from __future__ import annotations

import datetime as _dt
import io
import tempfile
import weakref
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, BinaryIO, ClassVar

import fsspec

from ..atomic import discard
from ..errors import BackendError, MissingDependencyError
from ..redact import redact_url
from .base import STAGING_PREFIX, Backend, BlobWriter, ObjectInfo
from .clouds import REMOTE_EXTRAS, require_client
from .local import local_errors
from .options import configure_filesystem, resolve, upload_kwargs
from .retry import RemoteCalls, RetryPolicy

__all__ = ["REMOTE_EXTRAS", "FsspecBackend", "MemoryBackend", "SpoolWriter", "mtime_of", "open_backend"]


def mtime_of(info: Mapping[str, Any]) -> float | None:
    """An object's mtime (seconds since the epoch) from an fsspec info dict, whatever the library calls it."""
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


def _discard_spool(f: Any) -> None:
    try:
        f.close()
    finally:
        discard(f.name)


class SpoolWriter(BlobWriter):
    """Spool in memory (small) or to a local temp file, upload on commit.

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

    @property
    def backend_url(self) -> str:
        """The URL of the store this writer uploads into (for error messages)."""
        return self._b.url

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
    """Backend over an fsspec object store.

    ``FsspecBackend("s3://bucket/prefix", endpoint_url=..., key=..., secret=...)``:
    storage options are passed to the fsspec filesystem as they are (their
    generic form, ``endpoint``, ``part_size``, environment variables, is
    :func:`open_backend`'s). ``FsspecBackend("memory://name")`` gives a
    :class:`MemoryBackend`. Local disk is :class:`~artifactstore.backends.local.LocalBackend`;
    a ``file://`` URL or a path here raises ``ValueError`` naming it.

    Calls go through :class:`~artifactstore.backends.retry.RemoteCalls`:
    transient failures are retried (storage option ``retry``: a
    :class:`~artifactstore.backends.retry.RetryPolicy`, an int, or False), permanent
    ones raise :class:`~artifactstore.errors.BackendError` with the redacted URL.
    Listing caches are off by default (``use_listings_cache=False``): other
    processes write to the same root, and a cached listing would hide their objects.
    """

    supports_append: ClassVar[bool] = False
    is_remote: ClassVar[bool] = True
    has_mtime: ClassVar[bool] = True

    def __new__(cls, url: str = "", *args: Any, **kwargs: Any) -> FsspecBackend:
        # FsspecBackend("memory://...") is the in-process store, as before the split by kind.
        if cls is FsspecBackend and url.partition("://")[0].lower() == "memory":
            cls = MemoryBackend
        return super().__new__(cls)

    def __init__(self, url: str, *, fsync: bool = False, **storage_options: Any) -> None:
        proto, sep, rest = url.partition("://")
        proto = proto.lower()
        if not sep or proto in ("file", "local"):
            raise ValueError(f"{url!r} is on local disk: use artifactstore.backends.local.LocalBackend "
                             "(FsspecBackend serves object stores and memory://)")
        #: The fsspec protocol of the URL (``s3``, ``gs``, ``az``, ``memory``...).
        self.protocol = proto
        self.fsync = fsync  # meaningless for object stores: a completed upload is durable
        self.url = redact_url(url)
        opts = dict(storage_options)
        policy = RetryPolicy.coerce(opts.pop("retry", None))
        require_client(proto)  # imports it: a missing extra is named even if fsspec cached the class
        try:
            fs_class = fsspec.get_filesystem_class(proto)
        except ImportError as exc:
            pkg, extra = REMOTE_EXTRAS.get(proto, (proto, "all"))
            raise MissingDependencyError(pkg, extra, f"the {proto}:// backend") from exc
        except ValueError as exc:
            raise BackendError(f"fsspec knows no protocol {proto!r}", url=self.url) from exc
        if self.is_remote:
            opts.setdefault("skip_instance_cache", True)
            opts.setdefault("use_listings_cache", False)
        self._call = RemoteCalls(self.url, opts, policy)
        #: The fsspec filesystem object.
        self.fs: Any = self._call("connect", "", lambda: fs_class(**opts))
        configure_filesystem(proto, self.fs, opts, policy)
        self._put_kwargs = upload_kwargs(proto, opts)
        #: The root's path on the filesystem (``bucket/prefix``).
        self.root = rest.rstrip("/")

    @property
    def storage_options(self) -> Mapping[str, Any]:
        """The filesystem's own options (see :attr:`Backend.storage_options`)."""
        opts: Mapping[str, Any] = getattr(self.fs, "storage_options", None) or {}
        return opts

    def _rpath(self, key: str) -> str:
        return f"{self.root}/{key}" if key else self.root

    # --- writing -------------------------------------------------------------------------

    def writer(self) -> BlobWriter:
        return SpoolWriter(self)

    def write_bytes(self, key: str, data: bytes) -> None:
        rpath = self._rpath(key)
        self._call("write", key, lambda: self.fs.pipe_file(rpath, data))

    def upload_file(self, path: Path, key: str) -> None:
        rpath = self._rpath(key)
        self._call("upload", key, lambda: self.fs.put_file(str(path), rpath, **self._put_kwargs))

    # --- reading -------------------------------------------------------------------------

    def open_read(self, key: str) -> BinaryIO:
        rpath = self._rpath(key)
        f: BinaryIO = self._call("open", key, lambda: self.fs.open(rpath, "rb"))
        return f

    def read_bytes(self, key: str) -> bytes:
        rpath = self._rpath(key)
        data: bytes = self._call("read", key, lambda: self.fs.cat_file(rpath))
        return data

    def read_range(self, key: str, start: int, length: int) -> bytes:
        if length <= 0:
            # An empty HTTP range is invalid: S3 and Azure answer with the whole object.
            self.info(key)  # FileNotFoundError when absent, like a local read
            return b""
        rpath = self._rpath(key)
        data: bytes = self._call("read", key, lambda: self.fs.cat_file(rpath, start=start, end=start + length))
        return data

    def download_file(self, key: str, path: Path) -> None:
        rpath = self._rpath(key)
        self._call("download", key, lambda: self.fs.get_file(rpath, str(path)))

    # --- metadata ------------------------------------------------------------------------

    def exists(self, key: str) -> bool:
        rpath = self._rpath(key)
        return bool(self._call("exists", key, lambda: self.fs.exists(rpath)))

    def info(self, key: str) -> ObjectInfo:
        rpath = self._rpath(key)
        d = self._call("info", key, lambda: self.fs.info(rpath))
        if d.get("type") == "directory":
            raise FileNotFoundError(key)
        return ObjectInfo(key, int(d.get("size") or 0), mtime_of(d))

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
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
            if key.startswith(STAGING_PREFIX):
                continue
            yield ObjectInfo(key, int(d.get("size") or 0), mtime_of(d))

    def delete(self, key: str) -> None:
        rpath = self._rpath(key)
        try:
            self._call("delete", key, lambda: self.fs.rm_file(rpath))
        except FileNotFoundError:
            pass

    def invalidate_cache(self) -> None:
        """Forget the filesystem's cached listings (if a caller turned them on)."""
        self.fs.invalidate_cache()


class MemoryBackend(FsspecBackend):
    """fsspec's in-process memory filesystem, ``memory://name``: for tests and throwaway stores.

    Not remote (no read cache, no upload workers); objects live as long as the process.
    """

    is_remote: ClassVar[bool] = False


def open_backend(url: str, **options: Any) -> FsspecBackend:
    """Backend factory for cloud URLs: ``open_backend("s3://bucket/prefix", endpoint=..., part_size=...)``.

    Resolves the options (:func:`~artifactstore.backends.options.resolve`: generic
    names, aliases, environment variables), checks the client library
    (:func:`~artifactstore.backends.clouds.require_client`) and returns an
    :class:`FsspecBackend`.
    """
    url, storage_options = resolve(url, options)
    require_client(url.partition("://")[0])
    return FsspecBackend(url, **storage_options)
