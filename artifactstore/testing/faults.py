"""A fault-injecting backend: wrap any :class:`~artifactstore.backends.base.Backend` and make
chosen calls fail, tear, throttle or stall.

``FaultyBackend(inner, plan)`` forwards every call to ``inner``; before each one it asks its
:class:`FaultPlan` whether that call (counted per method and over all methods) is one to
hit, and with what:

- ``permanent``: the call fails for good (``OSError(EIO)`` underneath, what a local disk
  raises; ``remote=True``: an HTTP 403 shaped like a cloud client's);
- ``transient``: a connection reset; ``throttle``: an HTTP 503 ``SlowDown`` shaped like
  botocore's and Azure's (both retryable);
- ``short``: a torn write: the first part of the data lands (``writer.write``,
  ``append_bytes``), then the call fails permanently (what ENOSPC or EIO in the middle of
  a write does); ``write_bytes``, atomic by contract, fails without writing;
- ``slow``: the call sleeps ``delay`` seconds first, then works.

Transient and throttling faults are raised *inside* the same retry runner the cloud
backends use (:class:`artifactstore.backends.cloud.RemoteCalls`, with the given
:class:`~artifactstore.backends.cloud.RetryPolicy`), so they exercise the project's real
classification and backoff: a plan of only transient faults must be invisible to the
store and to the backend conformance suite. Every failure therefore comes out as the
backend contract says: :class:`~artifactstore.errors.BackendError` (the runner's, naming the
call), ``FileNotFoundError`` for an absent key on a read; ``FaultPlan(raw=True)`` lets the
injected error out untranslated instead, as a backend that breaks the contract would.

Calls are named after the backend method (``write_bytes``, ``append_bytes``, ``read_bytes``,
``exists``, ``info``, ``list``, ``delete``, ``open_read``, ``read_range``, ``upload_file``,
``download_file``, ``writer``) and ``writer.write`` / ``writer.commit`` for a staged write.
``writer.abort`` and ``close`` are never faulted (cleanup must be able to run), and a
faulty writer offers no ``staged_fd`` (so every staged byte goes through ``writer.write``).

As a plugin: :func:`artifactstore_register_backends` registers ``faulty+file``,
``faulty+memory``, ``faulty+s3``, ``faulty+gs`` and ``faulty+az``; the storage option
``faults`` takes the plan (a :class:`FaultPlan`, or a spec string for
:meth:`FaultPlan.parse` such as ``"transient:every=3,slow:every=7:delay=0.01"``), and
``fault_retry`` the retry policy::

    from artifactstore.testing import faults
    store = artifactstore.open("faulty+file:///tmp/s", plugins=[faults], faults="throttle:every=4")
"""

from __future__ import annotations

import errno
import random
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Literal, TypeVar

from ..backends.base import Backend, BlobWriter, ObjectInfo
from ..backends.cloud import RemoteCalls, RetryPolicy
from ..errors import BackendError
from ..hookspecs import Registrar, hookimpl

__all__ = [
    "FAULT_KINDS",
    "FaultKind",
    "METHODS",
    "Fault",
    "FaultPlan",
    "FaultyBackend",
    "InjectedFault",
    "InjectedThrottle",
    "InjectedPermanentFault",
    "InjectedIOError",
    "FAST_RETRY",
    "artifactstore_register_backends",
]

T = TypeVar("T")
FaultKind = Literal["permanent", "transient", "throttle", "short", "slow"]
#: Every kind of fault a plan can inject.
FAULT_KINDS: tuple[str, ...] = ("permanent", "transient", "throttle", "short", "slow")
#: Every call name a plan can target.
METHODS: tuple[str, ...] = (
    "writer", "writer.write", "writer.commit", "write_bytes", "append_bytes", "upload_file", "open_read",
    "read_bytes", "read_range", "download_file", "exists", "info", "list", "delete",
)  # fmt: skip
_WRITES = frozenset({"writer.write", "append_bytes"})

