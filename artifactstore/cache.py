"""Local read cache for remote backends: content-addressed, bounded in bytes, LRU, multi-process safe.

A :class:`BlobCache` keeps local copies of blobs fetched from a remote backend,
under a path derived from the blob's key. Blob keys are content addresses and
blobs are immutable, so a cached file never goes stale: the cache never asks
the backend whether an entry is still current, and a second read of a blob
does not touch the network.

Layout of the cache folder (several processes may share it)::

    <root>/CACHEDIR.TAG     marks the folder as a cache (backup tools skip it)
    <root>/lock             flock'ed around publish/evict/clear; holds the byte counter
    <root>/data/<key>       the entries, e.g. data/blobs/sha256/ab/ab12...zst (mode 0444)
    <root>/tmp/<id>.part    fills in flight (each flock'ed by the process filling it)
    <root>/locks/<hash>     per-key fill locks, present only while a fill runs

Design (measured on the 2-core dev machines, see docs/cache.md):

- **A hit takes no lock and writes no index.** It opens the entry, ``fstat``-s it
  and sets its mtime to now (``os.utime`` on the open descriptor): recency lives
  in the file's mtime. About 10 us, against 5.5 us for a bare open/close and
  18 us for an open plus an SQLite ``UPDATE`` of an access-time index.
- **A fill** downloads into ``tmp/`` (``fetch``), verifies (``verify``), then,
  under the global lock, publishes by ``rename`` and adds the size to a byte
  counter kept in the lock file itself (a 10 us lock/read/overwrite cycle, no
  file created). Concurrent fills of one key are serialised by a per-key lock,
  so N processes that miss together download the blob once.
- **Eviction** runs only when the counter goes over ``max_bytes``: it scans the
  entries (``scandir`` + ``stat``, 4-10 us an entry), resynchronises the
  counter with what is really there, and removes least-recently-used entries
  until the total is at most ``low_water * max_bytes`` (90% by default), so a
  full cache scans once per ~10% of its size filled, not on every fill.
- A reader keeps its open descriptor: an entry another process evicts (unlink)
  stays readable by everyone who has it open. An entry that vanishes between
  lookup and open is a miss and is fetched again.

The cache trusts nothing it serves blindly: fills are verified before they are
published, a hit whose size differs from the expected stored size is dropped
and fetched again, and the store verifies the SHA-256 of every read anyway
(:meth:`BlobCache.discard` removes an entry that failed that check).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from .atomic import discard, open_creating, publish
from .errors import InvalidInputError

if sys.platform != "win32":
    import fcntl

__all__ = [
    "BlobCache",
    "DEFAULT_MAX_BYTES",
    "ENV_CACHE_DIR",
    "ENV_CACHE_MAX_BYTES",
    "default_cache_dir",
    "default_max_bytes",
    "parse_size",
    "resolve_cache",
]

log = logging.getLogger("artifactstore")

#: Environment variable naming the cache folder (default: the user cache dir's ``artifactstore/blobs``).
ENV_CACHE_DIR = "ARTIFACTSTORE_CACHE_DIR"
#: Environment variable bounding the cache (``500M``, ``2G``, ``10GiB``, ``1000000``; ``0`` turns it off).
ENV_CACHE_MAX_BYTES = "ARTIFACTSTORE_CACHE_MAX_BYTES"
#: Default bound: 10 GiB.
DEFAULT_MAX_BYTES = 10 << 30

_SEGMENT = r"[A-Za-z0-9][A-Za-z0-9._+=-]*"
_KEY = re.compile(rf"(?:{_SEGMENT}/)*{_SEGMENT}")
_STATE_SIZE = 128
_TAG = (
    "Signature: 8a477f597d28d172789f06886806bc55\n"
    "# This file is a cache directory tag created by artifactstore.\n"
    "# For information about cache directory tags see https://bford.info/cachedir/\n"
)


# --- configuration ---------------------------------------------------------------------------

_SIZE = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(?:([kmgtpe])(i?)b?|(b))?\s*$", re.IGNORECASE)


def parse_size(text: str | int) -> int:
    """A byte count from ``text``: ``1048576``, ``500M``, ``2G``, ``1.5GiB``, ``100MB``, ``64k``.

    A bare suffix (``K M G T P E``) and the ``KiB``-style suffixes are powers of
    1024; ``KB MB GB...`` (a ``B`` without ``i``) are powers of 1000. Case is
    ignored. Raises :class:`~artifactstore.errors.InvalidInputError` otherwise.
    """
    if isinstance(text, int) and not isinstance(text, bool):
        if text < 0:
            raise InvalidInputError(f"size must not be negative, got {text}")
        return text
    if not isinstance(text, str):
        raise InvalidInputError(f"size must be a string or an int, not {type(text).__name__}")
    m = _SIZE.match(text)
    if m is None:
        raise InvalidInputError(f"invalid size {text!r}: expected bytes or a number with K/M/G/T (e.g. 500M, 2G)")
    number, unit, binary = m.group(1), m.group(2), m.group(3)
    if unit is None:
        factor = 1
    else:
        power = "kmgtpe".index(unit.lower()) + 1
        # "2G", "2GiB" -> binary; "2GB" -> decimal.
        decimal = not binary and text.strip()[-1:].lower() == "b"
        factor = (1000 if decimal else 1024) ** power
    return int(float(number) * factor) if "." in number else int(number) * factor


def default_cache_dir() -> Path:
    """``$ARTIFACTSTORE_CACHE_DIR``, else ``platformdirs.user_cache_dir("artifactstore")/blobs``."""
    env = os.environ.get(ENV_CACHE_DIR, "").strip()
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("artifactstore")) / "blobs"


def default_max_bytes() -> int:
    """``$ARTIFACTSTORE_CACHE_MAX_BYTES`` parsed by :func:`parse_size`, else :data:`DEFAULT_MAX_BYTES`."""
    env = os.environ.get(ENV_CACHE_MAX_BYTES, "").strip()
    if not env:
        return DEFAULT_MAX_BYTES
    try:
        return parse_size(env)
    except InvalidInputError as exc:
        raise InvalidInputError(f"{ENV_CACHE_MAX_BYTES}: {exc}") from None


def resolve_cache(setting: BlobCache | str | os.PathLike[str] | bool | None, *, remote: bool) -> BlobCache | None:
    """Turn a store's ``cache=`` argument into a :class:`BlobCache` or ``None`` (no cache).

    - ``None`` (the default): the default cache for a remote backend, none for a local one;
    - ``True``: the default cache even for a local backend; ``False``: no cache;
    - a path: a cache in that folder, bounded by :func:`default_max_bytes`;
    - a :class:`BlobCache`: that cache.

    The default cache lives in :func:`default_cache_dir`, bounded by
    :func:`default_max_bytes`; ``ARTIFACTSTORE_CACHE_MAX_BYTES=0`` turns it off.
    When the default folder cannot be created (read-only home, no permission)
    the store runs without a cache and a warning is logged; an explicit path
    that cannot be created raises.
    """
    if isinstance(setting, BlobCache):
        return setting
    if setting is False or (setting is None and not remote):
        return None
    max_bytes = default_max_bytes()
    if setting is None or setting is True:
        if max_bytes == 0:
            return None
        root = default_cache_dir()
        try:
            return BlobCache(root, max_bytes)
        except OSError as exc:
            log.warning("local read cache disabled: cannot use %s (%s)", root, exc)
            return None
    if isinstance(setting, (str, os.PathLike)):
        return BlobCache(Path(setting), max_bytes)
    raise InvalidInputError(f"cache must be a path, a BlobCache, True, False or None, not {type(setting).__name__}")


# --- locking ---------------------------------------------------------------------------------


def _flock(fd: int, *, blocking: bool = True) -> bool:
    """Exclusive flock on ``fd``; with ``blocking=False`` return ``False`` if someone holds it."""
    if sys.platform == "win32":  # pragma: no cover - one process at a time on Windows
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if blocking else fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


@dataclass
class _State:
    """The byte counter kept in the lock file (approximate; a scan resynchronises it)."""

    total: int
    entries: int

    def encode(self) -> bytes:
        text = json.dumps({"bytes": self.total, "entries": self.entries}).encode()
        return text.ljust(_STATE_SIZE - 1) + b"\n"

    @classmethod
    def decode(cls, raw: bytes) -> _State | None:
        try:
            d = json.loads(raw.decode("ascii"))
            b, n = d["bytes"], d["entries"]
        except (ValueError, KeyError, TypeError, UnicodeDecodeError):
            return None
        if not isinstance(b, int) or not isinstance(n, int) or b < 0 or n < 0:
            return None
        return cls(b, n)


class _Counters:
    """Hits, misses and evictions of one cache folder in this process (shared by its instances)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.hits = 0
        self.misses = 0
        self.evictions = 0
        self.oversize = 0


