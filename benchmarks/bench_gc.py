"""gc plan and apply over a store of N artifacts (default 100k).

    /work/venv-dev/bin/python benchmarks/bench_gc.py [--count 100000] [--reps 3] [--keep 1000]

Each rep builds a fresh store (put_many in batches, untimed) whose artifacts
are spread over 10 types and 50 models, then times:

- ``plan``: ``gc.plan(store, ["keep_top_k:k=K", "keep_champions"], grace_seconds=0)``
  (reads every artifact, judges, lists the blobs);
- ``apply``: ``gc.apply`` of that plan (catalog deletes + tombstones in batches of 1,000,
  then the sweep: one guarded transaction and one unlink per unreferenced blob);

and, as the floor measured in the same rep, ``unlink x N``: unlinking the same
number of files in a scratch copy of the blob folder (what the sweep cannot avoid).
Prints seconds, artifacts/s and the ratio of apply to the floor. No timed assertions.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import machine_info

import artifactstore
from artifactstore import gc


def build(root: Path, count: int, rep: int) -> artifactstore.ArtifactStore:
    s = artifactstore.open(root)
    batch = []
    for i in range(count):
        batch.append({"source": f"rep{rep}-artifact-{i}".encode() * 8, "artifact_type": f"type{i % 10}",
                      "name": f"m{i % 50}/t{i % 10}/a{i}", "model_id": f"m{i % 50}", "codec": "none",
                      "tags": [f"t{i % 7}"], "metadata": {"seed": i % 13}})
        if len(batch) == 5000:
            s.put_many(batch)
            batch = []
    if batch:
        s.put_many(batch)
    s.promote_champion("m1", global_score=1.0, success_rate=1.0, artifacts=[s.find(limit=1)[0].id])
    return s


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--count", type=int, default=100_000)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--keep", type=int, default=1000, help="k of keep_top_k (per type)")
    args = ap.parse_args()
    info = machine_info()
    print(f"== gc: {args.count} artifacts, keep_top_k:k={args.keep} + keep_champions, {args.reps} reps "
          f"[{info['date']}, {info['cores']} cores, load {info['loadavg']}, code {info['git']}] ==")
    rows: dict[str, list[float]] = {"plan": [], "apply": [], "unlink x N": []}
    deleted = swept = 0
    for rep in range(args.reps):
        with tempfile.TemporaryDirectory(prefix="bench-gc-", dir="/tmp") as tmp:
            t0 = time.perf_counter()
            s = build(Path(tmp) / "store", args.count, rep)
            built = time.perf_counter() - t0
            t0 = time.perf_counter()
            p = gc.plan(s, [f"keep_top_k:k={args.keep}", "keep_champions"], grace_seconds=0)
            rows["plan"].append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            r = gc.apply(s, p)
            rows["apply"].append(time.perf_counter() - t0)
            deleted, swept = r.deleted_artifacts, r.swept_blobs
            assert s.count() == args.count - deleted
            s.close()
            # the floor: unlink as many files, same disk, same rep
            scratch = Path(tmp) / "scratch"
            scratch.mkdir()
            for i in range(swept):
                (scratch / f"f{i}").write_bytes(b"x" * 64)
            t0 = time.perf_counter()
            for i in range(swept):
                os.unlink(scratch / f"f{i}")
            rows["unlink x N"].append(time.perf_counter() - t0)
            shutil.rmtree(scratch)
            print(f"  rep {rep + 1}: built in {built:.1f} s; plan {rows['plan'][-1]:.2f} s, apply "
                  f"{rows['apply'][-1]:.2f} s (deleted {deleted}, swept {swept}), unlink x N "
                  f"{rows['unlink x N'][-1]:.2f} s", flush=True)
    print(f"{'figure':<12} {'median':>9} {'rate':>22}  raw")
    for name, vals in rows.items():
        med = statistics.median(vals)
        n = args.count if name == "plan" else (deleted if name == "apply" else swept)
        print(f"{name:<12} {med:>8.2f}s {n / med:>14,.0f} items/s  " + " ".join(f"{v:.2f}" for v in vals))
    ratios = [a / u for a, u in zip(rows["apply"], rows["unlink x N"], strict=True)]
    print(f"apply / unlink x N: {statistics.median(rows['apply']) / statistics.median(rows['unlink x N']):.1f} "
          f"(per rep {' '.join(f'{x:.1f}' for x in ratios)})")


if __name__ == "__main__":
    main()
