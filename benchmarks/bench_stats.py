"""``stats()`` at 100k and 1M artifacts: the maintained figures against the old aggregate queries.

    PYTHONPATH=. python benchmarks/bench_stats.py [--n 100000,1000000] [--reps 7]
        [--engines sqlite,postgresql] [--pg postgresql://root@127.0.0.1:5432/test] [--dir DIR]

Each catalog is built directly through ``SQLCatalog.insert_artifacts`` (batches of 5,000 rows: 8
types, 50 models with a long tail, three codecs, a quarter of the rows sharing a blob with an
earlier one) and cached under ``--dir`` for SQLite. Every rep runs, interleaved: ``stats()`` (the
maintained figures), the old query path of ``stats()`` as main ran it (five aggregates, two of
them ``GROUP BY blob_key`` over every row), the new row path (``stats_from_rows``: one blob
group-by), and a filtered ``stats(model_id=...)`` both ways. Then the
write-side cost: an insert of one row and of 1,000 rows (and their delete) with the maintenance
and with it switched off, interleaved. Nothing asserts on time; the target (``stats()`` p50 < 20 ms
at 1M) is printed as met / NOT met.

    PYTHONPATH=. python benchmarks/bench_stats.py --writers 8 [--count 100] [--batch 1] [--reps 3]

instead runs ``--writers`` processes committing inserts into one PostgreSQL catalog at once, per
rep and interleaved: with the maintained statistics (append-only delta rows), with no
maintenance at all, and with the maintained statistics *plus* the design this branch rejected
(counter rows updated in place, into a table of the benchmark's own): what the in-place rows'
locks cost on top of one more statement.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from artifactstore.catalog import schema as S
from artifactstore.catalog import stats as agg
from artifactstore.catalog.sql import SQLCatalog

TYPES = ["evaluation_result", "episode_data", "video", "trace", "log", "plot", "model_checkpoint", "configuration"]
MODELS = [f"model-{i:03d}" for i in range(50)]
CODECS = [("zstd", ".zst"), ("none", ""), ("gzip", ".gz")]
DEFAULT_DIR = Path(os.environ.get("ARTIFACTSTORE_BENCH_DIR", "/tmp/artifactstore-bench"))


def rows(start: int, n: int, rnd: random.Random, blobs: list[tuple[str, int, int, str, str]]) -> list[dict[str, Any]]:
    out = []
    weights = [1 / (k + 1) ** 0.7 for k in range(len(MODELS))]
    for i in range(start, start + n):
        if blobs and rnd.random() < 0.25:
            sha, size, stored, codec, key = rnd.choice(blobs)  # dedup: an earlier blob again
        else:
            sha = f"{rnd.getrandbits(256):064x}"
            size = rnd.randrange(100, 1 << 20)
            codec, suffix = rnd.choice(CODECS)
            stored = size if codec == "none" else max(1, size // rnd.choice([2, 3, 5]))
            key = f"blobs/{sha[:2]}/{sha}{suffix}"
            if len(blobs) < 100_000:
                blobs.append((sha, size, stored, codec, key))
        model = rnd.choices(MODELS, weights)[0] if rnd.random() < 0.9 else None
        out.append({
            "id": str(uuid.UUID(int=rnd.getrandbits(128))), "name": f"{model}/run-{i // 200:05d}/a-{i}.json",
            "artifact_type": rnd.choice(TYPES), "sha256": sha, "size": size, "stored_size": stored, "codec": codec,
            "blob_key": key, "created_at": 1.7e9 + i, "model_id": model, "tags": [], "metadata": {},
        })
    return out


def old_stats(cat: SQLCatalog, model: str | None = None) -> tuple[Any, ...]:
    """main's stats() (five aggregates, the blob group-by twice), as SQL."""
    where = " WHERE model_id = :m" if model else ""
    blobs = (f"SELECT blob_key, max(size) AS size, max(stored_size) AS stored, max(codec) AS codec "
             f"FROM artifacts{where} GROUP BY blob_key")
    p = {"m": model} if model else {}

    def q(conn: sa.Connection) -> tuple[Any, ...]:
        return (
            conn.execute(sa.text(f"SELECT count(*), coalesce(sum(size), 0) FROM artifacts{where}"), p).one(),
            conn.execute(sa.text(f"SELECT count(*), coalesce(sum(size), 0), coalesce(sum(stored), 0) "
                                 f"FROM ({blobs}) b"), p).one(),
            conn.execute(sa.text(f"SELECT codec, sum(stored) FROM ({blobs}) b GROUP BY codec"), p).all(),
            conn.execute(sa.text(f"SELECT artifact_type, count(*) FROM artifacts{where} GROUP BY artifact_type"),
                         p).all(),
            conn.execute(sa.text(f"SELECT model_id, count(*) FROM artifacts "
                                 f"WHERE model_id IS NOT NULL{' AND model_id = :m' if model else ''} "
                                 f"GROUP BY model_id"), p).all(),
        )

    return cat.read(q)  # type: ignore[no-any-return]


