"""SQLCatalog's maintained statistics (catalog/stats.py) on both engines: equal to the aggregate
over the rows whatever the rows hold, folded without losing anything, built by the v5 -> v6
migration for a catalog that has rows already, and exact with processes writing at once.

The engine-independent contract (random operation sequences against ``find()``) is in
``artifactstore.testing.CatalogTests``; here the reference is ``stats_from_rows()``, the SQL
aggregate itself, which also covers rows of one blob key that disagree on its figures."""

from __future__ import annotations

import multiprocessing as mp
import random
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from artifactstore.catalog import stats as agg
from artifactstore.catalog.base import CatalogContents
from artifactstore.catalog.schema import SCHEMA_VERSION
from artifactstore.catalog.sql import SQLCatalog
from artifactstore.ids import new_id


def _row(rng: random.Random, **kw: Any) -> dict[str, Any]:
    k = rng.randrange(8)
    row: dict[str, Any] = {
        "id": new_id(), "name": f"n{rng.randrange(5)}", "artifact_type": rng.choice(["log", "video"]),
        "sha256": f"{k:064x}", "size": 100 + k, "stored_size": 50 + k, "codec": ["zstd", "none"][k % 2],
        "blob_key": f"blobs/{k}", "created_at": time.time(), "model_id": rng.choice([None, "", "m1", "m2"]),
        "tags": [], "metadata": {},
    }
    if rng.random() < 0.3:  # rows of one key that disagree on its figures (never, as the store writes)
        row.update(size=rng.randrange(1, 300), stored_size=rng.randrange(1, 300), codec=rng.choice(["gzip", "zstd"]))
    row.update(kw)
    return row


def _deltas(c: SQLCatalog) -> int:
    with c.engine.connect() as conn:
        return int(conn.execute(sa.text("SELECT count(*) FROM stats_deltas")).scalar_one())


def test_maintained_stats_equal_the_rows_even_when_rows_of_a_blob_disagree(catalog_url: str) -> None:
    c = SQLCatalog(catalog_url)
    try:
        rng = random.Random(5)
        for step in range(120):
            live = c.find({}, order_by="id")
            op = rng.random()
            if op < 0.45 or not live:
                c.insert_artifacts([_row(rng) for _ in range(rng.randrange(1, 7))])
            elif op < 0.85:
                c.delete_artifacts([a.id for a in rng.sample(live, rng.randrange(1, min(5, len(live)) + 1))])
            elif op < 0.92:
                c.fold_stats()
            else:
                last = {a.name: a.version for a in sorted(live, key=lambda a: a.version)}
                assert c.rebuild(lambda _p, live=live, last=last: CatalogContents(  # type: ignore[misc]
                    live, last_versions=last)) == len(live)
            assert c.stats() == c.stats_from_rows(), step
        c.delete_artifacts([a.id for a in c.find({})])
        assert c.stats() == c.stats_from_rows()
        assert c.stats().total_artifacts == 0 and c.stats().bytes_by_codec == {}
        with c.engine.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM stats_blobs")).scalar_one() == 0
    finally:
        c.close()


def test_folds_move_the_deltas_and_writers_fold_now_and_then(catalog_url: str) -> None:
    c = SQLCatalog(catalog_url)
    try:
        rng = random.Random(1)
        seen = []
        for _ in range(agg.FOLD_EVERY // 2):  # a put appends 3 or 4 delta rows
            c.insert_artifacts([_row(rng)])
            seen.append(_deltas(c))
            assert seen[-1] < agg.FOLD_EVERY + 4  # the write that passed a multiple folded
            assert c.stats() == c.stats_from_rows()
        assert 0 in seen and max(seen) > agg.FOLD_EVERY // 2
        c.delete_artifacts([a.id for a in c.find({}, limit=10)])
        assert _deltas(c) > 0 and c.fold_stats() > 0 and _deltas(c) == 0 and c.fold_stats() == 0
        assert c.stats() == c.stats_from_rows()
    finally:
        c.close()


def _to_v5(url: str) -> None:
    """Turn a catalog into a schema-version-5 one (no maintained statistics), rows kept."""
    c = SQLCatalog(url)
    with c.engine.begin() as conn:
        for t in ("stats_blobs", "stats_totals", "stats_deltas"):
            conn.execute(sa.text(f"DROP TABLE {t}"))
        conn.execute(sa.text("UPDATE as_meta SET value = '5' WHERE key = 'schema_version'"))
    c.close()


def test_migration_from_v5_computes_the_stats_of_the_rows_there(catalog_url: str) -> None:
    c = SQLCatalog(catalog_url)
    rng = random.Random(2)
    c.insert_artifacts([_row(rng) for _ in range(40)])
    c.delete_artifacts([a.id for a in c.find({}, limit=7)])
    expected = c.stats_from_rows()
    c.close()
    _to_v5(catalog_url)
    c = SQLCatalog(catalog_url)
    try:
        assert c.schema_version_found == 5 and SCHEMA_VERSION >= 6  # v5 -> 6 (stats), then later ones
        assert c.stats() == expected and expected.total_artifacts == 33
        assert c.stats({"model_id": "m1"}) == c.stats_from_rows({"model_id": "m1"})
        c.insert_artifacts([_row(rng) for _ in range(5)])  # and kept up to date from there
        assert c.stats() == c.stats_from_rows() and c.stats().total_artifacts == 38
    finally:
        c.close()


def _writer(url: str, worker: int, q: mp.Queue[Any]) -> None:
    try:
        c = SQLCatalog(url, pool_size=2)
        rng = random.Random(worker)
        for _ in range(15):
            rows = [_row(rng, codec="zstd", size=7, stored_size=3) for _ in range(rng.randrange(1, 5))]
            arts = c.insert_artifacts(rows)
            c.delete_artifacts([a.id for a in rng.sample(arts, rng.randrange(len(arts) + 1))])
            if rng.random() < 0.2:
                c.fold_stats()
        c.close()
        q.put("ok")
    except BaseException as exc:  # pragma: no cover - reported through the queue
        q.put(repr(exc))


def test_processes_writing_shared_blobs_at_once_keep_the_stats_exact(catalog_url: str, tmp_path: Path) -> None:
    SQLCatalog(catalog_url).close()  # the schema, made once
    ctx = mp.get_context("spawn")
    q: mp.Queue[Any] = ctx.Queue()
    procs = [ctx.Process(target=_writer, args=(catalog_url, w, q)) for w in range(6)]
    for p in procs:
        p.start()
    results = [q.get(timeout=300) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    assert results == ["ok"] * 6
    c = SQLCatalog(catalog_url)
    try:
        assert c.stats() == c.stats_from_rows()
        assert c.stats().unique_blobs == len({a.blob_key for a in c.find({})})
    finally:
        c.close()