#: A retry policy for tests: many quick attempts.
FAST_RETRY = RetryPolicy(attempts=6, base_delay=0.001, max_delay=0.01, total_timeout=5.0)


class InjectedFault(ConnectionResetError):
    """A transient fault (a connection reset), raised by a :class:`FaultyBackend` on purpose."""


class InjectedThrottle(OSError):
    """A throttling fault shaped like botocore's and azure-core's (HTTP 503, ``SlowDown``)."""

    def __init__(self, call: str) -> None:
        super().__init__(f"injected throttling of {call} (503 SlowDown)")
        self.status_code = 503
        self.error_code = "SlowDown"
        self.response = {"Error": {"Code": "SlowDown"}, "ResponseMetadata": {"HTTPStatusCode": 503}}


class InjectedIOError(OSError):
    """A permanent fault shaped like a local disk's (``EIO``), for local-shaped plans."""


class InjectedPermanentFault(PermissionError):
    """A permanent fault shaped like a cloud client's HTTP 403 (``remote=True`` plans)."""

    def __init__(self, call: str) -> None:
        super().__init__(errno.EACCES, f"injected permanent fault in {call} (403 AccessDenied)")
        self.status_code = 403


@dataclass(frozen=True)
class Fault:
    """One rule of a plan: hit the ``nth`` matching call (1-based; then ``count`` calls in a
    row), or every ``every``-th matching call. ``method=None`` matches every call."""

    kind: FaultKind
    method: str | None = None
    nth: int = 0
    count: int = 1
    every: int = 0
    delay: float = 0.02
    fraction: float = 0.5

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r} (known: {', '.join(FAULT_KINDS)})")
        if self.method is not None and self.method not in METHODS:
            raise ValueError(f"unknown call {self.method!r} (known: {', '.join(METHODS)})")
        if (self.nth > 0) == (self.every > 0):
            raise ValueError("a fault needs exactly one of nth=N or every=N (N >= 1)")

    def hits(self, n: int) -> bool:
        """Whether the ``n``-th matching call (1-based) is hit."""
        if self.every:
            return n % self.every == 0
        return self.nth <= n < self.nth + self.count