_COUNTERS: dict[str, _Counters] = {}
_COUNTERS_LOCK = threading.Lock()


def _counters_for(root: Path) -> _Counters:
    with _COUNTERS_LOCK:
        c = _COUNTERS.get(str(root))
        if c is None:
            c = _COUNTERS[str(root)] = _Counters()
        return c


# --- the cache -------------------------------------------------------------------------------


class BlobCache:
    """A local, content-addressed, byte-bounded LRU cache of blobs, shareable by processes.

    ``root`` is the cache folder (created if needed); ``max_bytes`` bounds the
    bytes of the entries (temporary files of fills in flight are not counted).
    After a fill makes the total exceed ``max_bytes``, least-recently-used
    entries are evicted until the total is at most ``low_water * max_bytes``
    (never the entry just filled). A blob larger than ``max_bytes`` is not
    cached: :meth:`open` returns an already-unlinked temporary file, gone when
    closed. ``max_bytes=0`` therefore caches nothing.

    Thread-safe and process-safe (POSIX ``flock``); one instance may serve many
    threads. Instances on the same folder in one process share their hit/miss
    counters.
    """

    #: Temporary files of fills older than this whose filler is gone are removed by sweeps.
    orphan_seconds: float = 600.0

    def __init__(self, root: str | os.PathLike[str], max_bytes: int = DEFAULT_MAX_BYTES, *,
                 low_water: float = 0.9) -> None:
        if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 0:
            raise InvalidInputError(f"max_bytes must be a non-negative int, got {max_bytes!r}")
        if not 0.0 < low_water <= 1.0:
            raise InvalidInputError(f"low_water must be in (0, 1], got {low_water!r}")
        self.root = Path(root).expanduser().absolute()
        self.max_bytes = max_bytes
        self.low_water = low_water
        self._data = self.root / "data"
        self._data_str = str(self._data)
        self._tmp = self.root / "tmp"
        self._locks = self.root / "locks"
        self._lockfile = self.root / "lock"
        for d in (self._data, self._tmp, self._locks):
            d.mkdir(parents=True, exist_ok=True)
        tag = self.root / "CACHEDIR.TAG"
        if not tag.exists():
            with contextlib.suppress(FileExistsError), open(tag, "x", encoding="ascii") as f:
                f.write(_TAG)
        self._counters = _counters_for(self.root)

    @classmethod
    def from_env(cls) -> BlobCache:
        """The default cache: :func:`default_cache_dir`, bounded by :func:`default_max_bytes`."""
        return cls(default_cache_dir(), default_max_bytes())

    def __repr__(self) -> str:
        return f"BlobCache({str(self.root)!r}, max_bytes={self.max_bytes})"

    # --- paths ---------------------------------------------------------------------------

    def path_for(self, key: str) -> Path:
        """The local path of ``key``'s entry (whether or not it is cached).

        Keys are ``/``-separated; each segment must start with a letter or digit
        and hold only ``A-Z a-z 0-9 . _ + = -`` (so no ``..``, no absolute paths).
        """
        return Path(self._entry(key))

    def _entry(self, key: str) -> str:
        if not isinstance(key, str) or len(key) > 1024 or _KEY.fullmatch(key) is None:
            raise InvalidInputError(f"invalid cache key {key!r}")
        return os.path.join(self._data_str, key)

    def contains(self, key: str) -> bool:
        """Whether ``key`` is cached right now (another process may evict it the next moment)."""
        return os.path.isfile(self._entry(key))

    # --- reading -------------------------------------------------------------------------

    def open(self, key: str, fetch: Callable[[Path], object], verify: Callable[[Path], object], *,
             size: int | None = None) -> BinaryIO:
        """An open, seekable local file holding the blob ``key``; the caller closes it.

        On a hit the entry's recency is refreshed and ``fetch`` is not called.
        On a miss ``fetch(tmp_path)`` must write the blob into ``tmp_path`` (a
        file in the cache folder, already created and empty); then
        ``verify(tmp_path)`` must raise if the file is not the right blob.
        Only then is it published under :meth:`path_for(key) <path_for>`.
        Whatever ``fetch`` or ``verify`` raise propagates, and nothing is left
        in the cache. ``size``, when given, is the blob's expected size in
        bytes: a cached entry of another size is dropped and fetched again.

        Processes that miss the same key at once download it once: the others
        wait for the first fill and then read its entry.
        """
        path = self._entry(key)
        f = self._open_entry(path, size)
        if f is not None:
            self._count("hits")
            return f
        with self._key_lock(key):
            f = self._open_entry(path, size)
            if f is not None:  # filled by another thread or process while we waited
                self._count("hits")
                return f
            self._count("misses")
            return self._fill(path, fetch, verify)

    def discard(self, key: str) -> bool:
        """Remove ``key``'s entry (e.g. after it failed the store's SHA-256 check); whether one was there."""
        path = self._entry(key)
        with self._global() as st:
            try:
                n = os.stat(path).st_size
                os.unlink(path)
            except FileNotFoundError:
                return False
            st.total = max(0, st.total - n)
            st.entries = max(0, st.entries - 1)
        return True

    def _open_entry(self, path: str, size: int | None) -> BinaryIO | None:
        try:
            f = open(path, "rb")  # noqa: SIM115 - returned to the caller
        except (FileNotFoundError, NotADirectoryError):
            return None
        try:
            fd = f.fileno()
            st = os.fstat(fd)
            if size is not None and st.st_size != size:
                log.warning("cache entry %s has %d bytes, expected %d; fetching it again", path, st.st_size, size)
                f.close()
                self._drop(path, st)
                return None
            _touch(fd)
        except BaseException:
            f.close()
            raise
        return f

    def _drop(self, path: str, seen: os.stat_result) -> None:
        """Unlink ``path`` if it is still the inode ``seen`` (not a fresh fill), fixing the counter."""
        with self._global() as st:
            try:
                cur = os.stat(path)
            except FileNotFoundError:
                return
            if (cur.st_ino, cur.st_dev) != (seen.st_ino, seen.st_dev):
                return
            if discard(path):
                st.total = max(0, st.total - cur.st_size)
                st.entries = max(0, st.entries - 1)

    def _fill(self, path: str, fetch: Callable[[Path], object], verify: Callable[[Path], object]) -> BinaryIO:
        tmp = self._tmp / f"{os.getpid()}-{uuid.uuid4().hex}.part"
        # Held (flock) for the whole fill: a sweep only removes temp files nobody holds.
        tfd = open_creating(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL)
        try:
            _flock(tfd)
            fetch(tmp)
            verify(tmp)
            f = open(tmp, "rb")  # noqa: SIM115 - returned to the caller
            try:
                fd = f.fileno()
                n = os.fstat(fd).st_size
                if n > self.max_bytes:
                    # Too big to cache: the caller reads the unlinked file, freed on close.
                    os.unlink(tmp)
                    self._count("oversize")
                    return f
                _touch(fd)
                with contextlib.suppress(OSError):
                    os.fchmod(fd, 0o444)
                self._publish(tmp, path, n)
                return f
            except BaseException:
                f.close()
                raise
        finally:
            os.close(tfd)
            discard(tmp)

    def _publish(self, tmp: Path, path: str, n: int) -> None:
        with self._global() as st:
            if os.path.lexists(path):  # someone published it meanwhile: keep theirs, ours is unlinked
                return
            publish(tmp, path, make_parents=True)
            st.total += n
            st.entries += 1
            if st.total > self.max_bytes:
                self._evict_locked(st, keep=path)

    # --- accounting and eviction ---------------------------------------------------------

    @contextlib.contextmanager
    def _global(self) -> Iterator[_State]:
        """Hold the cache-wide lock; yield the byte counter, written back if changed."""
        fd = open_creating(self._lockfile, os.O_RDWR | os.O_CREAT)
        try:
            _flock(fd)
            st = _State.decode(os.pread(fd, _STATE_SIZE, 0))
            before = None if st is None else _State(st.total, st.entries)
            if st is None:  # first use, or a torn write: count what is there
                entries = self._scan()
                st = _State(sum(e[1] for e in entries), len(entries))
            try:
                yield st
            finally:
                if st != before:
                    os.pwrite(fd, st.encode(), 0)
        finally:
            os.close(fd)

    def _scan(self) -> list[tuple[int, int, str]]:
        """(mtime_ns, size, path) of every entry."""
        out: list[tuple[int, int, str]] = []
        stack = [str(self._data)]
        while stack:
            d = stack.pop()
            try:
                it = os.scandir(d)
            except (FileNotFoundError, NotADirectoryError):
                continue
            with it:
                for e in it:
                    try:
                        if e.is_dir(follow_symlinks=False):
                            stack.append(e.path)
                        elif e.is_file(follow_symlinks=False):
                            s = e.stat(follow_symlinks=False)
                            out.append((s.st_mtime_ns, s.st_size, e.path))
                    except FileNotFoundError:
                        continue
        return out

    def _evict_locked(self, st: _State, keep: str | None = None) -> None:
        """Resync the counter from a scan; if over ``max_bytes``, evict LRU entries down to the low-water mark."""
        entries = self._scan()
        total = sum(e[1] for e in entries)
        count = len(entries)
        if total > self.max_bytes:
            target = int(self.max_bytes * self.low_water)
            entries.sort()
            evicted = 0
            for _mtime, n, p in entries:
                if total <= target:
                    break
                if p == keep:
                    continue
                try:
                    if discard(p):
                        evicted += 1
                except OSError as exc:  # e.g. another user's entry in a shared folder: leave it
                    log.debug("cache %s: cannot evict %s: %s", self.root, p, exc)
                    continue
                total -= n
                count -= 1
            if evicted:
                self._count("evictions", evicted)
                log.debug("cache %s: evicted %d entries, %d bytes left", self.root, evicted, total)
        st.total, st.entries = total, count
        self._sweep(self.orphan_seconds)

    def _sweep(self, min_age: float) -> int:
        """Remove temp files and lock files nobody holds (older than ``min_age`` seconds); bytes freed."""
        freed = 0
        now = time.time()
        for d in (self._tmp, self._locks):
            try:
                names = os.listdir(d)
            except FileNotFoundError:
                continue
            for name in names:
                p = os.path.join(d, name)
                try:
                    fd = os.open(p, os.O_RDONLY)
                except (FileNotFoundError, IsADirectoryError, PermissionError):
                    continue
                try:
                    s = os.fstat(fd)
                    if now - s.st_mtime < min_age or not _flock(fd, blocking=False):
                        continue
                    # Unlink only while holding it, and only if the name is still this inode.
                    cur = os.stat(p)
                    if (cur.st_ino, cur.st_dev) == (s.st_ino, s.st_dev):
                        os.unlink(p)
                        freed += s.st_size
                except FileNotFoundError:
                    pass
                finally:
                    os.close(fd)
        return freed

    @contextlib.contextmanager
    def _key_lock(self, key: str) -> Iterator[None]:
        """Serialise fills of ``key`` across threads and processes.

        The lock file is unlinked by its holder when the fill ends, so lock files
        do not pile up; a waiter that wakes up holding an unlinked file retries.
        """
        p = self._locks / hashlib.sha256(key.encode()).hexdigest()[:40]
        while True:
            fd = open_creating(p, os.O_RDWR | os.O_CREAT)
            try:
                _flock(fd)
                mine = os.fstat(fd)
                try:
                    cur = os.stat(p)
                except FileNotFoundError:
                    cur = None
            except BaseException:
                os.close(fd)
                raise
            if cur is not None and (cur.st_ino, cur.st_dev) == (mine.st_ino, mine.st_dev):
                break
            os.close(fd)
        try:
            yield
        finally:
            discard(p)
            os.close(fd)

    def _count(self, name: str, n: int = 1) -> None:
        c = self._counters
        with c.lock:
            setattr(c, name, getattr(c, name) + n)

    # --- inspection and maintenance ------------------------------------------------------

    @property
    def hits(self) -> int:
        """Reads served from the cache by this process (all instances on this folder)."""
        return self._counters.hits

    @property
    def misses(self) -> int:
        """Reads that had to fetch, in this process (all instances on this folder)."""
        return self._counters.misses

    def info(self) -> dict[str, Any]:
        """What the cache holds, counted exactly (a scan, which also resyncs the byte counter).

        Keys: ``path``, ``entries``, ``bytes``, ``max_bytes``, and, since this
        process started, ``hits``, ``misses``, ``evictions`` and ``oversize``
        (blobs too large to cache); ``temp_files`` counts fills in flight or orphaned.
        """
        with self._global() as st:
            entries = self._scan()
            st.total, st.entries = sum(e[1] for e in entries), len(entries)
            n_bytes, n_entries = st.total, st.entries
        try:
            temp_files = len(os.listdir(self._tmp))
        except FileNotFoundError:
            temp_files = 0
        c = self._counters
        with c.lock:
            hits, misses, evictions, oversize = c.hits, c.misses, c.evictions, c.oversize
        return {
            "path": str(self.root),
            "entries": n_entries,
            "bytes": n_bytes,
            "max_bytes": self.max_bytes,
            "hits": hits,
            "misses": misses,
            "evictions": evictions,
            "oversize": oversize,
            "temp_files": temp_files,
        }

    def clear(self) -> int:
        """Remove every entry (and orphaned temp files); return the bytes freed.

        Readers that have an entry open keep reading it; fills in flight finish
        and publish normally. Only the cache's own files are touched.
        """
        freed = 0
        with self._global() as st:
            for _mtime, n, p in self._scan():
                if discard(p):
                    freed += n
            st.total, st.entries = 0, 0
            # Empty sub-folders go too (publishing creates them under this same lock).
            for dirpath, _dirs, _files in os.walk(self._data, topdown=False):
                if dirpath != str(self._data):
                    with contextlib.suppress(OSError):
                        os.rmdir(dirpath)
            freed += self._sweep(0.0)
        return freed


def _touch(fd: int) -> None:
    """Mark an entry as just used (its mtime is its recency)."""
    now = time.time_ns()
    with contextlib.suppress(OSError):  # not our file (shared cache, other uid): recency is best effort
        os.utime(fd, ns=(now, now))