def build(url: str, n: int) -> SQLCatalog:
    cat = SQLCatalog(url)
    with cat.engine.begin() as c:  # a catalog cached by an earlier version of this branch
        c.execute(sa.text("DROP INDEX IF EXISTS ix_artifacts_blob"))
        if cat.dialect == "sqlite" and "WITHOUT ROWID" not in str(c.execute(sa.text(
                "SELECT sql FROM sqlite_master WHERE name = 'stats_blobs'")).scalar()):
            c.execute(sa.text("ALTER TABLE stats_blobs RENAME TO stats_blobs_old"))
            S.stats_blobs.create(c)
            c.execute(sa.text("INSERT INTO stats_blobs SELECT * FROM stats_blobs_old"))
            c.execute(sa.text("DROP TABLE stats_blobs_old"))
    have = cat.count({})
    if have == n:
        print(f"  reusing the catalog of {n:,} artifacts", flush=True)
        return cat
    if have:
        raise SystemExit(f"{url} holds {have:,} artifacts, not {n:,}: remove it")
    rnd = random.Random(7)
    blobs: list[tuple[str, int, int, str, str]] = []
    t0 = time.perf_counter()
    for start in range(0, n, 5000):
        cat.insert_artifacts(rows(start, min(5000, n - start), rnd, blobs))
        done = min(n, start + 5000)
        if done % 100_000 == 0 or done == n:
            el = time.perf_counter() - t0
            print(f"  built {done:,}/{n:,} in {el:.0f} s ({done / el:,.0f}/s)", flush=True)
    cat.fold_stats()
    if cat.dialect == "postgresql":
        with cat.engine.begin() as c:
            c.execute(sa.text("ANALYZE"))
    return cat


def timed(fn: Callable[[], object]) -> float:
    t = time.perf_counter()
    fn()
    return (time.perf_counter() - t) * 1000


