"""The same catalog code on SQLite and PostgreSQL: same results, migrations, concurrency."""

from __future__ import annotations

import multiprocessing as mp
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

import artifactstore
from artifactstore import gc
from artifactstore.catalog.schema import SCHEMA_VERSION
from artifactstore.errors import SchemaVersionError
from artifactstore.models import ChampionRecord, EvaluationRecord


def _populate(s: artifactstore.ArtifactStore) -> None:
    for i in range(40):
        s.put(f"payload {i % 9}".encode() * (i + 1), artifact_type=["report", "video", "log"][i % 3],
              name=f"suite{i % 2}/r{i % 5}.json", model_id=f"m{i % 4}", evaluation_id=f"e{i % 6}",
              suite_name=f"suite{i % 2}", map_name=f"map{i % 3}", episode_id=f"ep{i}",
              tags=["all", f"t{i % 3}"] + (["odd"] if i % 2 else []),
              metadata={"seed": i % 5, "lr": 0.001 * (i % 3), "cfg": {"depth": i % 2}, "name": f"n{i % 4}"},
              codec=["none", "zstd", "gzip"][i % 3])
    s.set_alias("suite0/r0.json@v2", "best")
    s.record_evaluation("e1", "m1", global_score=0.4, success_rate=0.5, metrics={"x": 1})
    s.record_evaluation("e2", "m2", global_score=0.6, success_rate=0.7)
    s.promote_champion("m1", evaluation_id="e1", global_score=0.4, success_rate=0.5)
    s.promote_champion("m2", evaluation_id="e2", global_score=0.6, success_rate=0.7)


QUERIES: list[dict[str, Any]] = [
    {}, {"model_id": "m1"}, {"artifact_type": "video"}, {"artifact_type": ["video", "log"]},
    {"tags": ["odd"]}, {"tags": ["t1", "odd"], "tags_mode": "all"}, {"tags": ["t1", "t2"]},
    {"metadata": {"seed": 3}}, {"metadata": {"cfg": {"depth": 1}, "name": "n1"}}, {"metadata": {"lr": 0.002}},
    {"suite_name": "suite1", "map_name": "map2"}, {"name": "suite0/r0.json"}, {"name_prefix": "suite1/"},
    {"evaluation_id": "e3", "episode_id": "ep3"},
]


def _normalise(arts: list[artifactstore.Artifact]) -> list[tuple[Any, ...]]:
    return [(a.name, a.version, a.artifact_type, a.sha256, a.size, a.stored_size, a.codec, a.model_id, a.tags,
             a.metadata) for a in arts]


def test_same_results_on_sqlite_and_postgresql(tmp_path: Path, pg_catalog_url: str) -> None:
    stores = [artifactstore.open(tmp_path / "lite", catalog=f"sqlite:///{tmp_path / 'c.db'}"),
              artifactstore.open(tmp_path / "pg", catalog=pg_catalog_url)]
    try:
        for s in stores:
            _populate(s)
        lite, pg = stores
        for q in QUERIES:
            for order in ("created_at", "-created_at", "name", "-size", "version"):
                assert _normalise(lite.find(**q, order_by=order)) == _normalise(pg.find(**q, order_by=order)), (q, order)
            assert lite.count(**q) == pg.count(**q)
        assert _normalise(lite.find(limit=7, offset=5)) == _normalise(pg.find(limit=7, offset=5))
        assert lite.stats() == pg.stats()
        assert [(a.name, a.version) for a in lite.versions("suite1/r1.json")] == \
            [(a.name, a.version) for a in pg.versions("suite1/r1.json")]
        assert lite.read_bytes("suite0/r0.json:best") == pg.read_bytes("suite0/r0.json:best")
        def strip(recs: Sequence[EvaluationRecord | ChampionRecord]) -> list[dict[str, Any]]:
            return [{k: v for k, v in r.to_dict().items() if k not in ("timestamp", "champion_id", "previous_champion")}
                    for r in recs]

        assert strip(lite.evaluations()) == strip(pg.evaluations())
        assert strip(lite.champion_history()) == strip(pg.champion_history())
        p1 = gc.plan(lite, ["keep_top_k:k=2", "keep_champions"], grace_seconds=0)
        p2 = gc.plan(pg, ["keep_top_k:k=2", "keep_champions"], grace_seconds=0)
        assert sorted(a.name + str(a.version) for a, _ in p1.delete) == sorted(a.name + str(a.version) for a, _ in p2.delete)
        assert p1.freed_bytes == p2.freed_bytes
        # reindex gives back the same catalog on both engines
        assert lite.reindex() == pg.reindex() == 40
        assert lite.stats() == pg.stats()
    finally:
        for s in stores:
            s.close()


