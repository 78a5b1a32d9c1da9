"""Web UI latency: time to first byte and to the full page, served by uvicorn on loopback.

Pages: the artifact list (``/artifacts``, first page and a filtered one, and ``/artifacts.json``)
at 100k artifacts, and the artifact page with the table preview of a 1 GB CSV (first page, and
page 2). Each rep requests every page once, interleaved with a baseline (``/static/app.js``, the
server's floor), so the figures share the machine's state.

    .venv/bin/python benchmarks/bench_ui.py [--n 100000] [--csv-mb 1024] [--reps 15] [--keep DIR]

``--keep DIR`` builds the store in DIR once and reuses it on later runs (building 100k artifacts
and a 1 GB CSV takes minutes); without it the store lives in a temporary folder.

Nothing asserts on time; the target (p50 < 300 ms) is printed as met / NOT met.
"""

from __future__ import annotations

import argparse
import http.client
import random
import socket
import statistics
import tempfile
import threading
import time
from pathlib import Path

import artifactstore

TYPES = ["evaluation_result", "episode_data", "video", "trace", "log", "plot", "configuration"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def build(root: Path, n: int, csv_mb: int) -> artifactstore.ArtifactStore:
    store = artifactstore.open(root / "store")
    rnd = random.Random(3)
    t0 = time.perf_counter()
    batch = 5000
    for start in range(0, n, batch):
        store.put_many([{"source": f"artifact {i}".encode(), "artifact_type": rnd.choice(TYPES),
                         "name": f"runs/r{i // 100}/a{i}.txt", "model_id": f"model{i % 40}",
                         "tags": [rnd.choice(["nightly", "release", "smoke"])], "codec": "none"}
                        for i in range(start, min(n, start + batch))])
    print(f"built {n} artifacts in {time.perf_counter() - t0:.1f} s")
    csv_path = root / "big.csv"
    t0 = time.perf_counter()
    target = csv_mb << 20
    with open(csv_path, "w", buffering=1 << 22) as f:
        f.write("episode,map,seed,reward,steps,success\n")
        i = 0
        written = 0
        while written < target:
            chunk = "".join(f"{j},map{j % 13},{j % 97},{(j * 7919) % 1000 / 1000:.3f},{j % 500},{j % 3 == 0}\n"
                            for j in range(i, i + 20000))
            f.write(chunk)
            written += len(chunk)
            i += 20000
    store.put(csv_path, artifact_type="episode_data", name="big/episodes.csv", codec="zstd")
    csv_path.unlink()
    print(f"built and stored a {csv_mb} MiB CSV ({i} rows) in {time.perf_counter() - t0:.1f} s")
    return store


def fetch(port: int, path: str) -> tuple[float, float, int]:
    """(time to first body byte, time to the last byte, bytes) in seconds."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    t0 = time.perf_counter()
    conn.request("GET", path)
    resp = conn.getresponse()
    first = resp.read(1)
    ttfb = time.perf_counter() - t0
    rest = resp.read()
    total = time.perf_counter() - t0
    conn.close()
    assert resp.status == 200, (path, resp.status)
    return ttfb, total, len(first) + len(rest)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--csv-mb", type=int, default=1024)
    ap.add_argument("--reps", type=int, default=15)
    ap.add_argument("--keep", type=Path, default=None, help="build the store here once and reuse it")
    args = ap.parse_args()
    import uvicorn

    from artifactstore.ui.app import create_app

    out = Path("bench-out")  # git-ignored, on the project's disk
    out.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out) as tmp:
        if args.keep is not None and (args.keep / "store" / "store.json").exists():
            store = artifactstore.open(args.keep / "store")
            print(f"reusing {args.keep}: {store.count()} artifacts")
        else:
            store = build(args.keep or Path(tmp), args.n, args.csv_mb)
        port = free_port()
        server = uvicorn.Server(uvicorn.Config(create_app(store), host="127.0.0.1", port=port, log_level="warning"))
        th = threading.Thread(target=server.run, daemon=True)
        th.start()
        while not server.started:
            time.sleep(0.05)
        pages = {
            "baseline /static/app.js": "/static/app.js",
            "/artifacts (page 1)": "/artifacts",
            "/artifacts?type=log&offset=500": "/artifacts?type=log&offset=500",
            "/artifacts.json": "/artifacts.json",
            "/artifacts?q=nightly": "/artifacts?q=nightly",
            "1 GB CSV artifact page": "/artifacts/big/episodes.csv",
            "1 GB CSV preview page 2": "/artifacts/big/episodes.csv/preview?offset=50",
        }
        results: dict[str, list[tuple[float, float, int]]] = {k: [] for k in pages}
        for path in pages.values():  # warm-up
            fetch(port, path)
        for _ in range(args.reps):
            for name, path in pages.items():
                results[name].append(fetch(port, path))
        report(args, results)
        server.should_exit = True
        th.join(10)
        store.close()


def report(args: argparse.Namespace, results: dict[str, list[tuple[float, float, int]]]) -> None:
    # printed before the clean-up: removing 100k files and 1 GB takes minutes
    print(f"\n{args.n} artifacts, {args.csv_mb} MiB CSV, {args.reps} reps, target p50 < 300 ms")
    print(f"{'page':34} {'TTFB p50':>9} {'TTFB p90':>9} {'full p50':>9} {'full p90':>9} {'bytes':>8}  target")
    for name, rs in results.items():
        tt = sorted(r[0] * 1000 for r in rs)
        full = sorted(r[1] * 1000 for r in rs)
        p90 = max(0, int(len(rs) * 0.9) - 1)
        met = "met" if statistics.median(full) < 300 else "NOT met"
        print(f"{name:34} {statistics.median(tt):8.1f}ms {tt[p90]:8.1f}ms {statistics.median(full):8.1f}ms "
              f"{full[p90]:8.1f}ms {rs[0][2]:8d}  {met}")


if __name__ == "__main__":
    main()
