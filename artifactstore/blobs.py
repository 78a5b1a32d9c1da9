"""The blob layer: everything about a store's content-addressed blobs, in one place.

A blob holds the bytes of one content, encoded by one codec, named by the SHA-256
of the *original* bytes. :class:`BlobStore` owns its whole life cycle:

- **publish** (:meth:`BlobStore.publish`): stream a source once into a staged
  object (a temp file under ``tmp/`` on local disk, a spool for object stores),
  hashing it in a second thread while the codec encodes it (or copying it in
  the kernel for a large raw file on local disk, or uploading a large raw file
  straight from its path to an object store); then, **under the digest's mutex**,
  decide between reusing a stored blob of the same content (dedup), healing a
  known blob that is missing or truncated, and publishing the staged copy
  atomically, and take a **lease** on the blob before the mutex is released.
  The lease lasts until the artifact rows are committed, so a blob is leased
  from before it becomes visible until its artifact is committed: gc's sweep
  (which takes the same mutex and honours leases) can never delete it in
  between, whatever its grace period, and however long the put waits for the
  catalog. Two implementations of mutex and lease:

  - *local disk*: the mutex is an ``flock`` of the blob's folder
    (``blobs/sha256/<2 hex>``), the lease a shared ``flock`` of the blob file,
    dropped by :meth:`BlobStore.release` after the catalog commit; the sweep
    deletes a blob only while it holds the folder lock and an exclusive lock
    of the file. Both die with their process: a killed writer's orphan is not
    protected beyond its life (gc can remove it at once). A BlobStore holding
    :data:`PIN_LIMIT` such leases (a large batch) takes catalog leases (below)
    for the next ones, before the mutex; a filesystem without ``flock`` uses
    the catalog path throughout.
  - *elsewhere* (object stores, ``memory://``): the catalog's
    :meth:`~artifactstore.catalog.base.Catalog.lease_digest`. A short write
    transaction under the digest lock (a PostgreSQL advisory lock per digest
    bucket; SQLite's write lock, for milliseconds) inserts the lease row and a
    claim of the digest; the decision and the upload run outside any
    transaction, while the claim makes any other writer of that digest wait
    (a killed writer's claim lapses after 30 s); the claim is then dropped.
    The lease is released by the transaction that commits the artifact rows
    (``insert_artifacts``); a lease of a killed writer expires after
    :attr:`BlobStore.lease_seconds`. No catalog lock is held during an
    upload: puts of other content, on SQLite too, proceed meanwhile.
- **stored once under concurrency**: since the decision and the publish happen
  under the digest's mutex (the flock, or the catalog's claim), of two first writes of one content (threads,
  processes, machines sharing a PostgreSQL catalog) the second sees the first's
  blob (and lease) and reuses it, whatever codec either asked for: one blob key
  per digest.
- **read** (:meth:`BlobStore.open`, :meth:`BlobStore.write_file`,
  :meth:`BlobStore.check`): every read is decoded and verified against the
  artifact's SHA-256 and size (through the local read cache for remote stores).
- **exists / local files / listing** (:meth:`exists`, :meth:`local_path`,
  :meth:`listing`, :meth:`sizes`).
- **copy between two stores** as stored bytes (:meth:`BlobStore.copy_to`, used by
  sync), verified by decoding while copying.
- **sweep** for gc (:meth:`BlobStore.orphans`, :meth:`BlobStore.sweep`,
  :meth:`BlobStore.remove_stale_staging`): unreferenced blobs older than the grace
  period, re-checked under the digest lock at the moment each is deleted.

Physical layout. Where a blob's bytes live is a :class:`BlobLayout`: publish,
open, exists, list and the sweep's delete go through it, and nothing else here
knows the backend's key scheme. :class:`LooseLayout` keeps one backend object per
blob, ``blobs/sha256/<2 hex>/<64 hex><codec suffix>``. :class:`PackedLayout` (local
disk, over a catalog that keeps the pack index) adds packs (:mod:`artifactstore.packs`):
the small blobs of a batch appended to one immutable file, read by offset. The blob key
an artifact records stays its content address; the layout resolves it to its loose file,
else to its pack through the catalog's pack index. :meth:`BlobStore.publish_small`
writes packs, :meth:`BlobStore.sweep` deletes and repacks them (docs/architecture.md,
"Packs", has the locking rules).

Nothing outside this module calls a backend for blob work; journals go through
:mod:`artifactstore.manifests`.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import io
import logging
import os
import shutil
import tempfile
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, BinaryIO, cast

from .atomic import discard, replacing
from .backends.base import STAGING_PREFIX, Backend, BlobWriter, ObjectInfo
from .codecs.base import Codec
from .errors import (
    BackendError,
    BlobMissingError,
    CorruptDataError,
    IntegrityError,
    InvalidInputError,
    UnknownCodecError,
)
from .faults import crash_point
from .ids import new_id
from .manifests import blob_key
from .models import Artifact
from .packs import PACK_MAX, PACKS, MemberReader, PackWriter, pack_id_ok, pack_key, read_index_file
from .scratch import entry_name, scratch_dir
from .streams import CHUNK, VerifyingReader, copy_and_hash, pump
from .validation import OpenedSource

if TYPE_CHECKING:
    from .cache import BlobCache
    from .catalog.base import Catalog, PackIndex
    from .plugins import PluginRegistry

__all__ = ["BLOBS", "PIN_LIMIT", "SAMPLE", "ZERO_COPY_MIN", "BlobLayout", "BlobStore", "LooseLayout", "PackedLayout",
           "SweepResult"]

log = logging.getLogger("artifactstore")
#: The backend folder of loose blobs.
BLOBS = "blobs/"
#: How much of a source is read first: ``codec="auto"`` decides from it.
SAMPLE = 64 << 10
#: Raw files at least this large take the zero-copy paths (below, one buffered write is as fast).
ZERO_COPY_MIN = 4 << 20


def _pin_limit() -> int:
    # An eighth of the process's descriptor limit, within [64, 4096]: a put_many of 1,000 small
    # files took 1.10 s with every member pinned and 1.36-1.50 s with 64 pins and catalog
    # leases (one transaction each) for the rest.
    try:
        import resource

        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        if soft == resource.RLIM_INFINITY:
            soft = 1 << 16
    except (ImportError, OSError, ValueError):
        return 64
    return max(64, min(4096, soft // 8))


#: Most local-disk leases (open descriptors) one BlobStore holds at once; more use catalog
#: leases. An eighth of the descriptor limit (``RLIMIT_NOFILE``), at least 64 and at most 4096.
PIN_LIMIT = _pin_limit()
_NO_COPY_RANGE = {errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.EBADF, errno.EPERM}


# --- physical layouts ----------------------------------------------------------------------


class BlobLayout(ABC):
    """Where blobs physically live in a backend; the seam for a second layout (packs).

    Keys are blob keys as artifacts record them (the content address,
    :func:`artifactstore.manifests.blob_key`). A layout stages and publishes new
    blobs, opens, finds, lists and deletes them; it knows nothing of the catalog,
    leases or codecs beyond a key's suffix.
    """

    @abstractmethod
    def key(self, sha256: str, suffix: str) -> str:
        """The blob key of content ``sha256`` encoded with a codec of ``suffix``."""

    @abstractmethod
    def digest_of(self, key: str) -> str:
        """The SHA-256 a blob key names."""

    @abstractmethod
    def writer(self) -> BlobWriter:
        """Stage a new blob; :meth:`BlobWriter.commit` publishes it under its key atomically."""

    @abstractmethod
    def upload_file(self, path: Path, key: str) -> None:
        """Publish the local file ``path`` as blob ``key`` (no staging copy)."""

    @abstractmethod
    def open_read(self, key: str) -> BinaryIO:
        """The stored (encoded) bytes of ``key``; ``FileNotFoundError`` when absent."""

    @abstractmethod
    def download_file(self, key: str, path: Path) -> None:
        """Copy the stored bytes of ``key`` into the local file ``path``."""

    @abstractmethod
    def info(self, key: str) -> ObjectInfo:
        """Stored size and mtime of ``key``; ``FileNotFoundError`` when absent."""

    @abstractmethod
    def exists(self, key: str) -> bool:
        """Whether blob ``key`` is stored."""

    @abstractmethod
    def find(self, sha256: str, suffixes: list[str]) -> list[ObjectInfo]:
        """The stored blobs of content ``sha256`` among the codec ``suffixes`` given."""

    @abstractmethod
    def list(self) -> Iterator[ObjectInfo]:
        """Every stored blob (staging objects excluded)."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove blob ``key`` (absent is not an error). Only the sweep and a failed copy call it."""

    @abstractmethod
    def local_path(self, key: str) -> Path | None:
        """The local file holding exactly the stored bytes of ``key``, if there is one."""

    @abstractmethod
    def staging_dir(self) -> Path | None:
        """The local folder of staged files killed writers may leave behind, if any."""

    @abstractmethod
    def lock_dir(self, sha256: str, create: bool = True) -> Path | None:
        """A local folder whose ``flock`` is the mutex of the digests it holds (local disk
        only; ``None`` where writers coordinate through catalog leases instead)."""


