"""Cluster mode load test: 8 worker processes, one moto S3 bucket, one PostgreSQL catalog, gc running.

Each worker has its own store object (as on separate machines), writes artifacts one by
one and in batches, records evaluations and competes for champion, while a gc process
plans and applies with a short grace period. At the end every artifact is accounted for
exactly once, every blob verifies, there is one champion chain and no orphan row.
"""

from __future__ import annotations

import itertools
import multiprocessing as mp
import os
import random
import time
from typing import Any

import pytest
import sqlalchemy as sa

import artifactstore
from artifactstore import gc
from helpers import sql_catalog

WORKERS = 8
# 100 per worker (800 artifacts) keeps CI's whole suite under 10 minutes; the long mode
# (ARTIFACTSTORE_CLUSTER_PER_WORKER=500: 4,000 artifacts) is what the cluster docs quote. A multiple of 50.
PER_WORKER = int(os.environ.get("ARTIFACTSTORE_CLUSTER_PER_WORKER", "100"))
GRACE = 3.0


def _worker(url: str, options: dict[str, Any], catalog: str, w: int, start: Any, q: mp.Queue[Any]) -> None:
    rng = random.Random(w)
    ids: list[str] = []
    wins = 0
    with artifactstore.open(url, catalog=catalog, catalog_options={"pool_size": 2, "max_overflow": 2},
                            **options) as s:
        start.wait()
        i = 0
        while i < PER_WORKER:
            if i % 50 < 25:  # half one by one...
                content = f"w{w}-{i}".encode() * 100 if i % 4 else f"shared-{i % 40}".encode() * 100
                a = s.put(content, artifact_type="episode_data", name=f"w{w}/ep{i % 10}.csv", model_id=f"m{w}",
                          evaluation_id=f"e{w}-{i // 50}", tags=["load"], metadata={"worker": w, "i": i})
                ids.append(a.id)
                i += 1
            else:  # ...half in batches of 25
                batch = [{"source": f"b{w}-{i + j}".encode() * 50, "artifact_type": "log", "name": f"w{w}/log",
                          "model_id": f"m{w}", "tags": ["load", "batch"]} for j in range(25)]
                ids += [a.id for a in s.put_many(batch)]
                i += 25
            if i % 50 == 0:
                e = f"e{w}-{i // 50 - 1}"
                score = rng.random()
                s.record_evaluation(e, f"m{w}", global_score=score, success_rate=score, artifacts=ids[-3:])
                if s.promote_champion(f"m{w}", evaluation_id=e, global_score=score, success_rate=score,
                                      artifacts=ids[-1:]) is not None:
                    wins += 1
    q.put((w, ids, wins))


def _gc_loop(url: str, options: dict[str, Any], catalog: str, start: Any, stop: Any, q: mp.Queue[Any]) -> None:
    runs = swept = 0
    with artifactstore.open(url, catalog=catalog, **options) as s:
        # garbage older than the grace period: deleted artifacts whose content the workers re-put
        start.wait()
        while not stop.is_set():
            p = gc.plan(s, ["keep_all"], grace_seconds=GRACE)
            swept += gc.apply(s, p).swept_blobs
            runs += 1
            time.sleep(0.2)
    q.put(("gc", runs, swept))


@pytest.mark.slow
def test_8_workers_on_s3_and_postgresql_with_gc(s3_url: Any, pg_catalog_url: str) -> None:
    url, options = s3_url.url, dict(s3_url.storage_options)
    with artifactstore.open(url, catalog=pg_catalog_url, **options) as s:
        for k in range(40):  # garbage that the dedup path of the workers will race gc for
            s.delete(s.put(f"shared-{k}".encode() * 100, artifact_type="episode_data", name=f"garbage/{k}").id)
    time.sleep(GRACE + 0.5)
    ctx = mp.get_context("spawn")
    q: mp.Queue[Any] = ctx.Queue()
    start = ctx.Barrier(WORKERS + 1)
    stop = ctx.Event()
    gcp = ctx.Process(target=_gc_loop, args=(url, options, pg_catalog_url, start, stop, q))
    procs = [ctx.Process(target=_worker, args=(url, options, pg_catalog_url, w, start, q)) for w in range(WORKERS)]
    t0 = time.time()
    gcp.start()
    for p in procs:
        p.start()
    results = {}
    for _ in procs:
        item = q.get(timeout=600)
        results[item[0]] = item
    stop.set()
    gc_item = q.get(timeout=120)
    elapsed = time.time() - t0
    for p in [*procs, gcp]:
        p.join(timeout=60)
        assert p.exitcode == 0
    all_ids = [i for _, ids, _ in results.values() for i in ids]
    assert len(all_ids) == WORKERS * PER_WORKER == len(set(all_ids))
    assert gc_item[1] >= 1
    total_wins = sum(w for _, _, w in results.values())
    with artifactstore.open(url, catalog=pg_catalog_url, **options) as s:
        # every artifact accounted for exactly once
        found = [a.id for a in s.catalog.iter_all()]
        assert len(found) == len(set(found)) == WORKERS * PER_WORKER
        assert set(found) == set(all_ids)
        manifest_ids = [e["id"] for e in s.manifests.read_all() if e.get("kind") == "artifact"]
        assert set(all_ids) <= set(manifest_ids)
        # every blob verifies (nothing the gc swept was still needed)
        report = s.verify()
        assert report.ok and len(report.checked) == WORKERS * PER_WORKER, (report.corrupt[:5], report.missing[:5])
        # one champion chain with strictly increasing scores
        chain = s.champion_history()
        assert len(chain) == total_wins >= 1
        assert [c.seq for c in chain] == list(range(len(chain), 0, -1))
        for newer, older in itertools.pairwise(chain):
            assert newer.previous_champion == older.champion_id and newer.global_score > older.global_score
        assert len(s.evaluations()) == WORKERS * PER_WORKER // 50
        # versions per name: 1..n, no gaps or repeats
        for w in range(WORKERS):
            vs = [a.version for a in s.versions(f"w{w}/log")]
            assert vs == list(range(1, PER_WORKER // 2 + 1))
        # no orphan rows
        with sql_catalog(s).engine.connect() as c:
            for table in ("tags", "metadata_kv", "aliases"):
                n = c.execute(sa.text(f"select count(*) from {table} t where not exists "
                                      "(select 1 from artifacts a where a.id = t.artifact_id)")).scalar()
                assert n == 0, table
            assert c.execute(sa.text("select count(*) from inflight where expires_at > :now"),
                             {"now": time.time()}).scalar() == 0
        # the bucket holds no blob that nothing references (after a final sweep)
        gc.apply(s, gc.plan(s, ["keep_all"], grace_seconds=0))
        assert {o.key for o in s.backend.list("blobs/")} == {a.blob_key for a in s.catalog.iter_all()}
    print(f"load test: {WORKERS * PER_WORKER} artifacts by {WORKERS} workers in {elapsed:.1f} s, "
          f"{gc_item[1]} gc runs swept {gc_item[2]} blobs, {total_wins} promotions")
