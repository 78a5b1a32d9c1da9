"""What-if measurements for catalog changes, on a scratch copy of the ``find`` benchmark's catalog.

    python benchmarks/whatif_catalog.py [--reps 100] [--size 100000]

Needs the cached store that ``bench_core.py find`` builds. Copies its
``catalog.db`` to a scratch file, adds what a schema change would add, and times
today's SQL against the changed SQL, interleaved (raw sqlite3, no SQLAlchemy,
so the figures isolate the query plan):

1. metadata / tag filters newest-first: today an ``EXISTS`` per row while
   scanning ``ix_artifacts_created`` (fast for common values, slow for rare
   ones), vs a key/value (tag) table that also carries ``created_at`` with an
   index on ``(key, value, created_at, artifact_id)``, read newest-first.
2. ``stats()``: today's five queries vs the same with a covering index on
   ``artifacts(blob_key, size, stored_size, codec)``, one pass for the blob
   totals by codec, and ``GROUP BY model_id`` without ``coalesce``.

The store's own catalog is never touched.
"""

from __future__ import annotations

import argparse
import random
import shutil
import sqlite3
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_core import DEFAULT_DIR, build_find_store
from harness import Bench

from artifactstore.catalog.sql import kv_value

ORDER = "ORDER BY created_at DESC, id DESC LIMIT 50"
EXISTS_KV = ("SELECT * FROM artifacts WHERE EXISTS (SELECT 1 FROM metadata_kv m WHERE m.artifact_id = artifacts.id "
             f"AND m.key = ? AND m.value = ?) {ORDER}")
KV2 = ("SELECT a.* FROM kv2 k JOIN artifacts a ON a.id = k.artifact_id WHERE k.key = ? AND k.value = ? "
       "ORDER BY k.created_at DESC, k.artifact_id DESC LIMIT 50")
EXISTS_TAG = ("SELECT * FROM artifacts WHERE EXISTS (SELECT 1 FROM tags t WHERE t.artifact_id = artifacts.id "
              f"AND t.tag = ?) {ORDER}")
TAG2 = ("SELECT a.* FROM tags2 t JOIN artifacts a ON a.id = t.artifact_id WHERE t.tag = ? "
        "ORDER BY t.created_at DESC, t.artifact_id DESC LIMIT 50")
BLOBS = ("SELECT blob_key, max(size) AS size, max(stored_size) AS stored, max(codec) AS codec "
         "FROM artifacts GROUP BY blob_key")