def test_core_operations_on_both_engines(any_store: artifactstore.ArtifactStore, tmp_path: Path) -> None:
    s = any_store
    a = s.put(b"engine test" * 100, artifact_type="report", name="x/report.json", tags=["a"], metadata={"k": [1]})
    b = s.put(b"engine test" * 100, artifact_type="report", name="x/report.json")
    assert (a.version, b.version, a.blob_key == b.blob_key) == (1, 2, True)
    s.set_alias(a.id, "gold")
    assert s.resolve("x/report.json:gold") == a
    assert s.count(metadata={"k": [1]}) == 1 and s.count(tags=["a"]) == 1
    s.delete(b.id)
    assert s.put(b"v3", artifact_type="report", name="x/report.json").version == 3
    assert s.verify().ok
    assert s.reindex() == 2
    assert s.get(a.id, tmp_path / "out").read_bytes() == b"engine test" * 100


def _herd_worker(url: str, q: mp.Queue[Any]) -> None:
    from artifactstore.catalog.sql import SQLCatalog

    try:
        c = SQLCatalog(url, pool_size=1, max_overflow=0)
        q.put(("ok", c.schema_version_found))
        c.close()
    except BaseException as exc:  # pragma: no cover - reported through the queue
        q.put(("error", repr(exc)))


def _old_schema(url: str) -> None:
    """Turn a fresh catalog into a schema-version-1 one (before v2's episode index and
    v3's created_at columns in the lookup tables), holding some data to migrate."""
    from artifactstore.catalog.sql import SQLCatalog

    c = SQLCatalog(url)
    c.insert_artifacts([{"id": "0190b3d4-0000-7000-8000-000000000001", "name": "old.txt", "artifact_type": "log",
                         "sha256": "0" * 64, "size": 1, "stored_size": 1, "codec": "none", "blob_key": "blobs/x",
                         "created_at": 1234.5, "tags": ["legacy"], "metadata": {"k": 1}}])
    with c.engine.begin() as conn:
        conn.execute(sa.text("DROP INDEX ix_artifacts_episode"))
        for t in ("stats_blobs", "stats_totals", "stats_deltas"):  # v6's statistics
            conn.execute(sa.text(f"DROP TABLE {t}"))
        conn.execute(sa.text("DROP INDEX ix_tags_tag_created"))
        conn.execute(sa.text("DROP INDEX ix_metadata_kv_key_value_created"))
        conn.execute(sa.text("ALTER TABLE tags DROP COLUMN created_at"))
        conn.execute(sa.text("ALTER TABLE metadata_kv DROP COLUMN created_at"))
        conn.execute(sa.text("UPDATE as_meta SET value = '1' WHERE key = 'schema_version'"))
    c.close()


