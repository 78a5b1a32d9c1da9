"""artifactstore against MLflow's artifact store, side by side, interleaved rep by rep.

Usage::

    .venv/bin/python benchmarks/bench_peers.py --setup            # once: MLflow into its own cache venv
    .venv/bin/python benchmarks/bench_peers.py [WORKLOAD ...] [--reps 5] [--json out.json]

Workloads (default: all of them):

- ``small``   1,000 x 10 KiB files (``--count``, ``--small-kib``): ``store.put`` one call per file vs
              MLflow's ``log_artifact``; ``store.put_many`` of all vs ``log_artifacts(dir)``; ``store.get``
              one call per artifact vs ``mlflow.artifacts.download_artifacts``; ``shutil.copyfile`` per
              file and ``copytree`` of the folder as the baselines.
- ``csv``     one 512 MiB episode CSV (``--csv-mib``): put and get, with the bytes each stores on disk.
- ``large``   one 1 GiB incompressible file (``--large-mib``): put and verified get vs ``copyfile``,
              ``sha256`` of the file, and MLflow.
- ``import``  ``python -c "import artifactstore"`` vs ``python -c "import mlflow"``, and each CLI's
              ``--help``, as whole processes.

MLflow runs as its users run it locally: a SQLite tracking database and a local file artifact
location, in its own interpreter (``~/.cache/artifactstore-bench/mlflow-venv`` or
``$ARTIFACTSTORE_BENCH_CACHE``), driven through ``peer_mlflow_worker.py`` over a pipe: one command
per workload, timed from this side like artifactstore's own calls. artifactstore is opened with its
defaults (``artifactstore.open(folder)``: auto codec, SQLite catalog, SHA-256 of every byte, verified
reads). Every rep writes new content (a counter stamped into the files, untimed), so neither side
dedups across reps. Each rep runs baseline, artifactstore, MLflow in that order.

Ratios are per rep (ours / MLflow of the same rep) and of the medians; a target prints ``met`` or
``NOT met``. This is a measurement, not a test: it is not part of the test suite or CI.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_codecs import FIELDS, EpisodeRows
from harness import Bench, Result

import artifactstore

MiB = 1 << 20
HERE = Path(__file__).resolve().parent
REPO = HERE.parent
CACHE = Path(os.environ.get("ARTIFACTSTORE_BENCH_CACHE", Path.home() / ".cache" / "artifactstore-bench"))
MLFLOW_VENV = CACHE / "mlflow-venv"
DEFAULT_DIR = Path(os.environ.get("ARTIFACTSTORE_BENCH_DIR", "/tmp/artifactstore-bench")) / "peers"
RUN = time.time_ns() & ((1 << 40) - 1)  # content differs across runs too


# --- MLflow in its own venv -------------------------------------------------------------------

def mlflow_python() -> Path:
    return MLFLOW_VENV / "bin" / "python"


def setup_mlflow(spec: str) -> None:
    """Create the cache venv and install MLflow into it (idempotent)."""
    if not mlflow_python().exists():
        subprocess.run([sys.executable, "-m", "venv", str(MLFLOW_VENV)], check=True)
    subprocess.run([str(mlflow_python()), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                    spec], check=True)
    out = subprocess.run([str(mlflow_python()), "-c", "import mlflow; print(mlflow.__version__)"],
                         capture_output=True, text=True, check=True)
    print(f"MLflow {out.stdout.strip()} in {MLFLOW_VENV}")


class MlflowWorker:
    """One MLflow process for the whole run, fed one workload per command."""

    def __init__(self, root: Path) -> None:
        if not mlflow_python().exists():
            sys.exit(f"MLflow is not set up: run {Path(sys.argv[0]).name} --setup first")
        env = dict(os.environ, MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR="false", PYTHONWARNINGS="ignore")
        env.pop("PYTHONPATH", None)
        self.proc = subprocess.Popen([str(mlflow_python()), str(HERE / "peer_mlflow_worker.py")],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
        root.mkdir(parents=True, exist_ok=True)
        info = self.call("init", tracking_uri=f"sqlite:///{root / 'mlflow.db'}",
                         artifact_location=(root / "mlartifacts").as_uri())
        self.version = str(info["version"])
        self.artifact_root = Path(str(self.call("artifact_root")["path"]))

    def call(self, op: str, **kw: Any) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps({"op": op, **kw}) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the MLflow worker exited")
        out: dict[str, Any] = json.loads(line)
        if not out.get("ok"):
            raise RuntimeError(f"MLflow: {out.get('error')}")
        return out

    def close(self) -> None:
        try:
            self.call("quit")
        finally:
            self.proc.wait(timeout=30)


# --- data -------------------------------------------------------------------------------------

def du(path: Path) -> int:
    """Bytes of the regular files under ``path`` (what is stored, not the catalog)."""
    total = 0
    for dirpath, _, files in os.walk(path):
        for f in files:
            p = os.path.join(dirpath, f)
            if not os.path.islink(p):
                total += os.stat(p).st_size
    return total


def stamp(path: Path, value: int) -> None:
    """Make the file new content: its last 16 bytes hold a counter (the CSV ends with a comment line)."""
    with open(path, "r+b") as f:
        f.seek(-16, os.SEEK_END)
        f.write(f"#{value:014d}\n".encode())


def ensure_random(path: Path, size: int) -> Path:
    if not path.exists() or path.stat().st_size != size:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as f:
            left = size
            while left:
                n = min(left, 8 * MiB)
                f.write(os.urandom(n))
                left -= n
    return path


def ensure_csv(path: Path, size: int) -> Path:
    """An episode-results CSV of ``size`` bytes (rows as evaluations log them), cached between runs."""
    if path.exists() and path.stat().st_size == size:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = EpisodeRows(11)
    with open(path, "wb") as f:
        f.write((",".join(FIELDS) + "\n").encode())
        written = f.tell()
        while written < size - 4096:
            chunk = "".join(",".join(repr(v) if isinstance(v, float) else str(v) for v in rows().values()) + "\n"
                            for _ in range(2000)).encode()
            chunk = chunk[: size - 4096 - written]
            f.write(chunk)
            written += len(chunk)
        f.write(b"\n" * (size - 16 - written) + b"#" + b"0" * 14 + b"\n")
    return path


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    buf = bytearray(8 * MiB)
    view = memoryview(buf)
    with open(path, "rb", buffering=0) as f:
        while n := f.readinto(buf):
            h.update(view[:n])
    return h.hexdigest()


def fresh(path: Path) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


# --- workloads --------------------------------------------------------------------------------

def bench_small(args: argparse.Namespace, ml: MlflowWorker, store: Any) -> Result:
    n, size = args.count, args.small_kib * 1024
    base = args.dir / "small"
    src = fresh(base / "src")
    paths = [src / f"episode_{i:05d}.json" for i in range(n)]
    rng = random.Random(5)
    # Episode logs: compressible JSON text, as evaluation workers write them.
    body = json.dumps([{"step": s, "reward": round(rng.gauss(0, 1), 6), "action": rng.randrange(4)}
                       for s in range(size // 40)]).encode()[: size - 32]
    state: dict[str, Any] = {}

    def write_pool(rep: int) -> None:
        for i, p in enumerate(paths):
            p.write_bytes(body + f"{RUN:012d}{rep:06d}{i:08d}\n".encode().rjust(32))

    def tag(rep: int, kind: str) -> str:
        return f"r{rep}-{kind}"

    def put_each(rep: int) -> None:
        t = tag(rep, "each")
        state["each"] = [store.put(p, name=f"{t}/{p.name}", artifact_type="episode_data", model_id="m")
                         for p in paths]

    def ml_each(rep: int) -> None:
        ml.call("log_artifact_each", paths=[str(p) for p in paths], artifact_path=tag(rep, "each"))

    def copy_each(rep: int) -> None:
        d = state["copy_dir"]
        for p in paths:
            shutil.copyfile(p, d / p.name)

    def put_many(rep: int) -> None:
        t = tag(rep, "many")
        store.put_many([{"source": p, "name": f"{t}/{p.name}", "artifact_type": "episode_data", "model_id": "m"}
                        for p in paths])

    def ml_many(rep: int) -> None:
        ml.call("log_artifacts", dir=str(src), artifact_path=tag(rep, "many"))

    def copy_tree(rep: int) -> None:
        shutil.copytree(src, state["copy_dir"] / "tree")

    def get_each(rep: int) -> None:
        d = state["get_dir"]
        for art in state["each"]:
            store.get(art, d / art.name.rsplit("/", 1)[-1])

    def ml_get_each(rep: int) -> None:
        t = tag(rep, "each")
        ml.call("download_each", paths=[f"{t}/{p.name}" for p in paths], dst=str(state["ml_get_dir"]))

    def new_dirs(rep: int) -> None:
        state["copy_dir"] = fresh(base / "copy")
        state["get_dir"] = fresh(base / "get")
        state["ml_get_dir"] = fresh(base / "mlget")

    def check_gets(rep: int) -> None:
        if rep <= 0:  # untimed: both returned the bytes that were put
            for p in paths[:: max(1, n // 20)]:
                want = p.read_bytes()
                assert (state["get_dir"] / p.name).read_bytes() == want
                assert (state["ml_get_dir"] / p.name).read_bytes() == want

    b = Bench("small", reps=args.reps, warmup=args.warmup,
              params={"count": n, "size": f"{size // 1024} KiB", "mlflow": ml.version},
              notes=["files are compressible JSON episode logs, new content every rep (stamped, untimed)",
                     "artifactstore: put hashes (SHA-256), dedups, compresses when it pays, journals and indexes "
                     "every file; MLflow's log_artifact copies the file (shutil.copy2) after a tracking lookup",
                     "get: artifactstore verifies the SHA-256 of every byte and replaces the destination "
                     "atomically; MLflow's download_artifacts copies"])
    b.add("copyfile xN", copy_each, setup=lambda r: (write_pool(r), new_dirs(r)), work=n, unit="files",
          baseline=True)
    b.add("artifactstore put xN", put_each, work=n, unit="files")
    b.add("mlflow log_artifact xN", ml_each, work=n, unit="files")
    b.add("copytree", copy_tree, work=n, unit="files", baseline=True)
    b.add("artifactstore put_many", put_many, work=n, unit="files")
    b.add("mlflow log_artifacts(dir)", ml_many, work=n, unit="files")
    b.add("artifactstore get xN", get_each, work=n, unit="files")
    b.add("mlflow download_artifacts xN", ml_get_each, teardown=check_gets, work=n, unit="files")
    b.compare("artifactstore put xN", "mlflow log_artifact xN", target=1.0)
    b.compare("artifactstore put_many", "mlflow log_artifacts(dir)", target=1.0)
    b.compare("artifactstore get xN", "mlflow download_artifacts xN", target=1.0)
    b.compare("artifactstore put xN", "copyfile xN")
    b.compare("artifactstore put_many", "copytree")
    return b.run()


def bench_one_file(args: argparse.Namespace, ml: MlflowWorker, store: Any, kind: str) -> Result:
    """One big file: ``csv`` (compressible episode table) or ``large`` (random bytes)."""
    base = args.dir / kind
    if kind == "csv":
        size = args.csv_mib * MiB
        src = ensure_csv(args.dir / "data" / f"episodes-{args.csv_mib}MiB.csv", size)
        put_target, get_target = 1.2, 1.5
    else:
        size = args.large_mib * MiB
        src = ensure_random(args.dir / "data" / f"random-{args.large_mib}MiB.bin", size)
        put_target = get_target = 1.0
    state: dict[str, Any] = {}
    sizes: dict[str, list[int]] = {"artifactstore": [], "mlflow": []}

    def put_setup(rep: int) -> None:
        # Untimed: the previous rep's artifact is deleted and swept, so that every figure writes
        # into freed space (a put into an ever fuller disk costs more here than the copy).
        prev = state.pop("art", None)
        if prev is not None:
            from artifactstore import gc

            store.delete(prev.id)
            gc.apply(store, gc.plan(store, ["keep_all"], grace_seconds=0))
        for d in base.glob("ml-*"):
            shutil.rmtree(d, ignore_errors=True)
        shutil.rmtree(ml.artifact_root / f"{kind}-prev", ignore_errors=True)
        for p in ml.artifact_root.glob(f"{kind}-*"):
            shutil.rmtree(p, ignore_errors=True)
        stamp(src, RUN * 1000 + rep + 10)
        (base / "copy.bin").unlink(missing_ok=True)
        os.sync()

    def copy(rep: int) -> None:
        shutil.copyfile(src, base / "copy.bin")

    def sha(rep: int) -> None:
        sha256_file(src)

    def put(rep: int) -> None:
        state["art"] = store.put(src, name=f"{kind}/{src.name}", artifact_type="episode_data", model_id="m")

    def ml_put(rep: int) -> None:
        ml.call("log_artifact_each", paths=[str(src)], artifact_path=f"{kind}-{rep}")

    def measure(rep: int) -> None:
        art = state["art"]
        sizes["artifactstore"].append(int(art.stored_size))
        sizes["mlflow"].append(du(ml.artifact_root / f"{kind}-{rep}"))
        (base / "get.bin").unlink(missing_ok=True)
        shutil.rmtree(base / f"ml-{rep}", ignore_errors=True)
        os.sync()

    def get(rep: int) -> None:
        store.get(state["art"], base / "get.bin")

    def ml_get(rep: int) -> None:
        ml.call("download", path=f"{kind}-{rep}/{src.name}", dst=str(base / f"ml-{rep}"))

    def check(rep: int) -> None:
        if rep <= 0:
            want = state["art"].sha256
            assert sha256_file(base / "get.bin") == want
            assert sha256_file(base / f"ml-{rep}" / src.name) == want

    base.mkdir(parents=True, exist_ok=True)
    label = "512 MiB episode CSV" if kind == "csv" else "1 GiB incompressible"
    b = Bench(kind, reps=args.reps, warmup=args.warmup,
              params={"size": f"{size / MiB:.0f} MiB", "file": label, "mlflow": ml.version},
              notes=["the page cache is not dropped: the source is hot in memory for every figure alike; "
                     "os.sync() (untimed) before each rep's figures",
                     "artifactstore: put = hash + encode (auto codec) + atomic publish + journal + catalog; "
                     "get = decode + SHA-256 check of every byte + atomic replace; MLflow copies"])
    b.add("copyfile", copy, setup=put_setup, work=size, baseline=True)
    b.add("sha256", sha, work=size, baseline=True)
    b.add("artifactstore put", put, work=size)
    b.add("mlflow log_artifact", ml_put, teardown=measure, work=size)
    b.add("artifactstore get", get, work=size)
    b.add("mlflow download_artifacts", ml_get, teardown=check, work=size)
    b.compare("artifactstore put", "mlflow log_artifact", target=put_target)
    b.compare("artifactstore get", "mlflow download_artifacts", target=get_target)
    if kind == "large":
        b.compare("artifactstore put", ["copyfile", "sha256"], target=1.1)
        b.compare("artifactstore get", ["copyfile", "sha256"], target=1.1)
    res = b.run()
    ours = sorted(sizes["artifactstore"])[len(sizes["artifactstore"]) // 2]
    theirs = sorted(sizes["mlflow"])[len(sizes["mlflow"]) // 2]
    b.extra_rows.append(("on disk, artifactstore", f"{ours:,} B ({ours / size:.3f} of the bytes)"))
    b.extra_rows.append(("on disk, MLflow", f"{theirs:,} B ({theirs / size:.3f} of the bytes)"))
    return res


def bench_import(args: argparse.Namespace) -> Result:
    ours_py = sys.executable
    ours_cli = str(Path(sys.executable).with_name("artifactstore"))
    ml_py = str(mlflow_python())
    ml_cli = str(mlflow_python().with_name("mlflow"))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}

    def run(cmd: list[str]) -> Any:
        def fn(rep: int) -> None:
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        return fn

    b = Bench("import", reps=max(args.reps, 10), warmup=1, collect=False,
              params={"what": "whole processes, each interpreter's own venv"},
              notes=["python -c 'pass' is the interpreter's own start-up, the floor of both"])
    b.add("python -c pass", run([ours_py, "-c", "pass"]), baseline=True)
    b.add("import artifactstore", run([ours_py, "-c", "import artifactstore"]))
    b.add("import mlflow", run([ml_py, "-c", "import mlflow"]))
    b.add("artifactstore --help", run([ours_cli, "--help"]))
    b.add("mlflow --help", run([ml_cli, "--help"]))
    b.compare("import artifactstore", "import mlflow", target=1.0)
    b.compare("artifactstore --help", "mlflow --help", target=1.0)
    return b.run()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("workloads", nargs="*", metavar="WORKLOAD", help="small, csv, large, import (default: all)")
    p.add_argument("--setup", action="store_true", help="install MLflow into its cache venv, then stop")
    p.add_argument("--mlflow", default="mlflow", help="pip requirement for --setup (default: mlflow)")
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--count", type=int, default=1000, help="small: files per rep")
    p.add_argument("--small-kib", type=int, default=10)
    p.add_argument("--csv-mib", type=int, default=512)
    p.add_argument("--large-mib", type=int, default=1024)
    p.add_argument("--dir", type=Path, default=DEFAULT_DIR, help=f"scratch folder ({DEFAULT_DIR})")
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)
    if args.setup:
        setup_mlflow(args.mlflow)
        return 0
    todo = args.workloads or ["small", "csv", "large", "import"]
    for name in todo:
        if name not in ("small", "csv", "large", "import"):
            p.error(f"unknown workload {name!r}: choose from small, csv, large, import")
    results: dict[str, Any] = {}
    args.dir.mkdir(parents=True, exist_ok=True)
    for name in todo:
        if name == "import":
            res = bench_import(args)
        else:
            root = fresh(args.dir / f"run-{name}")
            ml = MlflowWorker(root / "mlflow")
            store = artifactstore.open(root / "artifactstore")
            try:
                res = bench_small(args, ml, store) if name == "small" else bench_one_file(args, ml, store, name)
            finally:
                store.close()
                ml.close()
                shutil.rmtree(root, ignore_errors=True)
        print(res.table(), flush=True)
        print(flush=True)
        results[name] = res.to_dict()
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
        print(f"wrote {args.json}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