STATS_TODAY = [
    "SELECT count(*), coalesce(sum(size), 0) FROM artifacts",
    f"SELECT count(*), coalesce(sum(size), 0), coalesce(sum(stored), 0) FROM ({BLOBS})",
    f"SELECT codec, sum(stored) FROM ({BLOBS}) GROUP BY codec",
    "SELECT artifact_type, count(*) FROM artifacts GROUP BY artifact_type",
    "SELECT coalesce(model_id, ''), count(*) FROM artifacts GROUP BY coalesce(model_id, '')",
]
STATS_CHANGED = [
    "SELECT count(*), coalesce(sum(size), 0) FROM artifacts",
    f"SELECT codec, count(*), sum(size), sum(stored) FROM ({BLOBS}) GROUP BY codec",  # totals summed in Python
    "SELECT artifact_type, count(*) FROM artifacts GROUP BY artifact_type",
    "SELECT model_id, count(*) FROM artifacts GROUP BY model_id",
]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--reps", type=int, default=100)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--size", type=int, default=100_000)
    p.add_argument("--dir", type=Path, default=DEFAULT_DIR)
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)
    root = args.dir / f"find-{args.size}"
    info = build_find_store(root, args.size)
    scratch = args.dir / "whatif"
    if scratch.exists():
        shutil.rmtree(scratch)
    scratch.mkdir(parents=True)
    # A consistent copy (the WAL folded in) through SQLite's backup API.
    src = sqlite3.connect(f"file:{root / 'catalog.db'}?mode=ro", uri=True)
    today = sqlite3.connect(scratch / "today.db", check_same_thread=False)
    src.backup(today)
    src.close()
    today.close()
    shutil.copyfile(scratch / "today.db", scratch / "changed.db")
    db_today = sqlite3.connect(scratch / "today.db")
    db = sqlite3.connect(scratch / "changed.db")
    db.executescript("""
        CREATE TABLE kv2 AS SELECT m.artifact_id, m.key, m.value, a.created_at
            FROM metadata_kv m JOIN artifacts a ON a.id = m.artifact_id;
        CREATE INDEX ix_kv2 ON kv2 (key, value, created_at, artifact_id);
        CREATE TABLE tags2 AS SELECT t.artifact_id, t.tag, a.created_at
            FROM tags t JOIN artifacts a ON a.id = t.artifact_id;
        CREATE INDEX ix_tags2 ON tags2 (tag, created_at, artifact_id);
        CREATE INDEX ix_artifacts_blob_cover ON artifacts (blob_key, size, stored_size, codec);
    """)
    rng = random.Random(5)
    n = args.reps + args.warmup
    rare = [kv_value(rng.randrange(100)) for _ in range(n)]
    common = [kv_value(rng.choice(info["suites"])) for _ in range(n)]
    tags = [rng.choice(info["tags"]) for _ in range(n)]
    W = args.warmup

    def q(conn: sqlite3.Connection, sql: str, params: list[object]) -> list[object]:
        return conn.execute(sql, params).fetchall()

    b = Bench("what-if: catalog", reps=args.reps, warmup=W, collect=False,
              params={"artifacts": args.size, "copy": str(scratch)},
              notes=["raw sqlite3 on scratch copies of the catalog; same values for both sides of each pair",
                     "'changed' adds kv2/tags2 (key/value or tag + created_at, indexed newest-first) and a covering "
                     "index on artifacts(blob_key, size, stored_size, codec)"])
    b.add("metadata rare: EXISTS (today)", lambda r: q(db_today, EXISTS_KV, ["seed", rare[r + W]]))
    b.add("metadata rare: kv+created_at", lambda r: q(db, KV2, ["seed", rare[r + W]]))
    b.add("metadata common: EXISTS (today)", lambda r: q(db_today, EXISTS_KV, ["suite", common[r + W]]))
    b.add("metadata common: kv+created_at", lambda r: q(db, KV2, ["suite", common[r + W]]))
    b.add("tag: EXISTS (today)", lambda r: q(db_today, EXISTS_TAG, [tags[r + W]]))
    b.add("tag: tag+created_at", lambda r: q(db, TAG2, [tags[r + W]]))
    b.add("stats SQL (today)", lambda r: [q(db_today, s, []) for s in STATS_TODAY])
    b.add("stats SQL (changed)", lambda r: [q(db, s, []) for s in STATS_CHANGED])
    b.compare("metadata rare: kv+created_at", "metadata rare: EXISTS (today)")
    b.compare("metadata common: kv+created_at", "metadata common: EXISTS (today)")
    b.compare("tag: tag+created_at", "tag: EXISTS (today)")
    b.compare("stats SQL (changed)", "stats SQL (today)")
    # the changed queries must return the same artifacts
    for kv in (("seed", rare[0]), ("suite", common[0])):
        assert [r[0] for r in q(db_today, EXISTS_KV, list(kv))] == [r[0] for r in q(db, KV2, list(kv))]
    assert [r[0] for r in q(db_today, EXISTS_TAG, [tags[0]])] == [r[0] for r in q(db, TAG2, [tags[0]])]
    try:
        res = b.run()
    finally:
        db.close()
        db_today.close()
        shutil.rmtree(scratch, ignore_errors=True)
    print(res.table())
    if args.json:
        res.write_json(args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