@pytest.mark.parametrize("start", ["empty", "old"])
def test_32_workers_migrate_at_once(pg_catalog_url: str, start: str) -> None:
    if start == "old":
        _old_schema(pg_catalog_url)
    ctx = mp.get_context("spawn")
    q: mp.Queue[Any] = ctx.Queue()
    procs = [ctx.Process(target=_herd_worker, args=(pg_catalog_url, q)) for _ in range(32)]
    for p in procs:
        p.start()
    results = [q.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    assert all(r[0] == "ok" for r in results), results
    # exactly one worker found the schema missing/old and did the work; the rest found it done
    found = sorted(r[1] for r in results)
    assert found.count(SCHEMA_VERSION) == 31 and found[0] == (0 if start == "empty" else 1)
    from artifactstore.catalog.sql import SQLCatalog

    c = SQLCatalog(pg_catalog_url)
    with c.engine.connect() as conn:
        assert conn.execute(sa.text("select count(*) from as_meta where key='schema_version'")).scalar() == 1
        assert conn.execute(sa.text("select value from as_meta")).scalar() == str(SCHEMA_VERSION)
        assert conn.execute(sa.text("select count(*) from locks")).scalar() == 2
        for ix in ("ix_artifacts_episode", "ix_tags_tag_created", "ix_metadata_kv_key_value_created"):
            assert conn.execute(sa.text("select count(*) from pg_indexes where indexname = :i "
                                        "and schemaname = current_schema()"), {"i": ix}).scalar() == 1
        if start == "old":  # the migration back-filled the copied timestamps
            assert conn.execute(sa.text("select created_at from tags")).scalar() == 1234.5
            assert conn.execute(sa.text("select created_at from metadata_kv")).scalar() == 1234.5
            # and v6 counted the row there in the maintained statistics
            assert conn.execute(sa.text("select n from stats_totals where dim = 'total'")).scalar() == 1
    c.close()


def test_newer_schema_refused(catalog_url: str) -> None:
    from artifactstore.catalog.sql import SQLCatalog

    c = SQLCatalog(catalog_url)
    with c.engine.begin() as conn:
        conn.execute(sa.text("UPDATE as_meta SET value = :v WHERE key = 'schema_version'"), {"v": str(SCHEMA_VERSION + 1)})
    c.close()
    with pytest.raises(SchemaVersionError) as ei:
        SQLCatalog(catalog_url)
    assert "upgrade artifactstore" in str(ei.value) and ei.value.found == SCHEMA_VERSION + 1


def _same_name_writer(root: str, url: str, worker: int, q: mp.Queue[Any]) -> None:
    with artifactstore.open(root, catalog=url) as s:
        out = []
        for i in range(25):
            if i % 5 == 4:
                arts = s.put_many([{"source": f"{worker}-{i}-{j}".encode(), "artifact_type": "log",
                                    "name": "contended.log"} for j in range(3)])
                out += [a.version for a in arts]
            else:
                out.append(s.put(f"{worker}-{i}".encode(), artifact_type="log", name="contended.log").version)
    q.put(out)


def test_versions_never_repeat_or_skip_under_contention(tmp_path: Path, catalog_url: str) -> None:
    root = str(tmp_path / "s")
    artifactstore.open(root, catalog=catalog_url).close()
    ctx = mp.get_context("spawn")
    q: mp.Queue[Any] = ctx.Queue()
    procs = [ctx.Process(target=_same_name_writer, args=(root, catalog_url, w, q)) for w in range(8)]
    for p in procs:
        p.start()
    versions = [v for _ in procs for v in q.get(timeout=300)]
    for p in procs:
        p.join(timeout=30)
        assert p.exitcode == 0
    assert sorted(versions) == list(range(1, 8 * 35 + 1))
    with artifactstore.open(root, catalog=catalog_url) as s:
        assert [a.version for a in s.versions("contended.log")] == list(range(1, 281))


def _gc_runner(root: str, url: str, q: mp.Queue[Any]) -> None:
    try:
        with artifactstore.open(root, catalog=url) as s:
            p = gc.plan(s, ["keep_top_k:k=5"], grace_seconds=0)
            r = gc.apply(s, p)
            q.put(("ok", r.deleted_artifacts, r.swept_blobs))
    except BaseException as exc:  # pragma: no cover
        q.put(("error", repr(exc), 0))


def test_two_gc_runs_at_once(tmp_path: Path, catalog_url: str) -> None:
    root = str(tmp_path / "s")
    with artifactstore.open(root, catalog=catalog_url) as s:
        for i in range(60):
            s.put(f"gc {i}".encode() * 30, artifact_type="log", name=f"g{i}")
    time.sleep(0.05)
    ctx = mp.get_context("spawn")
    q: mp.Queue[Any] = ctx.Queue()
    procs = [ctx.Process(target=_gc_runner, args=(root, catalog_url, q)) for _ in range(2)]
    for p in procs:
        p.start()
    res = [q.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    assert all(r[0] == "ok" for r in res), res
    assert sum(r[1] for r in res) == 55  # each artifact deleted once, by one of them
    assert sum(r[2] for r in res) == 55  # each blob swept once
    with artifactstore.open(root, catalog=catalog_url) as s:
        assert s.count() == 5 and s.verify().ok
        assert len(list(s.backend.list("blobs/"))) == 5
