"""``ArtifactManager.export_episode_data`` against the seed's approach, on 100k episode rows.

Usage::

    python benchmarks/bench_episodes.py                   # 100,000 rows, 5 reps (+1 warm-up)
    python benchmarks/bench_episodes.py --rows 20000 --reps 5 --json out.json

Figures, interleaved rep by rep (see harness.py), each starting from the rows in memory:

- ``ours_csv`` / ``ours_both``: ``export_episode_data(rows, "csv" / "both")`` on a fresh
  local store with the default config (stdlib csv and incremental JSON written to temporary
  files, streamed into the store with the ``auto`` codec: zstd; hashed; manifest; catalog row).
- ``ours_csv_gzip6``: the same CSV export with the store codec forced to gzip level 6,
  which separates the CSV writer from the codec.
- ``seed_csv`` / ``seed_both``: what the seed's ``export_episode_data`` + ``store_artifact``
  did: ``pandas.DataFrame(rows).to_csv`` (and ``json.dump(..., indent=2, default=str)`` of
  ``{"metadata", "episodes"}`` for "both") to a temporary file, a SHA-256 of it read in 4 KiB
  pieces, then a gzip level 6 copy into the storage folder. Without pandas installed, the
  CSV is written by ``csv.DictWriter`` instead (said in the output). The seed's SQLite insert
  (one row) is left out: it favours the baseline.

Stored bytes are what ends up on disk for the artifact data (the blobs; the seed's ``.gz``
files), from the last rep; the content is the same every rep.
"""

from __future__ import annotations

import argparse
import csv
import datetime as _dt
import gzip
import hashlib
import json
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import Bench

from artifactstore.compat import ArtifactManager, ArtifactManagerConfig, CompressionType

try:
    import pandas
except ImportError:  # the baseline falls back to the stdlib writer
    pandas = None

MAPS = ("loop_empty", "small_loop", "zigzag_dists", "udem1", "4way", "regress_4way_adam", "loop_obstacles")
SUITES = ("base", "hard", "law", "noise", "ood")


def make_rows(n: int, seed: int = 7) -> list[dict[str, Any]]:
    """Episode results as an evaluation logs them: ids, map and suite, counters, flags, full-precision floats."""
    rng = random.Random(seed)
    t = 1_718_000_000.0
    rows = []
    for i in range(n):
        t += rng.uniform(5, 90)
        steps = rng.randrange(50, 1500)
        success = rng.random() < 0.72
        rows.append({
            "episode_id": f"ep_{i:06d}",
            "suite_name": rng.choice(SUITES),
            "map_name": rng.choice(MAPS),
            "seed": rng.getrandbits(31),
            "success": success,
            "collision": (not success) and rng.random() < 0.4,
            "off_lane": rng.random() < 0.1,
            "steps": steps,
            "reward": rng.gauss(250 if success else -40, 60),
            "mean_speed": rng.uniform(0.1, 0.8),
            "lateral_deviation": abs(rng.gauss(0, 0.05)),
            "heading_error": rng.gauss(0, 0.2),
            "duration_s": steps / 30 + rng.random(),
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)),
        })
    return rows


def _seed_store_file(src: Path, storage: Path) -> int:
    """The seed's store_artifact for one file: checksum, then a gzip-6 copy. Returns the stored size."""
    h = hashlib.sha256()
    with open(src, "rb") as f:
        for chunk in iter(lambda: f.read(4096), b""):
            h.update(chunk)
    dest = storage / f"{src.stem}_{h.hexdigest()[:16]}.gz"
    with open(src, "rb") as f_in, gzip.open(dest, "wb", compresslevel=6) as f_out:
        shutil.copyfileobj(f_in, f_out)
    return dest.stat().st_size


