"""The fault-injecting backend (artifactstore.testing.faults) and what the store guarantees under it.

- The backend conformance suite passes on ``FaultyBackend`` over local disk and memory with a
  plan of transient faults, throttling and slow calls: the retry runner hides them.
- A store over such a backend does all its work unchanged.
- With a permanent fault (or a torn write) at EVERY call index of a put, put_many, delete,
  promotion and gc: the operation raises a typed error (or, if the fault hit after the catalog
  commit, succeeds); afterwards verify passes, nothing is half visible, no staging file is left,
  a reindex into a fresh catalog equals the live catalog, and the same call succeeds again.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import fsspec
import pytest

import artifactstore
from artifactstore import ArtifactStore
from artifactstore.backends.base import Backend
from artifactstore.backends.fsspec_backend import FsspecBackend
from artifactstore.backends.local import LocalBackend
from artifactstore.errors import ArtifactStoreError, BackendError
from artifactstore.gc import collect
from artifactstore.testing import Fault, FaultPlan, FaultyBackend, faults
from artifactstore.testing.backend import BackendTests
from artifactstore.testing.faults import FaultKind
from artifactstore.testing.fixtures import RemoteRoot
from helpers import sql_catalog

#: Transient faults, throttling and slow calls, all of which the store must not notice.
SURVIVABLE = "transient:every=3,throttle:every=5,slow:every=7:delay=0.001"


def _survivable() -> FaultPlan:
    return FaultPlan.parse(SURVIVABLE)


class TestFaultyFileBackend(BackendTests):
    @pytest.fixture
    def backend(self, tmp_path: Path) -> Iterator[Backend]:
        b = FaultyBackend(LocalBackend(str(tmp_path / "root")), _survivable())
        yield b
        b.close()

    def reopen(self, backend: Backend) -> Backend:
        assert isinstance(backend, FaultyBackend)
        return FaultyBackend(LocalBackend(backend.inner.url), _survivable())


class TestFaultyMemoryBackend(BackendTests):
    @pytest.fixture
    def backend(self) -> Iterator[Backend]:
        inner = FsspecBackend(f"memory://faulty-{uuid.uuid4().hex}")
        b = FaultyBackend(inner, _survivable())
        yield b
        b.close()
        fs = fsspec.filesystem("memory")
        if fs.exists(inner.root):
            fs.rm(inner.root, recursive=True)

    def reopen(self, backend: Backend) -> Backend:
        assert isinstance(backend, FaultyBackend)
        return FaultyBackend(FsspecBackend(backend.inner.url), _survivable())


def test_plan_parse_and_counting() -> None:
    plan = FaultPlan.parse("permanent:method=exists:nth=2:count=2,slow:every=4:delay=0,remote")
    assert plan.remote and len(plan.faults) == 2
    hits = [plan.decide("exists") for _ in range(5)]
    assert [h.kind if h else None for h in hits] == [None, "permanent", "permanent", "slow", None]
    assert plan.calls("exists") == 5 and plan.calls() == 5
    with pytest.raises(ValueError, match="unknown fault kind"):
        Fault("explode", nth=1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown call"):
        Fault("permanent", "nosuch", nth=1)
    with pytest.raises(ValueError, match="exactly one of"):
        Fault("permanent")


def test_permanent_faults_are_typed_and_transient_ones_retried(tmp_path: Path) -> None:
    inner = LocalBackend(str(tmp_path / "r"))
    b = FaultyBackend(inner, FaultPlan.fail_nth(1, "write_bytes", remote=True))
    with pytest.raises(BackendError, match="write_bytes"):
        b.write_bytes("manifests/x", b"1")
    b.write_bytes("manifests/x", b"2")  # only the first call was hit
    assert inner.read_bytes("manifests/x") == b"2"
    raw = FaultyBackend(inner, FaultPlan.fail_nth(1, raw=True))
    with pytest.raises(OSError) as info:
        raw.exists("manifests/x")
    assert not isinstance(info.value, ArtifactStoreError)  # raw: as a backend that breaks the contract
    flaky = FaultyBackend(inner, FaultPlan([Fault("throttle", "read_bytes", nth=1, count=3)]))
    assert flaky.read_bytes("manifests/x") == b"2"  # three throttled attempts, then through
    assert [k for _n, _m, k in flaky.plan.injected] == ["throttle"] * 3
    with pytest.raises(FileNotFoundError):  # the inner backend's own errors pass unchanged
        flaky.read_bytes("manifests/absent")
    torn = FaultyBackend(inner, FaultPlan([Fault("short", "append_bytes", nth=1, fraction=0.5)]))
    with pytest.raises(BackendError):
        torn.append_bytes("manifests/log", b"0123456789")
    assert inner.read_bytes("manifests/log") == b"01234"  # the first half landed


def test_registered_as_a_plugin(tmp_path: Path) -> None:
    with artifactstore.open(f"faulty+file://{tmp_path / 's'}", plugins=[faults], faults=SURVIVABLE) as s:
        assert isinstance(s.backend, FaultyBackend)
        a = s.put(b"through the plugin", name="p.txt", artifact_type="other")
        assert s.read_bytes(a) == b"through the plugin"
        assert s.backend.plan.injected


# --- the store under faults ------------------------------------------------------------------


def _dump(store: ArtifactStore) -> dict[str, list[tuple[Any, ...]]]:
    """Every catalog row reindex rebuilds, sorted (alias timestamps and codec notes left out)."""
    import sqlalchemy as sa

    from artifactstore.catalog import schema as S

    skip = {"codec_error", "updated_at"}
    out: dict[str, list[tuple[Any, ...]]] = {}
    with sql_catalog(store).engine.connect() as conn:
        for t in (S.artifacts, S.names, S.aliases, S.tags, S.metadata_kv, S.evaluations, S.champions):
            rows = conn.execute(sa.select(*[c for c in t.c if c.name not in skip])).all()
            out[t.name] = sorted((tuple(round(v, 3) if isinstance(v, float) else v for v in r) for r in rows),
                                 key=repr)
    return out


def _setup(s: ArtifactStore) -> None:
    a = s.put(b"first " * 1000, name="a.txt", artifact_type="other", tags=["x"], metadata={"k": 1})
    s.put(b"second", name="b.txt", artifact_type="other")
    s.record_evaluation("e1", "m1", global_score=0.5, success_rate=0.5, artifacts=[a])


def _op(s: ArtifactStore, kind: str) -> None:
    if kind == "put":
        s.put(b"new content " * 5000, name="a.txt", artifact_type="other", metadata={"n": 2})
    elif kind == "put_many":
        s.put_many([{"source": b"x%d" % i * 3000, "name": f"m{i}.txt", "artifact_type": "other"} for i in range(2)])
    elif kind == "delete":
        s.delete("b.txt")
    elif kind == "promote":
        s.promote_champion("m1", evaluation_id="e1", global_score=0.9, success_rate=0.5, artifacts=["a.txt"])
    else:
        s.delete("b.txt")
        collect(s, ["keep_all"], dry_run=False, grace_seconds=0)


#: How each operation may change the number of artifacts: all of it or nothing.
_DELTA = {"put": 1, "put_many": 2, "delete": -1, "promote": 0, "gc": -1}


def _open(url: str, plan: FaultPlan) -> ArtifactStore:
    return artifactstore.open(url, plugins=[faults], faults=plan)


def _calls_of(url: str, kind: str) -> dict[str, int]:
    """How many calls of each method the operation makes (a dry run on a fresh store)."""
    plan = FaultPlan(armed=False)
    with _open(url, plan) as s:
        _setup(s)
        before = dict(plan.counts)
        _op(s, kind)
        return {m: n - before.get(m, 0) for m, n in plan.counts.items() if m != "*" and n - before.get(m, 0)}


def _attack(url: str, kind: str, fault: Callable[[FaultPlan], Fault], fresh: Path) -> str:
    """Run ``kind`` with ``fault`` injected, then check every guarantee; return the outcome."""
    plan = FaultPlan(armed=False)
    with _open(url, plan) as s:
        _setup(s)
        n0 = s.count()
        plan.faults = [fault(plan)]
        plan.armed = True
        try:
            _op(s, kind)
            outcome = "succeeded"
        except ArtifactStoreError as exc:
            outcome = f"raised {type(exc).__name__}"
        except Exception as exc:  # pragma: no cover - the failure this test exists for
            raise AssertionError(f"{kind} with {plan.faults[0]} raised an untyped {type(exc).__name__}: {exc}") from exc
        assert plan.injected, f"the fault {plan.faults[0]} never fired"
        plan.armed = False
        assert s.count() in (n0, n0 + _DELTA[kind]), f"{kind} is half visible after {plan.injected}"
        rep = s.verify()
        assert not rep.corrupt and not rep.missing, rep
        local = s.backend.local_path("tmp")
        assert local is None or not any(local.glob("*.part")), "a staging file was left behind"
        if outcome != "succeeded" or kind in ("put", "put_many", "promote"):
            _op(s, kind) if kind != "gc" else collect(s, ["keep_all"], dry_run=False, grace_seconds=0)
    with _open(url, FaultPlan()) as s:  # reopened: settles what the failed call left pending
        rep = s.verify()
        assert not rep.corrupt and not rep.missing, rep
        for a in s.catalog.iter_all():
            assert hashlib.sha256(s.read_bytes(a)).hexdigest() == a.sha256
        live = _dump(s)
    fresh.unlink(missing_ok=True)
    with artifactstore.open(url, plugins=[faults], catalog=fresh) as f:
        rebuilt = _dump(f)
    for table in live:
        assert rebuilt[table] == live[table], f"reindex differs from live in {table} after {kind} with {fault}"
    return outcome


def _nth_call(kind: FaultKind, method: str | None, k: int) -> Callable[[FaultPlan], Fault]:
    """A fault on the ``k``-th call (of ``method``) from the moment the plan is armed."""
    return lambda plan: Fault(kind, method, nth=plan.calls(method) + k)


def _url(backend: str, tmp_path: Path, tag: str) -> str:
    if backend == "file":
        return f"faulty+file://{tmp_path / tag}"
    return f"faulty+memory://faults-{uuid.uuid4().hex}"


#: Every kind on local disk (journals appended); on memory (journals as one object per batch, the
#: object-store path) the kinds whose calls differ there.
CASES = [(k, "file") for k in _DELTA] + [("put_many", "memory"), ("delete", "memory")]


@pytest.mark.parametrize(("kind", "backend"), CASES)
def test_a_permanent_fault_at_every_call(kind: str, backend: str, tmp_path: Path) -> None:
    total = sum(_calls_of(_url(backend, tmp_path, "dry"), kind).values())
    assert total >= 2
    outcomes = []
    for k in range(1, total + 1):
        outcomes.append(_attack(_url(backend, tmp_path, f"k{k}"), kind, _nth_call("permanent", None, k),
                                tmp_path / "fresh.db"))
    assert any(o.startswith("raised") for o in outcomes), outcomes


@pytest.mark.parametrize("kind", ["put", "put_many", "delete", "promote"])
def test_a_torn_write_at_every_write_call(kind: str, tmp_path: Path) -> None:
    calls = _calls_of(_url("file", tmp_path, "dry"), kind)
    n = 0
    for method in ("writer.write", "append_bytes"):
        for j in range(1, calls.get(method, 0) + 1):
            n += 1
            _attack(_url("file", tmp_path, f"{method}{j}"), kind, _nth_call("short", method, j), tmp_path / "fresh.db")
    assert n >= 2


def test_a_torn_journal_line_is_never_glued_to_the_next(tmp_path: Path) -> None:
    """A torn append (half a line landed, then an error) must not swallow the next entry."""
    url = f"faulty+file://{tmp_path / 's'}"
    plan = FaultPlan(armed=False)
    with _open(url, plan) as s:
        s.put(b"one", name="a.txt", artifact_type="other")
        plan.faults = [Fault("short", "append_bytes", nth=plan.calls("append_bytes") + 1, fraction=0.5)]
        plan.armed = True
        with pytest.raises(BackendError):
            s.put(b"two", name="a.txt", artifact_type="other")
        plan.armed = False
        b = s.put(b"three", name="a.txt", artifact_type="other")
        assert b.version == 2
    with artifactstore.open(url, plugins=[faults], catalog=tmp_path / "fresh.db") as f:
        assert [(a.version, f.read_bytes(a)) for a in f.versions("a.txt")] == [(1, b"one"), (2, b"three")]


def test_the_store_does_not_notice_survivable_faults(tmp_path: Path) -> None:
    plan = _survivable()
    url = f"faulty+file://{tmp_path / 's'}"
    with _open(url, plan) as s:
        a = s.put(b"payload " * 20000, name="a.txt", artifact_type="other")
        many = s.put_many([{"source": b"%d" % i * 999, "name": f"m{i}.txt", "artifact_type": "other"}
                           for i in range(4)])
        s.set_alias(a, "best")
        s.record_evaluation("e1", "m1", global_score=0.5, success_rate=0.5, artifacts=[a])
        assert s.promote_champion("m1", evaluation_id="e1", global_score=0.5, success_rate=0.5) is not None
        s.delete(many[0])
        collect(s, ["keep_all"], dry_run=False, grace_seconds=0)
        assert s.read_bytes("a.txt:best") == b"payload " * 20000
        rep = s.verify()
        assert not rep.corrupt and not rep.missing and len(rep.checked) == 4
        assert s.reindex() == 4
        live = _dump(s)
    kinds = {k for _n, _m, k in plan.injected}
    assert kinds == {"transient", "throttle", "slow"}, plan.injected
    with artifactstore.open(url, plugins=[faults], catalog=tmp_path / "fresh.db") as f:
        assert _dump(f) == live


def test_an_s3_store_under_survivable_faults_and_a_permanent_one(s3_url: RemoteRoot, tmp_path: Path) -> None:
    """Over a real S3 protocol server (moto): the object-store paths (one journal object per batch,
    spool files above 4 MiB, leases before uploads) under transient faults, then a permanent one."""
    plan = _survivable()
    url = f"faulty+{s3_url.url}"
    big = os.urandom(5 << 20)  # above the 4 MiB in-memory limit: staged through a spool file
    with artifactstore.open(url, tmp_path / "cat.db", plugins=[faults], faults=plan, cache=False,
                            **s3_url.storage_options) as s:
        a = s.put(big, name="big.bin", artifact_type="model")
        s.put_many([{"source": b"%d" % i * 999, "name": f"m{i}.txt", "artifact_type": "other"} for i in range(3)])
        s.delete("m0.txt")
        collect(s, ["keep_all"], dry_run=False, grace_seconds=0)
        assert s.read_bytes(a) == big and s.verify().ok
        plan.faults = [Fault("permanent", "write_bytes", nth=plan.calls("write_bytes") + 1, every=0)]
        with pytest.raises(BackendError):  # the manifest object of the put cannot be written
            s.put(b"refused", name="r.txt", artifact_type="other")
        plan.armed = False
        assert s.count() == 3 and s.verify().ok
        live = _dump(s)
    assert {k for _n, _m, k in plan.injected} >= {"transient", "throttle", "permanent"}
    with artifactstore.open(url, tmp_path / "fresh.db", plugins=[faults], cache=False, **s3_url.storage_options) as f:
        assert _dump(f) == live