def run(engine: str, url: str, n: int, reps: int) -> None:
    print(f"\n## {engine}, {n:,} artifacts", flush=True)
    cat = build(url, n)
    try:
        assert cat.stats() == cat.stats_from_rows(), "maintained figures differ from the rows"
        model = MODELS[7]
        fns: list[tuple[str, Callable[[], object], int]] = [
            ("stats() (maintained figures)", cat.stats, 5),
            ("old stats() query path, as main ran it", lambda: old_stats(cat), 1),
        ]
        fns += [
            ("stats_from_rows() (new row path, unfiltered)", cat.stats_from_rows, 1),
            (f"stats(model_id={model!r}) (new row path)", lambda: cat.stats({"model_id": model}), 3),
            (f"old query path, model_id={model!r}", lambda: old_stats(cat, model), 3),
        ]
        for _, fn, _k in fns:
            fn()  # warm
        times: dict[str, list[float]] = {k: [] for k, _, _ in fns}
        for _ in range(reps):
            for k, fn, m in fns:
                times[k] += [timed(fn) for _ in range(m)]
        # write side: the same rows inserted and deleted with the maintenance on and off
        rnd = random.Random(99)
        wtimes: dict[str, list[float]] = {}
        real_ins, real_del = agg.artifacts_inserted, agg.artifacts_deleted

        def noop(_conn: sa.Connection, _arts: object) -> None:
            return None

        # one size at a time, on/off in ABBA order: a WAL checkpoint that a big write makes due
        # lands on the next commit, which must not always be the same variant's
        for size, k in ((1, 5 * reps), (1000, 3 * reps)):
            for rep in range(k):
                for on in ((True, False) if rep % 2 == 0 else (False, True)):
                    batch = rows(10_000_000, size, rnd, [])
                    if not on:
                        agg.artifacts_inserted, agg.artifacts_deleted = noop, noop  # type: ignore[assignment]
                    try:
                        ins = timed(lambda batch=batch: cat.insert_artifacts(batch))  # type: ignore[misc]
                        dele = timed(lambda batch=batch: cat.delete_artifacts([r["id"] for r in batch]))  # type: ignore[misc]
                    finally:
                        agg.artifacts_inserted, agg.artifacts_deleted = real_ins, real_del
                    tag = "with" if on else "without"
                    wtimes.setdefault(f"insert {size} row(s), {tag} maintenance", []).append(ins)
                    wtimes.setdefault(f"delete {size} row(s), {tag} maintenance", []).append(dele)
        assert cat.stats() == cat.stats_from_rows(), "maintained figures differ from the rows"
        new_p50 = statistics.median(times[fns[0][0]])
        print(f"{reps} reps, load {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
        print(f"| {'read':52} | calls | p50 ms | min ms | vs stats() |")
        print(f"|{'-' * 54}|-------|--------|--------|------------|")
        for k, xs in times.items():
            p50 = statistics.median(xs)
            print(f"| {k:52} | {len(xs):5} | {p50:6.1f} | {min(xs):6.1f} | {p50 / new_p50:9.0f}x |")
        met = "met" if new_p50 < 20 else "NOT met"
        print(f"target stats() p50 < 20 ms: {met} ({new_p50:.2f} ms)")
        print(f"| {'write':52} | calls | p50 ms | min ms |")
        print(f"|{'-' * 54}|-------|--------|--------|")
        for k, xs in wtimes.items():
            print(f"| {k:52} | {len(xs):5} | {statistics.median(xs):6.1f} | {min(xs):6.1f} |")
    finally:
        cat.close()


def _hot_counters(conn: sa.Connection, arts: Any) -> None:
    """The design this branch rejected, for comparison: each writer updates its counter rows in
    place (one sorted multi-row upsert, rows held locked until its commit), into a table of the
    benchmark's own so that the real statistics stay exact."""
    sums: dict[tuple[str, str], list[int]] = {}
    for a in arts:
        for key in (("total", ""), ("type", a.artifact_type), ("model", a.model_id or "")):
            cur = sums.setdefault(key, [0, 0])
            cur[0] += 1
            cur[1] += a.size
    t = _HOT
    stmt = agg_insert(conn, t).values([{"dim": d, "key": k, "n": v[0], "size": v[1]}
                                       for (d, k), v in sorted(sums.items())])
    ex = stmt.excluded
    conn.execute(stmt.on_conflict_do_update(index_elements=[t.c.dim, t.c.key],
                                            set_={"n": t.c.n + ex.n, "size": t.c.size + ex.size}))


_HOT = sa.Table("bench_hot_counters", sa.MetaData(), sa.Column("dim", sa.String(16), primary_key=True),
                sa.Column("key", sa.String(255), primary_key=True), sa.Column("n", sa.BigInteger),
                sa.Column("size", sa.BigInteger))


def agg_insert(conn: sa.Connection, table: sa.Table) -> Any:
    from sqlalchemy.dialects.postgresql import insert as pg_insert
    from sqlalchemy.dialects.sqlite import insert as lite_insert

    return (pg_insert if conn.dialect.name == "postgresql" else lite_insert)(table)


def _writer_proc(url: str, mode: str, worker: int, count: int, batch: int, start: Any, q: Any) -> None:
    if mode == "no maintenance":
        def noop(_conn: sa.Connection, _arts: object) -> None:
            return None

        agg.artifacts_inserted = noop  # type: ignore[assignment]
    elif mode == "+ in-place counter rows (rejected)":
        real = agg.artifacts_inserted

        def hot(conn: sa.Connection, arts: Any) -> bool:
            due = real(conn, arts)
            _hot_counters(conn, arts)
            return due

        agg.artifacts_inserted = hot
    cat = SQLCatalog(url, pool_size=1)
    rnd = random.Random(worker)
    blobs: list[tuple[str, int, int, str, str]] = []
    todo = [rows(worker * 1_000_000 + i * batch, batch, rnd, blobs) for i in range(count)]
    cat.insert_artifacts(rows(worker * 1_000_000 + 999_000, 1, rnd, []))  # connections open
    start.wait()
    t0 = time.monotonic()
    for b in todo:
        cat.insert_artifacts(b)
    q.put((t0, time.monotonic()))
    cat.close()


def run_writers(url_base: str, writers: int, count: int, batch: int, reps: int) -> None:
    """``writers`` processes each committing ``count`` inserts of ``batch`` rows at once, with
    this branch's maintenance (append-only deltas), none, and in-place counter rows."""
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    modes = ["append-only deltas (this branch)", "no maintenance", "+ in-place counter rows (rejected)"]
    walls: dict[str, list[float]] = {m: [] for m in modes}
    for rep in range(reps):
        for m, mode in enumerate(modes):
            schema = f"bench_writers_{os.getpid()}_{rep}_{m}"
            url = f"{url_base}?schema={schema}"
            made = SQLCatalog(url)
            _HOT.create(made.engine)
            made.close()
            start, q = ctx.Barrier(writers), ctx.Queue()
            procs = [ctx.Process(target=_writer_proc, args=(url, mode, w, count, batch, start, q))
                     for w in range(writers)]
            for p in procs:
                p.start()
            spans = [q.get(timeout=600) for _ in procs]
            for p in procs:
                p.join(timeout=60)
            walls[mode].append(max(e for _, e in spans) - min(s for s, _ in spans))
            cat = SQLCatalog(url)
            try:
                if mode != "no maintenance":  # exact with writers at once
                    assert cat.stats() == cat.stats_from_rows(), mode
            finally:
                cat.close()
                eng = sa.create_engine(url_base.replace("postgresql://", "postgresql+psycopg://", 1))
                with eng.begin() as c:
                    c.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
                eng.dispose()
    total = writers * count
    print(f"\n## postgresql, {writers} writer processes x {count} inserts of {batch} row(s), {reps} reps, "
          f"load {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(f"| {'statistics maintenance':36} | wall p50 s | commits/s | vs none |")
    print(f"|{'-' * 38}|------------|-----------|---------|")
    base = statistics.median(walls["no maintenance"])
    for mode, xs in walls.items():
        p50 = statistics.median(xs)
        print(f"| {mode:36} | {p50:10.2f} | {total / p50:9.0f} | {p50 / base:6.2f}x |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", default="100000,1000000", help="catalog sizes, comma-separated")
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--engines", default="sqlite")
    ap.add_argument("--pg", default="postgresql://root@127.0.0.1:5432/test")
    ap.add_argument("--dir", type=Path, default=DEFAULT_DIR)
    ap.add_argument("--writers", type=int, default=0,
                    help="instead: N processes inserting at once on PostgreSQL, per maintenance design")
    ap.add_argument("--count", type=int, default=100, help="inserts per writer (--writers)")
    ap.add_argument("--batch", type=int, default=1, help="rows per insert (--writers)")
    args = ap.parse_args()
    if args.writers:
        run_writers(args.pg, args.writers, args.count, args.batch, args.reps)
        return
    args.dir.mkdir(parents=True, exist_ok=True)
    for n in (int(x) for x in args.n.split(",")):
        for engine in args.engines.split(","):
            if engine == "sqlite":
                url = f"sqlite:///{args.dir / f'stats-{n}.db'}"
            else:
                url = f"{args.pg}?schema=bench_stats_{n}"
            run(engine, url, n, args.reps)


if __name__ == "__main__":
    main()