@dataclass
class FaultPlan:
    """Which calls fail and how; counts calls (thread-safe) and keeps a log of what it did.

    ``remote`` picks the shape of permanent faults (see the module docs); ``raw`` lets
    injected errors out untranslated (a backend that breaks the contract); ``seed`` with
    ``rate`` adds random faults of ``random_kinds`` to a share of all calls.
    """

    faults: Sequence[Fault] = ()
    remote: bool = False
    raw: bool = False
    rate: float = 0.0
    random_kinds: tuple[FaultKind, ...] = ("transient", "throttle")
    seed: int = 0
    #: Total calls seen, per method and over all ("*").
    counts: dict[str, int] = field(default_factory=dict)
    #: (call number over all, method, fault kind) of every fault injected.
    injected: list[tuple[int, str, str]] = field(default_factory=list)
    #: Set to False to let every call through (e.g. to check the store afterwards).
    armed: bool = True

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._rnd = random.Random(self.seed)

    @classmethod
    def fail_nth(cls, n: int, method: str | None = None, kind: FaultKind = "permanent", **kw: Any) -> FaultPlan:
        """A plan that hits only the ``n``-th call (of ``method``, or of any)."""
        return cls([Fault(kind, method, nth=n)], **kw)

    @classmethod
    def parse(cls, spec: str) -> FaultPlan:
        """``kind[:method=M][:nth=N|:every=N][:count=N][:delay=S][:fraction=F]``, comma-separated.

        ``remote`` alone as an item makes permanent faults remote-shaped."""
        faults: list[Fault] = []
        remote = False
        for item in filter(None, (s.strip() for s in spec.split(","))):
            if item == "remote":
                remote = True
                continue
            kind, *opts = item.split(":")
            kw: dict[str, Any] = {}
            for opt in opts:
                k, _, v = opt.partition("=")
                if k == "method":
                    kw[k] = v
                elif k in ("nth", "count", "every"):
                    kw[k] = int(v)
                elif k in ("delay", "fraction"):
                    kw[k] = float(v)
                else:
                    raise ValueError(f"unknown fault option {k!r} in {item!r}")
            faults.append(Fault(kind, **kw))  # type: ignore[arg-type]
        return cls(faults, remote=remote)

    def calls(self, method: str | None = None) -> int:
        """How many calls (of ``method``, or of any) the plan has seen."""
        with self._lock:
            return self.counts.get(method or "*", 0)

    def decide(self, method: str, attempt: int = 1) -> Fault | None:
        """Count one call of ``method``; the fault to inject into it, if any.

        ``attempt`` is the retry runner's attempt number: ``every`` rules and random faults
        hit first attempts only (so concurrent callers cannot make one call's retries run
        out), ``nth`` rules hit whatever they count."""
        with self._lock:
            total = self.counts["*"] = self.counts.get("*", 0) + 1
            mine = self.counts[method] = self.counts.get(method, 0) + 1
            if not self.armed:
                return None
            for f in self.faults:
                if f.every and attempt > 1:
                    continue
                if f.hits(mine if f.method == method else total if f.method is None else -1):
                    self.injected.append((total, method, f.kind))
                    return f
            if self.rate and attempt == 1 and self._rnd.random() < self.rate:
                kind = self._rnd.choice(self.random_kinds)
                self.injected.append((total, method, kind))
                return Fault(kind, nth=1)
            return None

    def error(self, fault: Fault, method: str) -> BaseException:
        """The exception that ``fault`` raises in ``method``."""
        if fault.kind == "transient":
            return InjectedFault(errno.ECONNRESET, f"injected connection reset in {method}")
        if fault.kind == "throttle":
            return InjectedThrottle(method)
        if self.remote:
            return InjectedPermanentFault(method)
        return InjectedIOError(errno.EIO, f"injected I/O error in {method}")


class _FaultyWriter(BlobWriter):
    def __init__(self, backend: FaultyBackend, inner: BlobWriter) -> None:
        self._b = backend
        self._inner = inner

    def write(self, data: bytes | memoryview) -> int:
        return self._b.run("writer.write", lambda: self._inner.write(data), data=data,
                           partial=lambda part: self._inner.write(part))

    def commit(self, key: str) -> None:
        self._b.run("writer.commit", lambda: self._inner.commit(key))

    def abort(self) -> None:
        self._inner.abort()

    @property
    def bytes_written(self) -> int:
        return self._inner.bytes_written


