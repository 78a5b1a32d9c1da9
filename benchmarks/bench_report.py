"""Full evaluation report: 10 models x 50 maps x 20 episodes, 10,000 stratified resamples.

Figures, interleaved rep by rep:

- ``report``: ``build_report(store, cost="steps")`` with its four SVG figures, then ``to_html``
  (the target: under 5 s on the project's 2-core machines);
- ``report-no-figures``: the statistics alone;
- ``scipy-bootstrap`` (baseline): what a user would write with ``scipy.stats.bootstrap`` over
  the same episodes, read with pyarrow: per model, the percentile CI of the mean and of the
  IQM, 10,000 resamples, unstratified (less than the report computes);
- ``read-tables`` (baseline): reading the ten CSV tables' columns with pyarrow from the store.

    .venv/bin/python benchmarks/bench_report.py [--models 10] [--maps 50] [--episodes 20] [--reps 5]

Nothing asserts on time; the target is printed as met / NOT met.
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import Bench

import artifactstore
from artifactstore.evaluation import build_report, export_episodes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", type=int, default=10)
    ap.add_argument("--maps", type=int, default=50)
    ap.add_argument("--episodes", type=int, default=20)
    ap.add_argument("--resamples", type=int, default=10000)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--json", type=Path, help="Also write the results as JSON here.")
    args = ap.parse_args()

    # warm the imports so that no figure pays them
    import matplotlib.pyplot  # noqa: F401
    import pyarrow.csv as pcsv
    from scipy import stats as st

    with tempfile.TemporaryDirectory(prefix="bench-report-") as tmp:
        store = artifactstore.open(str(Path(tmp) / "store"))
        rng = np.random.default_rng(0)
        for i in range(args.models):
            rows = [{"episode_id": f"{m}-{e}", "map_name": f"map{m:02d}", "seed": e,
                     "reward": float(rng.normal(0.05 * i + 0.02 * m, 1.0)), "success": bool(rng.random() < 0.5),
                     "steps": int(rng.integers(50, 300))}
                    for m in range(args.maps) for e in range(args.episodes)]
            export_episodes(store, rows, "csv", model_id=f"model-{i:02d}", evaluation_id=f"eval-{i:02d}")
            store.record_evaluation(f"eval-{i:02d}", f"model-{i:02d}", global_score=0.5, success_rate=0.5)
        tables = store.find(artifact_type="episode_data")
        html = Path(tmp) / "report.html"

        def report(_: int) -> None:
            build_report(store, cost="steps", resamples=args.resamples).to_html(html)

        def report_nofig(_: int) -> None:
            build_report(store, cost="steps", resamples=args.resamples, figures=False)

        def read_columns() -> list[np.ndarray]:
            out = []
            for a in tables:
                t = pcsv.read_csv(io.BytesIO(store.read_bytes(a)),
                                  convert_options=pcsv.ConvertOptions(include_columns=["reward", "map_name"]))
                out.append(t.column("reward").to_numpy())
            return out

        def scipy_boot(_: int) -> None:
            for v in read_columns():
                for stat in (np.mean, lambda x, axis=-1: st.trim_mean(x, 0.25, axis=axis)):
                    st.bootstrap((v,), stat, n_resamples=args.resamples, method="percentile",
                                 rng=np.random.default_rng(1))

        n = args.models * args.maps * args.episodes
        bench = Bench(f"report: {args.models} models x {args.maps} maps x {args.episodes} episodes, "
                      f"{args.resamples} resamples", reps=args.reps,
                      notes=[f"{n} episodes in {len(tables)} CSV tables"])
        bench.add("report", report, work=n, unit="episodes", target_s=5.0)
        bench.add("report-no-figures", report_nofig, work=n, unit="episodes")
        bench.add("scipy-bootstrap", scipy_boot, work=n, unit="episodes", baseline=True)
        bench.add("read-tables", lambda _: read_columns(), work=n, unit="episodes", baseline=True)
        bench.compare("report", "scipy-bootstrap")
        bench.compare("report-no-figures", "scipy-bootstrap")
        result = bench.run()
        print(result.table())
        if args.json:
            result.write_json(str(args.json))
        store.close()


if __name__ == "__main__":
    main()
