"""Profile the put and get hot paths (small and large artifacts) and say where the time goes.

    python benchmarks/profile_hot.py small-put      [--tool py-spy|cprofile] [--count 1000]
    python benchmarks/profile_hot.py small-put-many
    python benchmarks/profile_hot.py small-get
    python benchmarks/profile_hot.py large-put      [--size 1G] [--reps 3]
    python benchmarks/profile_hot.py large-get
    python benchmarks/profile_hot.py all

``--tool py-spy`` (default; ``pip install py-spy``) samples wall-clock time of
every thread, native frames included, so waiting (for the hash thread, for a
lock, in a syscall) shows up. It re-runs this script under ``py-spy record``
and keeps only the samples inside the profiled region. ``--tool cprofile``
counts Python calls in the main thread only, and inflates Python-heavy code
(SQLAlchemy) relative to syscalls; use it for call counts.

Output: per thread, the share of wall-clock samples by category (syscalls,
SQLite, SQLAlchemy, hashing, waiting...), and the artifactstore lines that the
samples fall under (deepest artifactstore frame of each sample).
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_core import (
    DEFAULT_DIR,
    _fresh,
    _make_pool,
    _stamp,
    default_codec,
    ensure_random_file,
    open_store,
    parse_size,
)

CASES = ["small-put", "small-put-many", "small-get", "large-put", "large-get"]
MARK = "_profiled_region"

# (category, substrings of a sample's stack; first match wins, checked leaf-first by order)
CATEGORIES: list[tuple[str, tuple[str, ...]]] = [
    ("sha256", ("SHA256", "EVP_", "_hashlib", "HASH.update")),
    ("wait: another thread (Future.result)", ("Future.result", "result_iterator")),
    ("idle: pool worker", ("SimpleQueue_get",)),
    ("hand-off to hash thread", ("ThreadPoolExecutor.submit",)),
    ("zstd", ("zstd", "ZSTD")),
    ("sqlite commit", ("pysqlite_connection_commit", "sqlite3VdbeHalt", "sqlite3PagerCommit", "walFrames")),
    ("sqlite (C)", ("sqlite3", "libsqlite")),
    ("sqlalchemy (Python)", ("sqlalchemy/",)),
    ("syscall: open/create", ("open64", "openat", "__open", "io_open", "os_open", "posix_open")),
    ("syscall: write", ("write (libc", "__write", "pwrite")),
    ("syscall: read", ("read (libc", "__read", "pread")),
    ("syscall: rename", ("rename",)),
    ("syscall: stat", ("stat", "fstatat")),
    ("syscall: close", ("close (libc", "__close")),
    ("syscall: unlink", ("unlink",)),
    ("syscall: fsync", ("fsync", "fdatasync")),
    ("json", ("json/",)),
    ("pluggy hooks", ("pluggy/",)),
    ("dataclasses/copy", ("dataclasses.py", "copy.py")),
    ("pathlib", ("pathlib.py",)),
]


def _category(stack: str) -> str:
    last_py = [f for f in stack.split(";") if ".py:" in f]
    if last_py and last_py[-1].startswith("_worker (") and "futures/thread.py" in last_py[-1]:
        return "idle: pool worker"  # a pool thread waiting for work
    for name, keys in CATEGORIES:
        if any(k in stack for k in keys):
            return name
    return "other (Python, alloc)"


def _deepest_own(frames: list[str]) -> str:
    for f in reversed(frames):
        if "artifactstore/" in f and "benchmarks/" not in f:
            return f
    return "(outside artifactstore)"


def summarize_raw(path: Path, top: int, rate: int) -> str:
    """Categories per thread and artifactstore lines, from py-spy's raw (collapsed) output.

    Percentages are of the main thread's samples inside the profiled region (its
    wall-clock time); worker threads are shown by what they were busy with, in
    the same unit, their idle time left out.
    """
    cat: Counter[tuple[str, str]] = Counter()
    lines: Counter[tuple[str, str]] = Counter()
    per_thread: Counter[str] = Counter()
    incl: Counter[tuple[str, str]] = Counter()
    for raw in path.read_text().splitlines():
        stack, _, n_txt = raw.rpartition(" ")
        frames = stack.split(";")
        head = frames[0]
        worker = "artifactstore-" in head
        if MARK not in stack and not worker:
            continue  # setup and warm-up in the main thread
        n = int(n_txt)
        if "artifactstore-put" in head:
            thread = "put_many workers (artifactstore-put-*)"
        elif "artifactstore-hash" in head:
            thread = "hash pool (artifactstore-hash-*)"
        elif worker:
            thread = head.split(":", 1)[-1].strip()
        else:
            thread = "main"
        c = _category(stack)
        if worker and c == "idle: pool worker":
            continue
        per_thread[thread] += n
        cat[(thread, c)] += n
        lines[(thread, _deepest_own(frames) + ("  -> " + c if c != "other (Python, alloc)" else ""))] += n
        for fn in {f.split(" (", 1)[0] for f in frames if "artifactstore/" in f and "benchmarks/" not in f}:
            incl[(thread, fn)] += n
    wall = per_thread.get("main", 0) or 1
    out = [f"  main thread in the profiled region: {wall} samples = {wall / rate:.2f} s wall-clock"]
    for thread in ["main", *[t for t in per_thread if t != "main"]]:
        total = per_thread.get(thread, 0)
        if not total:
            continue
        busy = "" if thread == "main" else (
            f" (busy {total / rate:.2f} s = {100 * total / wall:.0f}% of main's wall time)")
        out.append(f"  [{thread}]{busy}")
        for (t, c), n in cat.most_common():
            if t == thread and n / wall >= 0.005:
                out.append(f"    {100 * n / wall:5.1f}%  {n / rate:7.3f} s  {c}")
        out.append("    inclusive, by artifactstore function (like cumtime):")
        shown = 0
        for (t, fn), n in incl.most_common():
            if t == thread and shown < top and n / wall >= 0.01:
                out.append(f"    {100 * n / wall:5.1f}%  {fn}")
                shown += 1
        out.append("    self, by deepest artifactstore frame and line (-> category):")
        shown = 0
        for (t, ln), n in lines.most_common():
            if t == thread and shown < top and n / wall >= 0.005:
                out.append(f"    {100 * n / wall:5.1f}%  {ln}")
                shown += 1
    return "\n".join(out)


# --- the profiled operations ---------------------------------------------------------------


def _kw(i: int, codec: str) -> dict[str, Any]:
    return {"artifact_type": "episode_data", "model_id": f"model-{i % 8:02d}", "evaluation_id": f"eval-{i // 100}",
            "tags": ["bench", "small"], "metadata": {"episode": i, "success": i % 3 == 0}, "codec": codec}


def _profiled_region(fn: Any) -> Any:
    return fn()


def run_case(case: str, args: argparse.Namespace, prof: cProfile.Profile | None) -> list[float]:
    base = args.dir / "profile"
    base.mkdir(parents=True, exist_ok=True)
    root = _fresh(base / "store")
    store = open_store(root)
    times: list[float] = []

    def timed(fn: Any) -> None:
        if prof is not None:
            prof.enable()
        t0 = time.perf_counter()
        _profiled_region(fn)
        times.append(time.perf_counter() - t0)
        if prof is not None:
            prof.disable()

    try:
        if case.startswith("small"):
            codec = args.codec or default_codec()
            size = parse_size(args.size or "10K")
            pool = _make_pool(args.dir / "small" / f"src-one-{args.count}-{size}", args.count, size, 1)
            for rep in range(args.reps + 1):  # the first is a warm-up, not profiled
                for p in pool:
                    _stamp(p, time.time_ns() + rep)
                if case == "small-put-many":
                    items = [{"source": p, **_kw(i, codec)} for i, p in enumerate(pool)]
                    fn = lambda items=items: store.put_many(items)  # noqa: E731
                    (timed if rep else _profiled_noop)(fn)
                elif case == "small-put" or rep == 0:
                    ids: list[str] = []
                    fn = lambda ids=ids: ids.extend(store.put(p, **_kw(i, codec)).id for i, p in enumerate(pool))  # noqa: E731
                    (timed if rep and case == "small-put" else _profiled_noop)(fn)
                    last_ids = ids
                if case == "small-get" and rep:
                    d = _fresh(base / "get")
                    timed(lambda d=d, ids=last_ids: [store.get(a, d / f"{i}.bin") for i, a in enumerate(ids)])
        else:
            size = parse_size(args.size or "1G")
            src = args.dir / "large" / "src.bin"
            ensure_random_file(src, size)
            codec = args.codec or "none"
            dest = base / "get.bin"
            for rep in range(args.reps + 1):
                _stamp(src, time.time_ns() + rep)
                os.sync()
                art = None

                def put() -> None:
                    nonlocal art
                    art = store.put(src, artifact_type="video", name="large.bin", codec=codec)

                (timed if rep and case == "large-put" else _profiled_noop)(put)
                if case == "large-get" and rep:
                    if dest.exists():
                        dest.unlink()
                    os.sync()
                    assert art is not None
                    timed(lambda a=art: store.get(a.id, dest))
    finally:
        store.close()
        shutil.rmtree(root, ignore_errors=True)
        shutil.rmtree(base / "get", ignore_errors=True)
        if (base / "get.bin").exists():
            (base / "get.bin").unlink()
    return times


def _profiled_noop(fn: Any) -> Any:  # warm-up: same work, outside the profiled region
    return fn()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("case", choices=[*CASES, "all"])
    p.add_argument("--tool", choices=["py-spy", "cprofile"], default="py-spy")
    p.add_argument("--reps", type=int, default=3, help="profiled repetitions after one warm-up (3)")
    p.add_argument("--count", type=int, default=1000)
    p.add_argument("--size", default=None, help="small: bytes per artifact (10K); large: file size (1G)")
    p.add_argument("--codec", default=None)
    p.add_argument("--top", type=int, default=14)
    p.add_argument("--rate", type=int, default=100, help="py-spy samples per second")
    p.add_argument("--dir", type=Path, default=DEFAULT_DIR)
    p.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    cases = CASES if args.case == "all" else [args.case]
    if args.inner:
        times = run_case(args.case, args, None)
        print(f"{args.case}: " + " ".join(f"{t:.3f}s" for t in times), flush=True)
        return 0
    for case in cases:
        print(f"== {case} ({args.tool}, {args.reps} profiled reps after 1 warm-up) ==", flush=True)
        if args.tool == "cprofile":
            prof = cProfile.Profile()
            times = run_case(case, args, prof)
            print("times: " + " ".join(f"{t:.3f}s" for t in times))
            st = pstats.Stats(prof)
            st.sort_stats("tottime").print_stats(args.top)
            st.sort_stats("cumtime").print_stats(r"artifactstore/", args.top)
            continue
        spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
        with tempfile.TemporaryDirectory() as td:
            out = Path(td) / "raw.txt"
            argv_inner = [sys.executable, __file__, case, "--inner", "--reps", str(args.reps), "--count",
                          str(args.count), "--dir", str(args.dir)]
            if args.size:
                argv_inner += ["--size", args.size]
            if args.codec:
                argv_inner += ["--codec", args.codec]
            cmd = [spy, "record", "--idle", "--threads", "--native", "-r", str(args.rate), "-f", "raw", "-o", str(out),
                   "--", *argv_inner]
            proc = subprocess.run(cmd, capture_output=True, text=True)
            print(proc.stdout.strip())
            if proc.returncode != 0 or not out.exists():
                print(proc.stderr[-2000:], file=sys.stderr)
                return 1
            print(summarize_raw(out, args.top, args.rate))
        print(flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