class FaultyBackend(Backend):
    """``inner`` with the faults of ``plan`` injected (see the module docs)."""

    def __init__(self, inner: Backend, plan: FaultPlan | None = None, *, retry: RetryPolicy = FAST_RETRY) -> None:
        self.inner = inner
        self.plan = plan if plan is not None else FaultPlan()
        self.url = f"faulty+{inner.url}"
        self.supports_append = inner.supports_append  # type: ignore[misc]
        self.is_remote = inner.is_remote  # type: ignore[misc]
        self.has_mtime = inner.has_mtime  # type: ignore[misc]
        # Transient faults go through the cloud backends' own retry runner (see the module docs).
        self._calls = RemoteCalls(self.url, {}, retry)

    def run(self, method: str, fn: Callable[[], T], *, data: bytes | memoryview | None = None,
            partial: Callable[[bytes | memoryview], Any] | None = None) -> T:
        """Call ``fn`` as the call ``method``, with the plan's fault for it, if any.

        Only injected faults go through the retry runner's classification; the inner
        backend's own errors come out unchanged."""

        attempts = 0

        def attempt() -> T:
            nonlocal attempts
            attempts += 1
            fault = self.plan.decide(method, attempts)
            if fault is not None:
                if fault.kind == "slow":
                    time.sleep(fault.delay)
                elif fault.kind == "short" and data is not None and partial is not None and method in _WRITES:
                    cut = int(len(data) * fault.fraction)
                    if cut:
                        partial(memoryview(data)[:cut])
                    raise self.plan.error(fault, method)
                else:
                    raise self.plan.error(fault, method)
            try:
                return fn()
            except Exception as exc:
                err = _Passthrough(exc)
            raise err  # outside the except block: the runner must not classify the inner's error

        failure: BaseException
        try:
            return self._calls(method, "", attempt)
        except _Passthrough as p:
            failure = p.error
        except BackendError as exc:
            if not self.plan.raw or not isinstance(exc.__cause__, _INJECTED):
                raise
            failure = exc.__cause__  # a backend that does not translate its errors
        raise failure

    # --- writing -------------------------------------------------------------------------

    def writer(self) -> BlobWriter:
        return _FaultyWriter(self, self.run("writer", self.inner.writer))

    def write_bytes(self, key: str, data: bytes) -> None:
        self.run("write_bytes", lambda: self.inner.write_bytes(key, data))

    def append_bytes(self, key: str, data: bytes) -> None:
        self.run("append_bytes", lambda: self.inner.append_bytes(key, data), data=data,
                 partial=lambda part: self.inner.append_bytes(key, bytes(part)))

    def upload_file(self, path: Path, key: str) -> None:
        self.run("upload_file", lambda: self.inner.upload_file(path, key))

    # --- reading -------------------------------------------------------------------------

    def open_read(self, key: str) -> BinaryIO:
        return self.run("open_read", lambda: self.inner.open_read(key))

    def read_bytes(self, key: str) -> bytes:
        return self.run("read_bytes", lambda: self.inner.read_bytes(key))

    def read_range(self, key: str, start: int, length: int) -> bytes:
        return self.run("read_range", lambda: self.inner.read_range(key, start, length))

    def download_file(self, key: str, path: Path) -> None:
        self.run("download_file", lambda: self.inner.download_file(key, path))

    # --- metadata ------------------------------------------------------------------------

    def exists(self, key: str) -> bool:
        return self.run("exists", lambda: self.inner.exists(key))

    def info(self, key: str) -> ObjectInfo:
        return self.run("info", lambda: self.inner.info(key))

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        # The listing is taken whole, so that a fault hits the call, not a half-consumed iterator.
        return iter(self.run("list", lambda: [*self.inner.list(prefix)]))

    def delete(self, key: str) -> None:
        self.run("delete", lambda: self.inner.delete(key))

    # --- lifecycle -----------------------------------------------------------------------

    def local_path(self, key: str) -> Path | None:
        return self.inner.local_path(key)

    def close(self) -> None:
        self.inner.close()


class _Passthrough(Exception):
    """Carries an error of the inner backend through the retry runner unclassified."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


_INJECTED = (InjectedFault, InjectedThrottle, InjectedPermanentFault, InjectedIOError)


def _factory(url: str, *, faults: FaultPlan | str | None = None, fault_retry: RetryPolicy | int | None = None,
             **options: Any) -> Backend:
    from ..plugins import default_registry

    inner_url = url.split("+", 1)[1]
    scheme = inner_url.split("://", 1)[0].lower()
    reg = default_registry().get("backend", scheme)
    if reg is None:
        raise ValueError(f"no backend is registered for {scheme!r} (in {url!r})")
    plan = FaultPlan.parse(faults) if isinstance(faults, str) else faults
    retry = FAST_RETRY if fault_retry is None else RetryPolicy.coerce(fault_retry)
    return FaultyBackend(reg.factory(inner_url, **options), plan, retry=retry)


@hookimpl
def artifactstore_register_backends(register: Registrar) -> None:
    """``faulty+<scheme>://...``: the backend of ``<scheme>`` wrapped in a :class:`FaultyBackend`."""
    for scheme in ("file", "memory", "s3", "gs", "az"):
        register(f"faulty+{scheme}", _factory, description=f"{scheme}:// with injected faults (tests)")
