"""Champions under contention, retention policies and gc while writers are busy."""

from __future__ import annotations

import datetime as dt
import itertools
import multiprocessing as mp
import random
import time
from pathlib import Path
from typing import Any

import pytest

import artifactstore
from artifactstore import ArtifactStore, gc
from artifactstore.errors import InvalidInputError, UnknownPolicyError


def _promoter(root: str, worker: int, q: mp.Queue[Any]) -> None:
    rng = random.Random(worker)
    won = []
    with artifactstore.open(root) as s:
        for i in range(6):
            score = rng.random()
            c = s.promote_champion(f"model-{worker}", evaluation_id=f"e{worker}-{i}", global_score=score,
                                   success_rate=score, only_if_better=True)
            if c is not None:
                won.append((c.champion_id, score))
    q.put(won)


def test_16_processes_promoting_at_once(tmp_path: Path) -> None:
    root = tmp_path / "s"
    artifactstore.open(root).close()
    ctx = mp.get_context("spawn")
    q: mp.Queue[Any] = ctx.Queue()
    procs = [ctx.Process(target=_promoter, args=(str(root), w, q)) for w in range(16)]
    for p in procs:
        p.start()
    wins = [w for _ in procs for w in q.get(timeout=300)]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    with artifactstore.open(root) as s:
        chain = s.champion_history()  # newest first
        assert len(chain) == len(wins) >= 1
        assert {c.champion_id for c in chain} == {w[0] for w in wins}
        # one champion at any time: a single linked chain with consecutive sequence numbers
        assert [c.seq for c in chain] == list(range(len(chain), 0, -1))
        for newer, older in itertools.pairwise(chain):
            assert newer.previous_champion == older.champion_id
            assert newer.previous_model_id == older.model_id
            assert newer.global_score > older.global_score  # strictly increasing with only_if_better
            assert newer.improvement_metrics["score_improvement"] == pytest.approx(
                newer.global_score - older.global_score)
        assert chain[-1].previous_champion is None
        assert s.champion() == chain[0]
        # the chain survives a reindex
        s.reindex()
        assert s.champion_history() == chain


def test_only_if_better_false_always_records(store: ArtifactStore) -> None:
    a = store.promote_champion("m1", global_score=0.9, success_rate=0.9)
    assert store.promote_champion("m2", global_score=0.5, success_rate=0.5) is None
    b = store.promote_champion("m2", global_score=0.5, success_rate=0.5, only_if_better=False)
    assert a is not None and b is not None and b.previous_champion == a.champion_id
    assert b.improvement_metrics["score_improvement"] == pytest.approx(-0.4)
    assert store.champion() == b


def test_champion_alias_and_protection(store: ArtifactStore) -> None:
    old = [store.put(f"old {i}".encode(), artifact_type="video", name=f"v{i}.mp4") for i in range(5)]
    champ_art = old[0]
    store.record_evaluation("e1", "m1", global_score=0.7, success_rate=0.8, artifacts=[champ_art.id])
    store.promote_champion("m1", evaluation_id="e1", global_score=0.7, success_rate=0.8, artifacts=[champ_art.id])
    assert store.resolve("v0.mp4:champion").id == champ_art.id
    assert store.evaluation("e1").is_champion is True
    future = time.time() + 90 * 86400
    p = gc.plan(store, ["keep_recent:max_age_days=30", "keep_champions"], now=future, grace_seconds=0)
    doomed = {a.id for a, _ in p.delete}
    assert champ_art.id not in doomed and doomed == {a.id for a in old[1:]}
    assert p.kept_by_reason == {"keep_champions": 1}
    assert all("older than" not in r and "not kept by keep_recent" in r for _, r in p.delete)


def test_keep_top_k_by_score_then_recency(store: ArtifactStore) -> None:
    arts = []
    for i, score in enumerate([0.2, 0.9, 0.5, None, None]):
        a = store.put(f"r{i}".encode(), artifact_type="report", name=f"r{i}.json",
                      evaluation_id=f"e{i}" if score is not None else None)
        if score is not None:
            store.record_evaluation(f"e{i}", "m", global_score=score, success_rate=score)
        arts.append(a)
    p = gc.plan(store, ["keep_top_k:k=2"], grace_seconds=0)
    kept = {a.id for a in arts} - {a.id for a, _ in p.delete}
    assert kept == {arts[1].id, arts[2].id}  # best scores beat newer unscored ones


def test_gc_dry_run_changes_nothing_and_apply_frees(store: ArtifactStore) -> None:
    from helpers import snapshot

    for i in range(20):
        store.put(f"artifact {i}".encode() * 100, artifact_type="log" if i % 2 else "plot", name=f"a{i}")
    before = snapshot(store)
    p = gc.plan(store, ["keep_top_k:k=3"], grace_seconds=0)
    assert snapshot(store) == before
    assert len(p.delete) == 14 and p.kept == 6
    assert p.freed_bytes == sum(a.stored_size for a, _ in p.delete)
    res = gc.apply(store, p)
    assert res.deleted_artifacts == 14 and res.swept_blobs == 14 and res.freed_bytes == p.freed_bytes
    assert store.count() == 6 and store.verify().ok
    assert len(list(store.backend.list("blobs/"))) == 6