class LooseLayout(BlobLayout):
    """One backend object per blob: ``blobs/sha256/<2 hex>/<64 hex><suffix>``."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self._flock_works: bool | None = None  # probed once, on the first local lock
        self._probe_lock = threading.Lock()
        self._local = backend.local_path(BLOBS) is not None
        self._made: set[str] = set()  # bucket folders known to exist (they are never removed)

    def key(self, sha256: str, suffix: str) -> str:
        return blob_key(sha256, suffix)

    def digest_of(self, key: str) -> str:
        return key.rsplit("/", 1)[-1][:64]

    def writer(self) -> BlobWriter:
        return self.backend.writer()

    def upload_file(self, path: Path, key: str) -> None:
        self.backend.upload_file(path, key)

    def open_read(self, key: str) -> BinaryIO:
        return self.backend.open_read(key)

    def download_file(self, key: str, path: Path) -> None:
        self.backend.download_file(key, path)

    def info(self, key: str) -> ObjectInfo:
        return self.backend.info(key)

    def exists(self, key: str) -> bool:
        return self.backend.exists(key)

    def find(self, sha256: str, suffixes: list[str]) -> list[ObjectInfo]:
        found = []
        folder = self.backend.local_path(f"{BLOBS}sha256/{sha256[:2]}") if self._local else None
        for suffix in suffixes:
            key = self.key(sha256, suffix)
            try:
                if folder is None:
                    found.append(self.backend.info(key))
                else:  # one stat per suffix, as on every put: no per-key path building
                    st = os.stat(os.path.join(folder, sha256 + suffix))
                    found.append(ObjectInfo(key, st.st_size, st.st_mtime))
            except FileNotFoundError:
                continue
        return found

    def list(self) -> Iterator[ObjectInfo]:
        return self.backend.list(BLOBS)

    def delete(self, key: str) -> None:
        self.backend.delete(key)

    def local_path(self, key: str) -> Path | None:
        return self.backend.local_path(key)

    def staging_dir(self) -> Path | None:
        return self.backend.local_path(STAGING_PREFIX.rstrip("/"))

    def lock_dir(self, sha256: str, create: bool = True) -> Path | None:
        # The blob's own folder (256 of them): no lock file to create or clean up.
        path = self.backend.local_path(f"{BLOBS}sha256/{sha256[:2]}")
        if path is None or self._flock_works is False:
            return None
        if create and sha256[:2] not in self._made:
            path.mkdir(parents=True, exist_ok=True)
            self._made.add(sha256[:2])
        if self._flock_works is None and path.is_dir():
            # One probe, and every caller acts on its result: a thread that read "unknown" while
            # another found flock missing used to take the flock path beside the others' catalog
            # claims (two mutexes for one digest: a content stored twice, 1 round in ~240).
            with self._probe_lock:
                if self._flock_works is None:
                    self._flock_works = _flock_works(path)
        if self._flock_works is False:
            return None
        return path


#: publish_small reads, hashes and encodes this many members (or bytes of them) before one
#: catalog read finds which of them the store holds already: memory stays bounded.
_WINDOW_ITEMS, _WINDOW_BYTES = 256, 8 << 20


class PackedLayout(LooseLayout):
    """Loose blobs plus packs (:mod:`artifactstore.packs`), on local disk.

    A blob key resolves to its loose file when there is one, else to its place in a pack
    through the pack index (``index()``, the catalog's :class:`~artifactstore.catalog.base.PackIndex`).
    Writing packs is :meth:`BlobStore.publish_small`'s; this class reads them. A location
    that vanished (gc repacked the member meanwhile) is looked up once more.
    """

    def __init__(self, backend: Backend, index: Callable[[], PackIndex]) -> None:
        super().__init__(backend)
        self.index = index
        packs = backend.local_path(PACKS.rstrip("/"))
        assert packs is not None
        self.packs_dir = packs

    def pack_path(self, pack_id: str) -> Path:
        """The file of pack ``pack_id`` (which need not exist)."""
        path = self.backend.local_path(pack_key(pack_id))
        assert path is not None
        return path

    def locate(self, key: str) -> tuple[str, int, int] | None:
        """``(pack, offset, length)`` of a packed blob key, else ``None``."""
        return self.index().pack_locations([key]).get(key)

    def _open_member(self, key: str) -> BinaryIO:
        for _attempt in range(2):
            loc = self.locate(key)
            if loc is None or not pack_id_ok(loc[0]):
                raise FileNotFoundError(key)
            try:
                fd = os.open(self.pack_path(loc[0]), os.O_RDONLY)
            except FileNotFoundError:
                continue  # repacked between the lookup and the open: look it up again
            return io.BufferedReader(MemberReader(fd, loc[1], loc[2]), CHUNK)  # type: ignore[return-value]
        raise FileNotFoundError(key)

    def open_read(self, key: str) -> BinaryIO:
        try:
            return super().open_read(key)
        except FileNotFoundError:
            return self._open_member(key)

    def download_file(self, key: str, path: Path) -> None:
        try:
            src = super().open_read(key)
        except FileNotFoundError:
            src = self._open_member(key)
        with src, open(path, "wb") as out:
            shutil.copyfileobj(src, out, CHUNK)

    def info(self, key: str) -> ObjectInfo:
        try:
            return super().info(key)
        except FileNotFoundError:
            pass
        loc = self.locate(key)
        if loc is None or not pack_id_ok(loc[0]):
            raise FileNotFoundError(key)
        st = os.stat(self.pack_path(loc[0]))
        if loc[1] + loc[2] > st.st_size:  # a truncated pack: the member is not (all) there
            raise FileNotFoundError(key)
        return ObjectInfo(key, loc[2], st.st_mtime)

    def exists(self, key: str) -> bool:
        try:
            self.info(key)
            return True
        except FileNotFoundError:
            return False

    def find(self, sha256: str, suffixes: list[str]) -> list[ObjectInfo]:
        found = super().find(sha256, suffixes)
        if found or not self.packs_dir.is_dir():  # no pack yet: no index lookup on every put
            return found
        keys = [self.key(sha256, s) for s in suffixes]
        locs = self.index().pack_locations(keys)
        out = []
        for key in keys:  # in the order of the suffixes given (the caller's own first)
            loc = locs.get(key)
            if loc is None or not pack_id_ok(loc[0]):
                continue
            try:
                st = os.stat(self.pack_path(loc[0]))
            except FileNotFoundError:
                continue
            if loc[1] + loc[2] <= st.st_size:
                out.append(ObjectInfo(key, loc[2], st.st_mtime))
        return out

    def find_many(self, wanted: Mapping[str, list[str]]) -> dict[str, list[ObjectInfo]]:
        """:meth:`find` of many digests (``{sha256: suffixes}``) with one index read for
        all of them, not one per digest."""
        out = {sha: LooseLayout.find(self, sha, suffixes) for sha, suffixes in wanted.items()}
        rest = [sha for sha, found in out.items() if not found]
        if not rest or not self.packs_dir.is_dir():
            return out
        keys = {sha: [self.key(sha, s) for s in wanted[sha]] for sha in rest}
        locs = self.index().pack_locations([k for ks in keys.values() for k in ks])
        sizes: dict[str, os.stat_result | None] = {}
        for sha, ks in keys.items():
            for key in ks:  # in the order of the suffixes given (the caller's own first)
                loc = locs.get(key)
                if loc is None or not pack_id_ok(loc[0]):
                    continue
                if loc[0] not in sizes:
                    try:
                        sizes[loc[0]] = os.stat(self.pack_path(loc[0]))
                    except FileNotFoundError:
                        sizes[loc[0]] = None
                st = sizes[loc[0]]
                if st is not None and loc[1] + loc[2] <= st.st_size:
                    out[sha].append(ObjectInfo(key, loc[2], st.st_mtime))
        return out

    def list(self) -> Iterator[ObjectInfo]:
        """Every loose blob, then every packed one (with its pack's mtime)."""
        yield from super().list()
        mtimes: dict[str, float | None] = {}
        for key, pack, _off, length in self.index().pack_rows():
            if pack not in mtimes:
                try:
                    mtimes[pack] = os.stat(self.pack_path(pack)).st_mtime if pack_id_ok(pack) else None
                except FileNotFoundError:
                    mtimes[pack] = None
            if mtimes[pack] is not None:
                yield ObjectInfo(key, length, mtimes[pack])

    def list_loose(self) -> Iterator[ObjectInfo]:
        """Every loose blob (what the loose sweep deletes one by one)."""
        return super().list()

    def local_path(self, key: str) -> Path | None:
        path = super().local_path(key)
        return path if path is not None and path.exists() else None

    def lease_path(self, key: str) -> Path | None:
        """The file whose ``flock`` leases blob ``key``: its loose file, else its pack."""
        path = super().local_path(key)
        if path is not None and path.exists():
            return path
        loc = self.locate(key)
        return self.pack_path(loc[0]) if loc is not None and pack_id_ok(loc[0]) else None

    def pack_files(self) -> Iterator[tuple[str, os.stat_result]]:
        """``(pack id, stat)`` of every pack file."""
        if not self.packs_dir.is_dir():
            return
        for bucket in sorted(self.packs_dir.iterdir()):
            if not bucket.is_dir():
                continue
            for f in sorted(bucket.iterdir()):
                pid = f.name[:-5] if f.name.endswith(".pack") else ""
                if pack_id_ok(pid) and pid[:2] == bucket.name:
                    try:
                        yield pid, f.stat()
                    except FileNotFoundError:
                        continue


# --- results -------------------------------------------------------------------------------


@dataclass(frozen=True)
class SweepResult:
    """What :meth:`BlobStore.sweep` did: blobs deleted, their stored bytes, and blobs
    skipped because at deletion time they were referenced, leased, young or gone."""

    swept: int
    freed_bytes: int
    skipped: int


class _WriterGuard:
    """Wraps a BlobWriter to tell backend failures apart from codec failures."""

    def __init__(self, inner: BlobWriter) -> None:
        self.inner = inner
        self.failed: BaseException | None = None

    def write(self, data: bytes | memoryview) -> int:
        try:
            return self.inner.write(data)
        except BaseException as exc:
            self.failed = exc
            raise


class _CodecFailure(Exception):
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc
        super().__init__(str(exc))


class _Tee(io.RawIOBase):
    """Reads the raw source blob and writes every byte read to the destination writer.

    Codec decoders read from it; closing it does nothing (the caller drains it
    to the end and closes the source itself).
    """

    def __init__(self, src: BinaryIO, dest: BlobWriter, progress: Callable[[int], None] | None) -> None:
        super().__init__()
        self._src = src
        self._dest = dest
        self._progress = progress
        self.n = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        view = memoryview(b).cast("B")
        data = self._src.read(len(view))
        if not data:
            return 0
        n = len(data)
        view[:n] = data
        self._dest.write(data)
        self.n += n
        if self._progress is not None:
            self._progress(n)
        return n

    def drain(self) -> None:
        while self.readinto(bytearray(CHUNK)):
            pass

    def close(self) -> None:  # the decoder may close its source; the caller owns it
        pass


def _decode_sha(codec: Codec, raw: BinaryIO) -> str | None:
    """SHA-256 of the decoded content of ``raw``, or ``None`` if it cannot be decoded."""
    try:
        dec = codec.decoder(raw)
        try:
            sha, _size = pump(dec.read, lambda _b: None, None)
        finally:
            if dec is not raw:
                dec.close()
        return sha
    except CorruptDataError as exc:  # the codec contract: damaged data raises this
        log.debug("decoding failed: %s", exc)
        return None


class _NoKernelCopy(Exception):
    """The kernel copy is not available for this pair of files (nothing was written)."""


def _check_read(art: Artifact, sha: str, size: int) -> None:
    if sha != art.sha256 or size != art.size:
        raise IntegrityError(art.id, art.sha256, sha, f"read {size} bytes, expected {art.size}")


_NO_FLOCK = {errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EINVAL, errno.ENOSYS}


def _flock_works(path: Path) -> bool:
    """Whether ``flock`` works on this filesystem (some network and FUSE filesystems refuse it:
    writers then coordinate through catalog leases, as on object stores)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return True
    except BlockingIOError:
        return True  # held exclusively by someone else right now: it works
    except OSError as exc:
        if exc.errno not in _NO_FLOCK:
            raise
        log.info("flock is not supported under %s (%s): blob leases go through the catalog", path, exc)
        return False
    finally:
        os.close(fd)


@contextlib.contextmanager
def _flocked(path: Path, how: int) -> Iterator[None]:
    """Hold ``flock(how)`` on ``path`` (a folder or a file) for the ``with`` block. An
    ``flock`` belongs to its open file description: threads exclude each other like
    processes do, and a killed holder's lock is gone with it."""
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, how)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


# --- the blob store ------------------------------------------------------------------------


class BlobStore:
    """The blobs of one store: publish, read, verify, copy, sweep (see the module doc).

    ``store.blobs`` of an :class:`~artifactstore.store.ArtifactStore`. Thread-safe.
    ``catalog`` provides the leases and digest locks (``lease_digest``,
    ``sweep_blobs``...); ``registry`` the codecs; ``cache`` the local read cache
    (``None``: read the backend directly).
    """

    def __init__(
        self,
        backend: Backend,
        catalog: Catalog,
        registry: PluginRegistry,
        *,
        cache: BlobCache | None = None,
        layout: BlobLayout | None = None,
    ) -> None:
        if layout is None:
            from .catalog.base import PackIndex

            # Packs on local disk over a catalog that keeps their index; loose blobs elsewhere.
            packed = backend.local_path(PACKS.rstrip("/")) is not None and isinstance(catalog, PackIndex)
            layout = PackedLayout(backend, lambda: cast("PackIndex", self.catalog)) if packed else LooseLayout(backend)
        self.layout: BlobLayout = layout
        self._backend = backend  # for its scratch folder (spool and staging files)
        self.catalog = catalog
        self.registry = registry
        self.cache = cache
        #: Whether the blobs live on another machine (object stores): new content is then
        #: uploaded without asking first whether an unreferenced copy exists.
        self.is_remote = backend.is_remote
        self.url = backend.url
        #: How long a lease protects a blob from gc while the put that took it finishes.
        self.lease_seconds = 3600.0
        self.hash_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="artifactstore-hash")
        self._codecs: dict[str, Codec] = {}
        self._lock = threading.Lock()
        # local lease token -> (descriptor holding LOCK_SH on the blob, the pid that took it)
        self._pins: dict[str, tuple[int, int]] = {}
        # leases on packed blobs: token -> pack file; pack file -> [descriptor holding LOCK_SH, count, pid]
        self._pack_pins: dict[str, str] = {}
        self._pack_fds: dict[str, list[int]] = {}

    def close(self) -> None:
        """Stop the hashing threads (waiting for running work) and drop every lease still held."""
        self.hash_pool.shutdown(wait=True)
        with self._lock:
            tokens = list(self._pins) + list(self._pack_pins)
        self.release(tokens)

    # --- leases --------------------------------------------------------------------------

    def release(self, tokens: Iterable[str]) -> None:
        """After the catalog transaction that committed (or failed to commit) the artifacts
        whose blob fields carried ``tokens`` (their ``leases``): drop the local-disk leases
        among them. Catalog leases are released by that transaction itself; unknown tokens
        are ignored, so passing every token of a batch is right."""
        for token in tokens:
            with self._lock:
                pin = self._pins.pop(token, None)
                pack = self._pack_pins.pop(token, None) if pin is None else None
                if pack is not None:
                    held = self._pack_fds[pack]
                    held[1] -= 1
                    pin = (held[0], held[2]) if held[1] == 0 else None
                    if pin is not None:
                        del self._pack_fds[pack]
            if pin is None:
                continue
            fd, pid = pin
            try:
                if pid == os.getpid():  # a forked child only closes its copy: the parent's lock stays
                    fcntl.flock(fd, fcntl.LOCK_UN)
            finally:
                os.close(fd)

    def _claim(self, key: str, lease: str | None) -> list[str] | None:
        """Before a put relies on the stored blob ``key`` (dedup), under the digest mutex: the
        leases that keep it. A loose blob: its pin (or the catalog ``lease`` already taken). A
        packed blob: a pin of its pack, which fails (``None``: do not rely on it) while gc holds
        the pack to delete or repack it."""
        if isinstance(self.layout, PackedLayout) and self.layout.local_path(key) is None:
            path = self.layout.lease_path(key)
            token = self._pin_pack(path) if path is not None else None
            if token is None:
                return None
            return [token] if lease is None else [token, lease]
        return [self._pin(key)] if lease is None else [lease]

    def _pin_pack(self, path: Path, fd: int | None = None) -> str | None:
        """A lease on a pack: ``LOCK_SH | LOCK_NB`` on it (one descriptor per pack, shared by
        this BlobStore's leases on it). ``None`` when gc holds the pack exclusively or the
        file is gone. ``fd``: a descriptor of the pack already holding ``LOCK_SH`` (its writer's)."""
        name = str(path)
        with self._lock:
            held = self._pack_fds.get(name)
            if held is not None:
                held[1] += 1
                if fd is not None:
                    os.close(fd)
                token = new_id()
                self._pack_pins[token] = name
                return token
        if fd is None:
            try:
                fd = os.open(path, os.O_RDONLY)
            except FileNotFoundError:
                return None
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
                # removed between the open and the lock (gc deleted or repacked it): not a lease
                if os.stat(path).st_ino != os.fstat(fd).st_ino:
                    raise FileNotFoundError(name)
            except (BlockingIOError, FileNotFoundError):
                os.close(fd)
                return None
        token = new_id()
        with self._lock:
            held = self._pack_fds.get(name)
            if held is not None:  # another thread pinned it meanwhile: share that one
                held[1] += 1
                os.close(fd)
            else:
                self._pack_fds[name] = [fd, 1, os.getpid()]
            self._pack_pins[token] = name
        return token

    def _pin(self, key: str) -> str:
        """A local-disk lease on blob ``key``: ``LOCK_SH`` on its file until :meth:`release`
        (the sweep deletes a blob only if it can lock it exclusively). Under the digest mutex."""
        path = self.layout.local_path(key)
        assert path is not None
        fd = os.open(path, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_SH)
        except BaseException:
            os.close(fd)
            raise
        token = new_id()
        with self._lock:
            self._pins[token] = (fd, os.getpid())
        return token

    # --- codecs --------------------------------------------------------------------------

    def codec(self, name: str) -> Codec:
        """The cached instance of the codec registered as ``name`` (``UnknownCodecError`` if none)."""
        with self._lock:
            c = self._codecs.get(name)
        if c is not None:
            return c
        codec = self.registry.codec(name)  # checks codec.name == name
        with self._lock:
            self._codecs[name] = codec
        return codec

    def codec_suffixes(self) -> dict[str, str]:
        """Every registered codec's blob-key suffix, by codec name."""
        return {n: self.codec(n).suffix for n in self.registry.names("codec")}

    def codec_of(self, key: str, hint: str | None = None) -> tuple[str, Codec]:
        """(sha256, codec) of blob key ``key``, the codec found by the key's suffix (``hint``,
        a codec name, is tried first); ``UnknownCodecError`` if no registered codec has it."""
        sha = self.layout.digest_of(key)
        suffix = key.rsplit("/", 1)[-1][64:]
        if hint is not None:
            try:
                codec = self.codec(hint)
                if codec.suffix == suffix:
                    return sha, codec
            except UnknownCodecError:
                pass
        for suf, name in sorted(((s, n) for n, s in self.codec_suffixes().items()), key=lambda t: -len(t[0])):
            if suf == suffix:
                return sha, self.codec(name)
        raise UnknownCodecError(f"(suffix {suffix!r} of {key})", self.registry.names("codec"))

    # --- publishing ----------------------------------------------------------------------

    def publish(
        self, src: OpenedSource, codec_name: str, member_name: str, progress: Callable[[int], None] | None = None
    ) -> dict[str, Any]:
        """Stream one source into a blob; return the artifact's blob fields.

        The fields are ``sha256``, ``size``, ``codec``, ``blob_key``, ``stored_size``,
        ``leases`` and, when the codec failed and the content was stored raw instead,
        ``codec_error``. The leases hold the blob until the artifact is committed: pass the
        fields to the catalog's ``insert_artifacts`` (which drops catalog leases in its
        transaction), then call :meth:`release` with them
        (:meth:`ArtifactStore.commit_rows <artifactstore.store.writing.WritePath.commit_rows>`
        does both). ``codec_name="auto"`` picks
        zstd or none from the first 64 KiB. A codec failure falls back to ``none``
        (re-reading the source, spooled first if it cannot be re-read); a backend
        failure raises :class:`~artifactstore.errors.BackendError` and publishes nothing.
        """
        sample = src.f.read(SAMPLE)
        if codec_name == "auto":
            from .codecs.detect import choose_auto_codec

            codec_name = choose_auto_codec(sample, member_name)
        codec = self.codec(codec_name)
        spool: IO[bytes] | None = None
        try:
            if codec_name != "none" and (src.reopen is None or (codec.needs_size and src.size is None)):
                # A stream we cannot re-read: spool it to a local temp file first so that a
                # codec failure can fall back to storing raw (and tar can learn the size).
                spool = tempfile.TemporaryFile(prefix="artifactstore-spool-")  # noqa: SIM115
                spool.write(sample)
                shutil.copyfileobj(src.f, spool, CHUNK)
                size = spool.tell()
                spool.seek(0)
                sample = spool.read(SAMPLE)
                keep = spool
                src = OpenedSource(spool, size, src.default_name, lambda: (keep.seek(0), keep)[1], False)
            try:
                if (codec.name == "none" and src.path is not None and self.is_remote
                        and (src.size or 0) >= ZERO_COPY_MIN):
                    return self._upload_raw(src, sample, progress)
                return self._encode(src, sample, codec, member_name, progress)
            except _CodecFailure as failure:
                if src.reopen is None:
                    raise failure.exc from None
                log.warning("codec %s failed (%s); storing %s uncompressed", codec.name, failure.exc, member_name)
                src = OpenedSource(src.reopen(), src.size, src.default_name, None, False)
                fields = self._encode(src, src.f.read(SAMPLE), self.codec("none"), member_name, progress)
                fields["codec_error"] = f"{codec.name}: {type(failure.exc).__name__}: {failure.exc}"
                return fields
        finally:
            if spool is not None:
                spool.close()

    def _encode(
        self, src: OpenedSource, sample: bytes, codec: Codec, member_name: str, progress: Callable[[int], None] | None
    ) -> dict[str, Any]:
        writer = self.layout.writer()
        guard = _WriterGuard(writer)
        try:
            try:
                enc = codec.encoder(guard, size=src.size, member_name=member_name)

                def write(chunk: bytes) -> None:
                    try:
                        enc.write(chunk)
                    except BaseException as exc:
                        if guard.failed is not None:
                            raise
                        raise _CodecFailure(exc) from exc

                fast = self._copy_raw(src, writer, codec, progress)
                if fast is not None:
                    sha, size = fast
                else:
                    sha, size = pump(src.f.read, write, self.hash_pool, first=sample, progress=progress)
                try:
                    enc.finish()
                except BaseException as exc:
                    if guard.failed is not None:
                        raise
                    raise _CodecFailure(exc) from exc
            except _CodecFailure:
                raise
            except (OSError, BackendError) as exc:
                if guard.failed is not None and isinstance(exc, BackendError):
                    raise  # already typed and named by the backend (e.g. StorageFullError)
                if guard.failed is not None:
                    raise BackendError(
                        f"writing to {self.url} failed: {type(exc).__name__}: {exc}", url=self.url
                    ) from exc
                raise
            if src.size is not None and size != src.size and src.close:
                raise InvalidInputError(f"source changed while it was read ({src.size} -> {size} bytes)")
            key = self.layout.key(sha, codec.suffix)
            return self._publish(sha, size, key, codec.name, writer.bytes_written,
                                 lambda: writer.commit(key), writer.abort)
        except BaseException:
            writer.abort()
            raise

    def _publish(
        self, sha: str, size: int, key: str, codec_name: str, stored: int,
        commit: Callable[[], None], abort: Callable[[], None],
    ) -> dict[str, Any]:
        """Publish the staged bytes under ``key`` (``commit``), or reuse a stored blob with
        the same digest (``abort``), deciding as the digest's only decider (its flock on local
        disk, else the catalog's claim of it, ``lease_digest``) after this put's lease is
        taken; return the artifact's blob fields."""
        fields: dict[str, Any] = {"sha256": sha, "size": size, "codec": codec_name, "blob_key": key,
                                  "stored_size": stored}
        lock_dir = self.layout.lock_dir(sha)
        if lock_dir is not None:
            # Local disk: the digest's folder lock is the mutex of its writers and of the
            # sweep; the blob is pinned (LOCK_SH) before the mutex is released, and the pin
            # dies with a killed writer, so its orphan is not protected beyond its life.
            with self._lock:
                pin = len(self._pins) < PIN_LIMIT
            # Past PIN_LIMIT pins (a large put_many, an archive import), the lease is a catalog
            # row taken before the mutex, as elsewhere: descriptors are not unbounded.
            lease = None if pin else self.catalog.take_lease(sha, self.lease_seconds)
            held: list[str] = []

            def claim(k: str) -> bool:
                tokens = self._claim(k, lease)
                held.extend(tokens or ())
                return tokens is not None

            try:
                with _flocked(lock_dir, fcntl.LOCK_EX):
                    chosen = self._decide(fields, self.catalog.blob_of(sha), 0, commit, abort, claim)
                    if not held:
                        held.append(self._pin(str(chosen["blob_key"])) if lease is None else lease)
            except BaseException:
                self.release(held)
                if lease is not None:
                    self.catalog.release_leases_now([lease])
                raise
            crash_point("after-blob-publish")
            return {**chosen, "leases": held}

        def decide(existing: tuple[str, str, int] | None, others: int) -> dict[str, Any]:
            return self._decide(fields, existing, others, commit, abort)

        # The lease is taken before decide publishes; no catalog transaction is open while
        # it uploads, and no other writer of this digest decides meanwhile.
        token, chosen = self.catalog.lease_digest(sha, self.lease_seconds, decide)
        crash_point("after-blob-publish")
        return {**chosen, "leases": [token]}

    def _decide(
        self, fields: dict[str, Any], existing: tuple[str, str, int] | None, others: int,
        commit: Callable[[], None], abort: Callable[[], None],
        claim: Callable[[str], bool] = lambda _k: True, heal: Callable[[], None] | None = None,
        found: list[ObjectInfo] | None = None,
    ) -> dict[str, Any]:
        # Under the digest lock: ``existing`` is a committed artifact's blob of this digest,
        # ``others`` the number of other writers' unexpired leases on it (a writer that
        # published and has not committed yet, or one that reuses a stored blob). ``claim(key)``
        # leases a stored blob before it is relied on (False: it is going, do not), ``heal``
        # publishes this put's copy as a loose blob (where ``commit`` would pack it). ``found``:
        # what layout.find of the digest with :meth:`_dedup_suffixes` returned, looked up
        # under this lock beforehand (a batch reads them all at once).
        key = str(fields["blob_key"])
        broken: str | None = None
        if existing is not None:
            ekey, ecodec, estored = existing
            # a blob a verify found corrupt (a flipped byte keeps the size) is not reused either
            intact = self._blob_intact(ekey, estored) and not self.catalog.is_blob_suspect(ekey)
            if intact and claim(ekey):
                abort()
                return {**fields, "codec": ecodec, "blob_key": ekey, "stored_size": estored}
            if ekey == key:
                # Healing dedup: the stored blob is missing, truncated or corrupt; our staged copy
                # of the same content replaces it (a loose blob is read before a packed one), for
                # every artifact that shares it.
                if not intact:
                    log.warning("blob %s is missing or damaged; re-publishing it from this put", ekey)
                (heal or commit)()
                if not intact:
                    self.catalog.clear_blob_suspect([ekey])
                return fields
            broken = ekey
        if existing is not None or others or not self.is_remote:
            # Another writer's blob of this content (published, not yet committed), or an
            # unreferenced one awaiting gc: reuse it, whatever its codec (stored once).
            # New content on an object store with no writer in flight skips this round trip
            # and uploads (an unreferenced copy with the same bytes is simply replaced).
            if found is None:
                found = self.layout.find(str(fields["sha256"]), self._dedup_suffixes(key))
            found = [o for o in found if o.key != broken]
            if found:
                hit = found[0]
                try:
                    _sha, codec = self.codec_of(hit.key)
                except UnknownCodecError:
                    codec = None
                if codec is not None and claim(hit.key):
                    abort()
                    return {**fields, "codec": codec.name, "blob_key": hit.key, "stored_size": hit.size}
        commit()
        return fields

    def _dedup_suffixes(self, key: str) -> list[str]:
        """The suffixes a digest's stored copies may have, that of ``key`` first."""
        own = key.rsplit("/", 1)[-1][64:]
        return [own] + [s for s in sorted(set(self.codec_suffixes().values())) if s != own]

    # --- packs -----------------------------------------------------------------------------

    def packs_apply(self) -> bool:
        """Whether :meth:`publish_small` packs (local disk, a catalog keeping the pack index,
        a filesystem with ``flock``)."""
        return isinstance(self.layout, PackedLayout) and self.layout.lock_dir("00") is not None

    def publish_small(self, items: Sequence[tuple[OpenedSource, str, str]]) -> list[dict[str, Any]]:
        """The blob fields of many small sources ``(source, codec name, member name)``, as
        :meth:`publish` returns them, new content appended to packs (one file per
        :data:`~artifactstore.packs.PACK_MAX` bytes instead of one per blob).

        Each source is read whole (the caller passes sources of a few hundred KiB at most).
        First every source is read, hashed and encoded: content this store holds already goes
        to a scratch spool, the rest to the new pack. Then, holding the digest mutexes of the
        whole batch (in sorted order), each blob is decided as :meth:`publish` decides it
        (reuse a stored blob, heal a damaged one, or keep this copy); the pack, with an index
        of only the kept members, is sealed (published by rename, holding a lease from before
        it is visible), indexed in the catalog, and only then are the mutexes released: a
        concurrent writer of the same content sees the packed blob and shares it. Without
        packs (:meth:`packs_apply`), each source goes through :meth:`publish`.
        """
        if len(items) < 2 or not self.packs_apply():
            return [self.publish(src, codec, member) for src, codec, member in items]
        layout = self.layout
        assert isinstance(layout, PackedLayout)
        from .codecs.detect import choose_auto_codec

        packs: list[tuple[PackWriter, int]] = []  # each with a descriptor holding LOCK_SH on it
        spool: IO[bytes] | None = None
        staged: list[dict[str, Any]] = []  # per item: fields, and where its encoded bytes are
        first: dict[str, int] = {}  # sha256 -> the item carrying its bytes (stored once, whatever the codecs)
        index = cast("PackIndex", self.catalog)
        window: list[tuple[dict[str, Any], bytes]] = []  # encoded, awaiting one dedup read
        held = 0

        def place() -> None:
            # Content the store already holds goes to the spool (packed later only if it is
            # not shared after all), the rest to the pack; one catalog read for the window.
            nonlocal spool, held
            stored = index.blobs_of([str(f["sha256"]) for f, _ in window if f["sha256"] not in first])
            for fields, blob in window:
                sha = str(fields["sha256"])
                item: dict[str, Any] = {"fields": fields}
                if sha in first:
                    item["same_as"] = first[sha]
                elif sha in stored:
                    if spool is None:
                        spool = tempfile.TemporaryFile(  # noqa: SIM115
                            prefix="artifactstore-spool-", dir=scratch_dir(self._backend))
                    item["spool"] = (spool.tell(), len(blob))
                    spool.write(blob)
                    first[sha] = len(staged)
                else:
                    item["pack"] = self._append_packed(packs, str(fields["blob_key"]), blob)
                    first[sha] = len(staged)
                staged.append(item)
            window.clear()
            held = 0

        try:
            for src, codec_name, member in items:
                data = src.f.read()
                if src.size is not None and len(data) != src.size:
                    raise InvalidInputError(f"source changed while it was read ({src.size} -> {len(data)} bytes)")
                if codec_name == "auto":
                    codec_name = choose_auto_codec(data[:SAMPLE], member)
                blob, codec, error = self._encode_bytes(data, self.codec(codec_name), member)
                sha = hashlib.sha256(data).hexdigest()
                fields: dict[str, Any] = {"sha256": sha, "size": len(data), "codec": codec.name,
                                          "blob_key": layout.key(sha, codec.suffix), "stored_size": len(blob)}
                if error is not None:
                    fields["codec_error"] = error
                window.append((fields, blob))
                held += len(blob)
                if held >= _WINDOW_BYTES or len(window) >= _WINDOW_ITEMS:
                    place()
            place()
            crash_point("pack-before-seal")
            return self._decide_packed(staged, packs, spool)
        finally:
            for writer, lock_fd in packs:
                writer.close()
                if lock_fd >= 0:
                    os.close(lock_fd)
            if spool is not None:
                spool.close()

    def _append_packed(self, packs: list[tuple[PackWriter, int]], key: str, data: bytes) -> tuple[int, int, int]:
        """Append one member to the batch's last pack (a new one past :data:`PACK_MAX`); return
        (pack number, offset, length)."""
        if not packs or packs[-1][0].size >= PACK_MAX:
            packs.append(self._new_pack())
        return len(packs) - 1, packs[-1][0].append(key, data), len(data)

    def _new_pack(self, how: int = fcntl.LOCK_SH) -> tuple[PackWriter, int]:
        """A pack staged in the store's scratch folder, and a descriptor of it holding ``flock(how)``."""
        writer = PackWriter(scratch_dir(self._backend), entry_name("pack"),
                            fsync=bool(getattr(self._backend, "fsync", False)))
        try:
            # the lease of the pack's own members (gc's repack: its hold), from before it is visible
            fd = os.open(writer.tmp, os.O_RDONLY)
        except BaseException:
            writer.close()
            raise
        try:
            fcntl.flock(fd, how)
        except BaseException:
            os.close(fd)
            writer.close()
            raise
        return writer, fd

    def _encode_bytes(self, data: bytes, codec: Codec, member: str) -> tuple[bytes, Codec, str | None]:
        """``data`` encoded by ``codec`` (in memory: a small source), or raw after a codec failure."""
        if codec.name == "none":
            return data, codec, None
        out = io.BytesIO()
        try:
            enc = codec.encoder(out, size=len(data), member_name=member)
            enc.write(data)
            enc.finish()
            return out.getvalue(), codec, None
        except Exception as exc:  # a codec's own failure: stored raw, as publish does
            log.warning("codec %s failed (%s); storing %s uncompressed", codec.name, exc, member)
            return data, self.codec("none"), f"{codec.name}: {type(exc).__name__}: {exc}"

    def _decide_packed(self, staged: list[dict[str, Any]], packs: list[tuple[PackWriter, int]],
                       spool: IO[bytes] | None) -> list[dict[str, Any]]:
        layout = self.layout
        assert isinstance(layout, PackedLayout)
        kept: dict[int, list[tuple[str, int, int]]] = {}  # pack number -> the members its index names
        leases: list[list[str]] = [[] for _ in staged]
        out: list[dict[str, Any]] = []

        def stored_bytes(item: dict[str, Any]) -> bytes:
            if "pack" in item:
                p, off, n = item["pack"]
                return os.pread(packs[p][0].fd, n, off)
            assert spool is not None
            off, n = item["spool"]
            spool.seek(off)
            return spool.read(n)

        locks = sorted({str(item["fields"]["sha256"])[:2] for item in staged})
        held: list[int] = []
        try:
            for bucket in locks:  # the digest mutexes of the whole batch, in sorted order (no deadlock)
                lock_dir = layout.lock_dir(bucket + "0" * 62)
                assert lock_dir is not None
                fd = os.open(lock_dir, os.O_RDONLY)
                held.append(fd)
                fcntl.flock(fd, fcntl.LOCK_EX)
            # Under the mutexes, one read each for the whole batch (not two per member): the
            # stored blob of each digest, and the copies (loose or packed) it may reuse.
            deciding = [item["fields"] for item in staged if "same_as" not in item]
            index = cast("PackIndex", self.catalog)
            stored = index.blobs_of([str(f["sha256"]) for f in deciding])
            candidates = layout.find_many({str(f["sha256"]): self._dedup_suffixes(str(f["blob_key"]))
                                           for f in deciding})
            for i, item in enumerate(staged):
                fields = item["fields"]
                if "same_as" in item:
                    continue
                mine: list[str] = []
                key = str(fields["blob_key"])

                def commit(item: dict[str, Any] = item, key: str = key) -> None:
                    if "spool" in item:  # shared after all (or no longer): pack our copy
                        item["pack"] = self._append_packed(packs, key, stored_bytes(item))
                    p, off, n = item["pack"]
                    kept.setdefault(p, []).append((key, off, n))

                def heal(item: dict[str, Any] = item, key: str = key, mine: list[str] = mine) -> None:
                    writer = layout.writer()  # a loose copy, read before the damaged one
                    try:
                        writer.write(stored_bytes(item))
                        writer.commit(key)
                    except BaseException:
                        writer.abort()
                        raise
                    mine.append(self._pin(key))

                def claim(k: str, mine: list[str] = mine) -> bool:
                    tokens = self._claim(k, None)
                    mine.extend(tokens or ())
                    return tokens is not None

                sha = str(fields["sha256"])
                chosen = self._decide(fields, stored.get(sha), 0, commit, lambda: None, claim, heal,
                                      found=candidates[sha])
                leases[i] = mine
                item["chosen"] = chosen
            sealed: list[tuple[int, str, list[tuple[str, int, int]]]] = []
            for p, members in sorted(kept.items()):
                writer = packs[p][0]
                writer.members = members  # the index names only the kept members
                writer.seal(layout.pack_path(writer.pack_id))
                sealed.append((p, writer.pack_id, members))
            crash_point("pack-after-seal")
            for _p, pack_id, members in sealed:
                cast("PackIndex", self.catalog).add_pack_members(pack_id, members)
            crash_point("pack-after-index")
            crash_point("after-blob-publish")  # as for a loose blob: in place, nothing journalled
            own: dict[str, Path] = {}
            base: list[str] = []
            for p, pack_id, members in sealed:
                path = layout.pack_path(pack_id)
                for key, _o, _n in members:
                    own[key] = path
                # the writer's lock, held since before the pack was visible, carries the members' leases
                writer, lock_fd = packs[p]
                packs[p] = (writer, -1)
                token = self._pin_pack(path, lock_fd)
                assert token is not None
                base.append(token)
            try:
                for i, item in enumerate(staged):
                    src_i = item.get("same_as", i)
                    chosen = staged[src_i]["chosen"]
                    key = str(chosen["blob_key"])
                    if i == src_i and leases[i]:
                        pass  # a stored blob it shares, or the loose copy it healed: leased by then
                    elif key in own:
                        token = self._pin_pack(own[key])  # shares the writer's descriptor: cannot fail
                        assert token is not None
                        leases[i] = [token]
                    else:  # a repeat of a shared blob, whose first lease this batch still holds
                        leases[i] = self._claim(key, None) or []
                    out.append({**chosen, "leases": leases[i]})
            finally:
                self.release(base)
            return out
        except BaseException:
            self.release([t for ts in leases for t in ts])
            raise
        finally:
            for fd in held:
                os.close(fd)  # drops the flock

    def _blob_intact(self, key: str, stored_size: int) -> bool:
        """Cheap check of a blob dedup would reuse: present, with the size the catalog recorded."""
        try:
            return self.layout.info(key).size == stored_size
        except FileNotFoundError:
            return False

    def _upload_raw(self, src: OpenedSource, sample: bytes, progress: Callable[[int], None] | None) -> dict[str, Any]:
        """A large raw file to an object store: hash it, then upload straight from the file
        (multipart/resumable/block upload): no local staging copy of the whole file."""
        assert src.path is not None
        before = os.stat(src.path)
        sha, size = pump(src.f.read, lambda _b: None, self.hash_pool, first=sample, progress=progress)
        key = self.layout.key(sha, "")
        path = src.path

        def upload() -> None:
            self.layout.upload_file(path, key)
            after = os.stat(path)
            if (after.st_size, after.st_mtime_ns) != (before.st_size, before.st_mtime_ns) or after.st_size != size:
                self.layout.delete(key)
                raise InvalidInputError(f"source file {path} changed while it was uploaded")

        return self._publish(sha, size, key, "none", size, upload, lambda: None)

    def _copy_raw(
        self, src: OpenedSource, writer: BlobWriter, codec: Codec, progress: Callable[[int], None] | None
    ) -> tuple[str, int] | None:
        """Large raw file onto local disk: copy in the kernel, hash in the second thread.

        Returns ``None`` when the zero-copy path does not apply (then nothing was written).
        """
        if codec.name != "none" or src.path is None or (src.size or 0) < ZERO_COPY_MIN:
            return None
        fd = writer.staged_fd()
        if fd is None:
            return None
        try:
            result = copy_and_hash(src.f.fileno(), fd, self.hash_pool, progress=progress)
        except OSError as exc:
            if exc.errno in _NO_COPY_RANGE and os.fstat(fd).st_size == 0:
                return None  # e.g. across filesystems on an old kernel: use the plain copy
            raise
        writer.note_written(result[1])
        return result

    # --- reading -------------------------------------------------------------------------

    def _check_blob_file(self, art: Artifact, path: Path) -> None:
        """Decode and hash a downloaded blob before the read cache admits it."""
        with open(path, "rb") as f:
            try:
                dec = self.codec(art.codec).decoder(f)
                sha, size = pump(dec.read, lambda _b: None, self.hash_pool)
            except CorruptDataError as exc:  # the codec contract: damaged blobs raise this
                raise exc.with_artifact(art.id, art.sha256) from None
        if sha != art.sha256 or size != art.size:
            raise IntegrityError(art.id, art.sha256, sha, f"downloaded blob decodes to {size} bytes")

    def open_decoded(self, art: Artifact, use_cache: bool = True) -> tuple[BinaryIO, tuple[Any, ...]]:
        """The decoded (not yet verified) content of ``art``'s blob, and the raw streams to
        close after it; :class:`BlobMissingError` if the blob is absent. ``use_cache=False``
        reads the backend itself, bypassing the read cache."""
        codec = self.codec(art.codec)
        try:
            if use_cache and self.cache is not None:
                raw = self.cache.open(
                    art.blob_key,
                    fetch=lambda p: self.layout.download_file(art.blob_key, p),
                    verify=lambda p: self._check_blob_file(art, p),
                    size=art.stored_size,
                )
            else:
                raw = self.layout.open_read(art.blob_key)
        except FileNotFoundError:
            raise BlobMissingError(art.id, art.blob_key) from None
        try:
            return codec.decoder(raw), (raw,)
        except BaseException:
            raw.close()
            raise

    def open(self, art: Artifact) -> BinaryIO:
        """A binary stream of ``art``'s bytes, verified against its SHA-256 and size as it is
        read: the read that reaches the end raises :class:`IntegrityError` on a mismatch."""
        dec, closers = self.open_decoded(art)
        reader = VerifyingReader(dec, art.sha256, art.size, art.id, closers)
        return io.BufferedReader(reader, CHUNK)  # type: ignore[return-value]

    def write_file(self, art: Artifact, tmp: Path, out: Path, progress: Callable[[int], None] | None = None) -> None:
        """Write ``art``'s bytes into ``tmp``, verify them, then rename ``tmp`` onto ``out``
        (``tmp`` is removed on failure). A damaged cached copy is dropped and the backend
        read once more."""
        try:
            self._get_once(art, tmp, out, progress, use_cache=True)
        except IntegrityError:
            if self.cache is None:
                raise
            # A damaged cached copy: drop it and read the backend itself once.
            self.cache.discard(art.blob_key)
            self._get_once(art, tmp, out, progress, use_cache=False)

    def _get_once(self, art: Artifact, tmp: Path, out: Path, progress: Callable[[int], None] | None,
                  use_cache: bool) -> None:
        if self._get_raw_local(art, tmp, out, progress):
            return
        if not (use_cache and self.cache is not None) and self._get_raw_remote(art, tmp, out, progress):
            return
        dec, closers = self.open_decoded(art, use_cache)
        try:
            with replacing(out, tmp=tmp) as path:
                with open(path, "wb") as f:
                    sha, size = pump(dec.read, f.write, self.hash_pool, progress=progress)
                _check_read(art, sha, size)
        finally:
            dec.close()
            for c in closers:
                c.close()

    def _get_raw_remote(self, art: Artifact, tmp: Path, out: Path, progress: Callable[[int], None] | None) -> bool:
        """Large raw blob on an object store, no cache: one streaming download (the client's own
        fast path), then hash the file before it replaces ``out``."""
        if art.codec != "none" or not self.is_remote or art.size < ZERO_COPY_MIN:
            return False
        with replacing(out, tmp=tmp) as path:
            try:
                self.layout.download_file(art.blob_key, path)
            except FileNotFoundError:
                raise BlobMissingError(art.id, art.blob_key) from None
            with open(path, "rb") as f:
                sha, size = pump(f.read, lambda _b: None, self.hash_pool, progress=progress)
            _check_read(art, sha, size)
        return True

    def _get_raw_local(self, art: Artifact, tmp: Path, out: Path, progress: Callable[[int], None] | None) -> bool:
        """Raw blob on local disk: kernel copy + hash of what landed in ``tmp``, in two threads."""
        blob = self.layout.local_path(art.blob_key)
        if art.codec != "none" or blob is None or art.size < ZERO_COPY_MIN:
            return False
        try:
            src = open(blob, "rb")  # noqa: SIM115
        except FileNotFoundError:
            raise BlobMissingError(art.id, art.blob_key) from None
        try:
            with src, replacing(out, tmp=tmp) as path:
                with open(path, "w+b") as dst:
                    try:
                        sha, size = copy_and_hash(src.fileno(), dst.fileno(), self.hash_pool, progress=progress)
                    except OSError as exc:
                        if exc.errno in _NO_COPY_RANGE and os.fstat(dst.fileno()).st_size == 0:
                            raise _NoKernelCopy from exc
                        raise
                _check_read(art, sha, size)
        except _NoKernelCopy:
            return False  # e.g. across filesystems on an old kernel: the caller copies plainly
        return True

    def check(self, art: Artifact, progress: Callable[[int], None] | None = None) -> str:
        """Re-read and re-hash ``art``'s blob from the backend itself (not the read cache):
        ``"ok"``, ``"corrupt"`` (wrong hash or size, or undecodable) or ``"missing"``."""
        try:
            dec, closers = self.open_decoded(art, use_cache=False)  # check the backend itself
        except BlobMissingError:
            return "missing"
        try:
            sha, size = pump(dec.read, lambda _b: None, self.hash_pool, progress=progress)
            return "ok" if sha == art.sha256 and size == art.size else "corrupt"
        except (OSError, ValueError) as exc:  # CorruptDataError (an OSError) on a damaged blob
            log.warning("blob %s unreadable: %s", art.blob_key, exc)
            return "corrupt"
        finally:
            dec.close()
            for c in closers:
                c.close()

    # --- presence ------------------------------------------------------------------------

    def exists(self, key: str) -> bool:
        """Whether blob ``key`` is stored."""
        return self.layout.exists(key)

    def local_path(self, key: str) -> Path | None:
        """The local file holding blob ``key`` as stored (local disk only, else ``None``):
        the original bytes when its codec is ``none``, else a standard file of the codec's
        format. For hard links, reflinks and the seed facade's ``file_path``; never write to it."""
        return self.layout.local_path(key)

    def listing(self) -> Iterator[ObjectInfo]:
        """Every stored blob with its stored size and mtime."""
        return self.layout.list()

    def sizes(self) -> dict[str, int]:
        """Stored size of every stored blob, by key."""
        return {o.key: o.size for o in self.layout.list()}

    # --- copying between stores ----------------------------------------------------------

    def check_key(self, key: str, codec_hint: str | None = None) -> bool:
        """Whether blob ``key`` decodes to the SHA-256 its key names (absent: ``False``)."""
        sha, codec = self.codec_of(key, codec_hint)
        try:
            raw = self.layout.open_read(key)
        except FileNotFoundError:
            return False
        try:
            return _decode_sha(codec, raw) == sha
        finally:
            raw.close()

    def copy_to(self, dst: BlobStore, key: str, codec_hint: str | None = None, *, verify: bool = True,
                progress: Callable[[int], None] | None = None) -> tuple[str, int]:
        """Copy blob ``key`` into ``dst`` as stored bytes (never re-encoded), published there
        atomically; with ``verify`` it is decoded while copied and published only if it
        decodes to the SHA-256 its key names. Returns ``("ok" | "corrupt" | "missing",
        stored bytes copied)``."""
        sha, codec = self.codec_of(key, codec_hint)
        try:
            raw = self.layout.open_read(key)
        except FileNotFoundError:
            return "missing", 0
        writer = dst.layout.writer()
        try:
            tee = _Tee(raw, writer, progress)
            if verify and not codec.needs_seekable and _decode_sha(codec, tee) != sha:  # type: ignore[arg-type]
                writer.abort()
                return "corrupt", 0
            tee.drain()  # a decoder may stop before the end of the raw bytes (trailers, padding)
            writer.commit(key)
        except BaseException:
            writer.abort()
            raise
        finally:
            raw.close()
        if verify and codec.needs_seekable and not dst.check_key(key, codec.name):
            # zip needs a seekable source: checked after the copy, from the destination.
            dst.layout.delete(key)
            return "corrupt", 0
        return "ok", tee.n

    # --- gc ------------------------------------------------------------------------------

    @staticmethod
    def _too_young(mtime: float | None, grace: float, now: float) -> bool:
        # No clock to judge an object's age by: never swept (unless asked for grace 0).
        return (mtime is None and grace > 0) or (mtime is not None and now - mtime < grace)

    def orphans(self, referenced: set[str], grace: float, now: float | None = None) -> list[tuple[str, int]]:
        """(key, stored size) of every stored blob not in ``referenced`` and older than ``grace``
        seconds: what a sweep would consider (it re-checks each under the digest lock)."""
        now = time.time() if now is None else now
        return [(o.key, o.size) for o in self.layout.list()
                if o.key not in referenced and not self._too_young(o.mtime, grace, now)]

    def sweep(self, grace: float, now: float | None = None) -> SweepResult:
        """Delete every blob that nothing references or leases and that is older than ``grace``.

        Expired leases are dropped first. Candidates come from a listing; each batch is then
        re-checked in one catalog transaction holding the candidates' digest locks (the
        locks a publish takes with its lease: the catalog's ``sweep_blobs``), and each blob's
        mtime is re-read just before it is deleted, so a blob a writer published or
        re-published after the listing is kept.
        """
        self.catalog.expire_leases()
        now = time.time() if now is None else now
        candidates: list[tuple[str, str]] = []
        sizes: dict[str, int] = {}
        referenced = self.catalog.referenced_blob_keys()
        listing = self.layout.list_loose() if isinstance(self.layout, PackedLayout) else self.layout.list()
        for o in listing:
            if o.key in referenced or self._too_young(o.mtime, grace, now):
                continue
            candidates.append((self.layout.digest_of(o.key), o.key))
            sizes[o.key] = o.size
        # Batches: one guarded transaction per batch, not per blob (90k blobs: 440 s -> seconds).
        # Smaller on object stores, where each delete is a round trip made under the digest locks.
        step = 100 if self.is_remote or self.catalog.dialect == "postgresql" else 500
        swept = skipped = freed = 0
        for i in range(0, len(candidates), step):
            done, skip = self.catalog.sweep_blobs(candidates[i : i + step], lambda k: self._delete_if_old(k, grace))
            swept += len(done)
            freed += sum(sizes[k] for k in done)
            skipped += skip
        if self.packs_apply():
            p_swept, p_freed, p_skipped = self._sweep_packs(grace, now, referenced)
            swept, freed, skipped = swept + p_swept, freed + p_freed, skipped + p_skipped
        return SweepResult(swept, freed, skipped)

    def _sweep_packs(self, grace: float, now: float, referenced: set[str]) -> tuple[int, int, int]:
        """gc of packs: a pack none of whose members is referenced is deleted; one whose live
        members fill less than half of it is repacked (its live members copied, verified, into
        a new pack, their index rows moved, the old pack deleted). Each pack is held with an
        exclusive ``flock`` meanwhile (skipped if a writer leases it), and its members'
        references are re-read after the lock is taken: a put that shares a packed blob leases
        its pack first, so no member is taken from under a put."""
        layout = self.layout
        assert isinstance(layout, PackedLayout)
        index = cast("PackIndex", self.catalog)
        rows: dict[str, list[tuple[str, int, int]]] = {}
        for key, pack, off, n in index.pack_rows():
            rows.setdefault(pack, []).append((key, off, n))
        chosen: list[tuple[str, int]] = []
        for pid, st in layout.pack_files():
            if self._too_young(st.st_mtime, grace, now):
                continue
            live = sum(n for key, _o, n in rows.get(pid, ()) if key in referenced)
            if live and live * 2 >= st.st_size:
                continue  # mostly live: kept as it is
            chosen.append((pid, st.st_size))
        swept = freed = skipped = 0
        held: list[tuple[str, int, int]] = []
        try:
            for pid, size in chosen:
                path = layout.pack_path(pid)
                try:
                    fd = os.open(path, os.O_RDONLY)
                except FileNotFoundError:
                    continue
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    if os.stat(path).st_ino != os.fstat(fd).st_ino:
                        raise FileNotFoundError(str(path))
                except BlockingIOError:
                    os.close(fd)
                    skipped += 1  # a writer leases it: the next gc
                    continue
                except FileNotFoundError:
                    os.close(fd)
                    continue
                held.append((pid, fd, size))
            if not held:
                return swept, freed, skipped
            fresh = self.catalog.referenced_blob_keys()  # under the locks: what is referenced now
            for pid, fd, size in held:
                members = index.pack_rows(pid)
                live_members = [(k, o, n) for k, _p, o, n in members if k in fresh]
                if not live_members:
                    index.move_pack_members(pid, None, [])
                    crash_point("pack-gc-after-unindex")
                    discard(layout.pack_path(pid))
                    swept += len(members)
                    freed += size
                    continue
                new_size = self._repack(pid, fd, live_members)
                if new_size is not None:
                    swept += len(members) - len(live_members)
                    freed += size - new_size
                else:
                    skipped += 1
        finally:
            for _pid, fd, _size in held:
                os.close(fd)  # drops the exclusive lock
        return swept, freed, skipped

    def _repack(self, pid: str, fd: int, live: list[tuple[str, int, int]]) -> int | None:
        """Copy the live members of pack ``pid`` (open as ``fd``, held exclusively) into a new
        pack, verified; move their index rows, delete the old pack; return the new pack's size
        (``None``: a member did not verify, the pack is left as it is for verify to report)."""
        layout = self.layout
        assert isinstance(layout, PackedLayout)
        writer, lock_fd = self._new_pack(how=fcntl.LOCK_EX)
        try:
            for key, off, n in live:
                data = os.pread(fd, n, off)
                sha, codec = self.codec_of(key)
                if len(data) != n or _decode_sha(codec, io.BytesIO(data)) != sha:
                    log.warning("gc: pack %s member %s does not verify; pack left as it is", pid, key)
                    return None
                writer.append(key, data)
            new_path = layout.pack_path(writer.pack_id)
            writer.seal(new_path)
            crash_point("pack-repack-after-seal")
            cast("PackIndex", self.catalog).move_pack_members(pid, writer.pack_id, writer.members)
            crash_point("pack-repack-after-move")
            discard(layout.pack_path(pid))
            return os.stat(new_path).st_size
        finally:
            writer.close()
            os.close(lock_fd)

    def pack_index_rows(self) -> list[tuple[str, str, int, int]] | None:
        """``(blob key, pack, offset, length)`` of every member of every pack, read from the
        packs' trailers (what ``reindex`` makes the pack index); ``None`` without packs. A pack
        whose trailer does not validate is skipped with a warning (its members then read as
        missing, and verify reports them)."""
        if not isinstance(self.layout, PackedLayout):
            return None
        out: list[tuple[str, str, int, int]] = []
        for pid, _st in self.layout.pack_files():
            try:
                members = read_index_file(self.layout.pack_path(pid))
            except (CorruptDataError, OSError) as exc:
                log.warning("reindex: skipping pack %s: %s", pid, exc)
                continue
            out += [(k, pid, o, n) for k, o, n in members]
        return out

    def _delete_if_old(self, key: str, grace: float) -> bool:
        # Under the catalog's digest lock. Re-read the object: a concurrent gc may have removed
        # it, or a writer may have just re-uploaded the same content (a fresh mtime) after our
        # listing. On local disk, also under the digest's folder mutex, and only if no writer
        # pins the blob (a put between its publish and its catalog commit).
        lock_dir = self.layout.lock_dir(self.layout.digest_of(key), create=False)
        if lock_dir is None:
            return self._delete_unpinned(key, grace)
        # Never wait long for a writer's digest mutex inside the sweep's catalog transaction: a
        # batch of packed puts holds several of them while it indexes its pack (a catalog write).
        for attempt in range(20):
            try:
                with _flocked(lock_dir, fcntl.LOCK_EX | fcntl.LOCK_NB):
                    return self._delete_unpinned(key, grace)
            except FileNotFoundError:
                return False
            except BlockingIOError:
                time.sleep(0.001 * (attempt + 1))
        return False  # busy: the next gc sweeps it

    def _delete_unpinned(self, key: str, grace: float) -> bool:
        path = self.layout.local_path(key)
        if path is None and isinstance(self.layout, PackedLayout):
            return False  # the loose file is gone (packed members are the pack sweep's)
        if path is not None:
            try:
                with _flocked(path, fcntl.LOCK_EX | fcntl.LOCK_NB):
                    return self._delete_old(key, grace)
            except FileNotFoundError:
                return False
            except BlockingIOError:
                return False  # pinned by a writer that has not committed yet
        return self._delete_old(key, grace)

    def _delete_old(self, key: str, grace: float) -> bool:
        try:
            info = self.layout.info(key)
        except FileNotFoundError:
            return False
        if self._too_young(info.mtime, grace, time.time()):
            return False
        self.layout.delete(key)
        return True

    def remove_stale_staging(self, grace: float, now: float | None = None) -> int:
        """Remove staging files (``tmp/*.part``), spool files and scratch folders left by
        killed writers: those of dead processes, and any older than the grace period
        (:mod:`artifactstore.scratch`); return how many."""
        from .scratch import sweep

        return sweep(self._backend, grace, now=now)