def seed_export(rows: list[dict[str, Any]], fmt: str, storage: Path) -> int:
    """The seed's export_episode_data; returns the stored bytes."""
    stored = 0
    with tempfile.TemporaryDirectory() as tmp:
        if fmt == "both":
            jf = Path(tmp) / "episode_data.json"
            with open(jf, "w") as f:
                json.dump({"metadata": {"export_timestamp": _dt.datetime.now().isoformat(), "model_id": "m",
                                        "evaluation_id": "e", "total_episodes": len(rows)},
                           "episodes": rows}, f, indent=2, default=str)
            stored += _seed_store_file(jf, storage)
        cf = Path(tmp) / "episode_data.csv"
        if pandas is not None:
            pandas.DataFrame(rows).to_csv(cf, index=False)
        else:
            with open(cf, "w", newline="") as f:
                w = csv.DictWriter(f, list(rows[0]))
                w.writeheader()
                w.writerows(rows)
        stored += _seed_store_file(cf, storage)
    return stored


def blob_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in (root / "blobs").rglob("*") if p.is_file())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--json", help="write the figures to this file")
    args = ap.parse_args(argv)

    rows = make_rows(args.rows)
    work = Path(tempfile.mkdtemp(prefix="bench-episodes-"))
    stored: dict[str, int] = {}
    managers: dict[str, ArtifactManager] = {}

    def fresh(name: str, **cfg: Any) -> Any:
        def setup(rep: int) -> None:
            old = managers.pop(name, None)
            if old is not None:
                old.close()
            root = work / f"{name}-{rep + 10}"
            shutil.rmtree(root, ignore_errors=True)
            managers[name] = ArtifactManager(ArtifactManagerConfig(
                base_path=str(root), auto_cleanup_enabled=False, backup_enabled=False, **cfg))
        return setup

    def ours(name: str, fmt: str) -> Any:
        def fn(rep: int) -> None:
            m = managers[name]
            m.export_episode_data(rows, fmt, model_id="m", evaluation_id="e")
            assert m.base_path is not None
            stored[name] = blob_bytes(m.base_path)
        return fn

    def seed_setup(name: str) -> Any:
        def setup(rep: int) -> None:
            d = work / name
            shutil.rmtree(d, ignore_errors=True)
            d.mkdir()
        return setup

    def seed(name: str, fmt: str) -> Any:
        def fn(rep: int) -> None:
            stored[name] = seed_export(rows, fmt, work / name)
        return fn

    csv_writer = "pandas " + pandas.__version__ if pandas is not None else "csv.DictWriter (pandas not installed)"
    bench = Bench("export_episode_data", reps=args.reps, params={"rows": args.rows, "seed CSV writer": csv_writer})
    bench.add("ours_csv", ours("ours_csv", "csv"), setup=fresh("ours_csv"), work=args.rows, unit="rows")
    bench.add("ours_csv_gzip6", ours("ours_csv_gzip6", "csv"),
              setup=fresh("ours_csv_gzip6", default_compression=CompressionType.GZIP), work=args.rows, unit="rows")
    bench.add("seed_csv", seed("seed_csv", "csv"), setup=seed_setup("seed_csv"), work=args.rows, unit="rows",
              baseline=True)
    bench.add("ours_both", ours("ours_both", "both"), setup=fresh("ours_both"), work=args.rows, unit="rows")
    bench.add("seed_both", seed("seed_both", "both"), setup=seed_setup("seed_both"), work=args.rows, unit="rows",
              baseline=True)
    bench.compare("ours_csv", "seed_csv")
    bench.compare("ours_csv_gzip6", "seed_csv")
    bench.compare("ours_both", "seed_both")
    try:
        result = bench.run()
    finally:
        for m in managers.values():
            m.close()
    for name in ("ours_csv", "ours_csv_gzip6", "seed_csv", "ours_both", "seed_both"):
        bench.extra_rows.append((f"stored bytes {name}", f"{stored[name]:,}"))
    bench.extra_rows.append(("stored bytes ours_csv / seed_csv", f"{stored['ours_csv'] / stored['seed_csv']:.3f}"))
    bench.extra_rows.append(("stored bytes ours_both / seed_both",
                             f"{stored['ours_both'] / stored['seed_both']:.3f}"))
    print(result.table())
    if args.json:
        result.write_json(args.json)
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