def test_grace_period_protects_young_orphans(store: ArtifactStore) -> None:
    a = store.put(b"young", artifact_type="log", name="y")
    store.delete(a.id)
    res = gc.apply(store, gc.plan(store, ["keep_all"]))  # default grace: one hour
    assert res.swept_blobs == 0 and store.backend.exists(a.blob_key)
    res = gc.apply(store, gc.plan(store, ["keep_all"], grace_seconds=0))
    assert res.swept_blobs == 1 and not store.backend.exists(a.blob_key)


def test_shared_blob_survives_partial_delete(store: ArtifactStore) -> None:
    a = store.put(b"shared", artifact_type="log", name="a")
    b = store.put(b"shared", artifact_type="log", name="b")
    store.delete(a.id)
    gc.apply(store, gc.plan(store, ["keep_all"], grace_seconds=0))
    assert store.read_bytes(b.id) == b"shared"


def test_dedup_lease_blocks_sweep(store: ArtifactStore) -> None:
    a = store.put(b"leased", artifact_type="log", name="a")
    store.delete(a.id)
    token = store.catalog.take_lease(a.sha256)
    res = gc.apply(store, gc.plan(store, ["keep_all"], grace_seconds=0))
    assert res.swept_blobs == 0 and res.skipped_blobs == 1 and store.backend.exists(a.blob_key)
    store.catalog.release_leases_now([token])
    assert gc.apply(store, gc.plan(store, ["keep_all"], grace_seconds=0)).swept_blobs == 1


def test_policy_errors(store: ArtifactStore) -> None:
    with pytest.raises(UnknownPolicyError):
        gc.plan(store, ["keep_forever"])
    with pytest.raises(InvalidInputError):
        gc.plan(store, ["keep_top_k:k=-1"])
    with pytest.raises(InvalidInputError):
        gc.plan(store, [])


GRACE = 2.0


def _gc_writer(root: str, worker: int, n: int, q: mp.Queue[Any]) -> None:
    out = []
    with artifactstore.open(root) as s:
        for i in range(n):
            # half the puts reuse content an earlier, deleted artifact had: the dedup path races the sweep
            data = f"shared-{i % 20}".encode() * 64 if i % 2 else f"w{worker}-{i}".encode() * 64
            a = s.put(data, artifact_type="log", name=f"w{worker}/{i}", tags=["keep"])
            out.append((a.id, a.sha256))
    q.put(out)


def test_gc_while_4_processes_write(tmp_path: Path) -> None:
    root = tmp_path / "s"
    with artifactstore.open(root) as s:
        # garbage: deleted artifacts whose blobs the writers will dedup against
        for i in range(20):
            s.delete(s.put(f"shared-{i}".encode() * 64, artifact_type="log", name=f"garbage/{i}").id)
        for i in range(30):
            s.put(f"junk-{i}".encode() * 64, artifact_type="tmp", name=f"junk/{i}")
    time.sleep(GRACE + 0.5)  # the garbage is now older than the grace period
    ctx = mp.get_context("spawn")
    q: mp.Queue[Any] = ctx.Queue()
    procs = [ctx.Process(target=_gc_writer, args=(str(root), w, 150, q)) for w in range(4)]
    for p in procs:
        p.start()
    sweeps = 0
    with artifactstore.open(root) as s:
        deadline = time.time() + 120
        while any(p.is_alive() for p in procs) and time.time() < deadline:
            # A 2 s grace: far shorter than any real deployment's. Fresh blobs are protected by
            # it until their catalog commit; old blobs reused by dedup only by the leases.
            plan = gc.plan(s, [{"name": "keep_top_k", "k": 10_000, "per": "artifact_type"}], grace_seconds=GRACE)
            plan.delete = [(a, r) for a, r in plan.delete if a.artifact_type == "tmp"]
            sweeps += gc.apply(s, plan).swept_blobs
    results = [x for _ in procs for x in q.get(timeout=120)]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    assert sweeps >= 1
    with artifactstore.open(root) as s:
        assert s.count(tags=["keep"]) == 600
        ids = {a.id for a in s.find(tags=["keep"])}
        assert ids == {i for i, _ in results}
        report = s.verify()
        assert report.ok, (report.corrupt, report.missing)
        assert s.count(artifact_type="tmp") == 30


def test_created_at_is_utc_datetime(store: ArtifactStore) -> None:
    a = store.put(b"t", artifact_type="log", name="t")
    assert a.created_at.tzinfo is dt.timezone.utc
