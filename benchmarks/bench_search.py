"""Search latency at 100k artifacts on SQLite (FTS5) and PostgreSQL (tsvector + GIN).

Each rep runs every query once, interleaved with the baseline (``find`` by model, newest 50,
an indexed lookup) in the same order, so the figures share the machine's state.

    PYTHONPATH=. python benchmarks/bench_search.py [--n 100000] [--reps 30] [--engines sqlite,postgresql]
        [--pg postgresql://root@127.0.0.1:5432/test] [--keep SCHEMA]

``--keep SCHEMA`` (PostgreSQL only) builds the catalog in that schema and leaves it there; a
later run with the same ``--keep`` and ``--n`` reuses it (opening it migrates it, so a schema
change is measured too) instead of loading the rows again. Drop it with
``DROP SCHEMA "SCHEMA" CASCADE``.

Nothing asserts on time; the target (p50 < 20 ms) is printed as met / NOT met.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable

import sqlalchemy as sa

from artifactstore.catalog.search import parse_query
from artifactstore.catalog.sql import SQLCatalog

TYPES = ["evaluation_result", "episode_data", "video", "trace", "log", "plot", "model_checkpoint", "configuration"]
MAPS = ["forest", "desert", "city", "harbor", "canyon", "tundra", "island", "swamp"]
WORDS = ["baseline", "ablation", "sweep", "regression", "nightly", "release", "debug", "smoke", "final", "retry"]


def rows(n: int, seed: int = 7) -> list[dict[str, object]]:
    rnd = random.Random(seed)
    models = [f"{fam}{size}_v{v}" for fam in ("resnet", "vit", "ppo", "sac", "dreamer") for size in (18, 50, 101)
              for v in range(1, 5)]
    out = []
    t0 = 1.7e9
    for i in range(n):
        model = rnd.choice(models)
        mp = rnd.choice(MAPS)
        typ = rnd.choice(TYPES)
        ev = f"eval-{i // 200:05d}"
        meta = {
            "config": {"lr": rnd.choice([1e-3, 3e-4, 1e-4]), "seed": rnd.randrange(1000), "optimizer":
                       rnd.choice(["adam", "adamw", "sgd"])},
            "score": round(rnd.random(), 4), "note": " ".join(rnd.sample(WORDS, 3)),
            "git": uuid.UUID(int=rnd.getrandbits(128)).hex[:12],
        }
        if i % 5000 == 0:
            meta["note"] += " zanzibar"  # a rare word: 1 in 5000
        out.append({
            "id": str(uuid.UUID(int=rnd.getrandbits(128))), "name": f"{model}/{mp}/{typ}-{i}.json",
            "artifact_type": typ, "sha256": f"{rnd.getrandbits(256):064x}", "size": 100, "stored_size": 100,
            "codec": "none", "blob_key": "blobs/x", "created_at": t0 + i, "model_id": model, "evaluation_id": ev,
            "suite_name": "nav", "map_name": mp, "episode_id": f"ep-{i}", "tags": rnd.sample(WORDS, 2),
            "metadata": meta,
        })
    return out


QUERIES: list[tuple[str, str, dict[str, object]]] = [
    ("single word", "harbor", {}),
    ("prefix", "dream*", {}),
    ("phrase", '"adamw nightly"', {}),
    ("word + filter", "harbor", {"model_id": "vit50_v2"}),
    ("rare word", "zanzibar", {}),
    ("common word", "nav", {}),
    ("two words", "resnet50_v1 canyon", {}),
]


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(p * (len(xs) - 1)))]


def run(engine: str, url: str, n: int, reps: int) -> None:
    cat = SQLCatalog(url)
    try:
        t = time.perf_counter()
        have = cat.count({})
        if have not in (0, n):
            raise SystemExit(f"the catalog holds {have} artifacts, not 0 or {n}: drop it or use another --keep")
        if have == 0:
            data = rows(n)
            for i in range(0, n, 2000):
                cat.insert_artifacts(data[i : i + 2000])
        load_s = time.perf_counter() - t
        if engine == "postgresql" and have == 0:
            with cat.engine.begin() as c:
                c.execute(sa.text("ANALYZE"))
        fns: list[tuple[str, Callable[[], object]]] = [
            ("baseline: find(model_id), newest 50", lambda: cat.find({"model_id": "vit50_v2"}, limit=50)),
        ]
        for label, text, f in QUERIES:
            q = parse_query(text)
            fns.append((f"search {label}: {text}", lambda q=q, f=f: cat.search(q, f, limit=50)))
        for _, fn in fns:  # warm caches
            fn()
        times: dict[str, list[float]] = {k: [] for k, _ in fns}
        hits = {k: len(fn()) for k, fn in fns}  # type: ignore[arg-type]
        for _ in range(reps):
            for k, fn in fns:
                t = time.perf_counter()
                fn()
                times[k].append((time.perf_counter() - t) * 1000)
        loaded = f"loaded in {load_s:.1f} s" if have == 0 else "reused"
        print(f"\n## {engine}, {n} artifacts ({loaded}), {reps} reps, load {os.getloadavg()}")
        print(f"| {'query':45} | hits | p50 ms | p95 ms | target p50 < 20 ms |")
        print(f"|{'-' * 47}|------|--------|--------|--------------------|")
        for k, xs in times.items():
            p50 = statistics.median(xs)
            print(f"| {k:45} | {hits[k]:4} | {p50:6.2f} | {pct(xs, 0.95):6.2f} | "
                  f"{'' if k.startswith('baseline') else ('met' if p50 < 20 else 'NOT met'):18} |")
    finally:
        cat.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--reps", type=int, default=30)
    ap.add_argument("--engines", default="sqlite,postgresql")
    ap.add_argument("--pg", default=os.environ.get("ARTIFACTSTORE_TEST_PG", "postgresql://root@127.0.0.1:5432/test"))
    ap.add_argument("--keep", metavar="SCHEMA", help="PostgreSQL: build in this schema, keep it, reuse it")
    a = ap.parse_args()
    for engine in a.engines.split(","):
        if engine == "sqlite":
            with tempfile.TemporaryDirectory() as d:
                run(engine, f"sqlite:///{d}/catalog.db", a.n, a.reps)
        else:
            schema = a.keep or f"bench_search_{os.getpid()}"
            try:
                run(engine, f"{a.pg}?schema={schema}", a.n, a.reps)
            finally:
                if not a.keep:
                    eng = sa.create_engine(a.pg.replace("postgresql://", "postgresql+psycopg://", 1))
                    with eng.begin() as c:
                        c.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
                    eng.dispose()


if __name__ == "__main__":
    main()
