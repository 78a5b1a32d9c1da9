"""Aggregate write throughput of 1, 2, 4 and 8 worker processes writing to one store at once.

    python benchmarks/bench_cluster.py            [--reps 5] [--count 200] [--large-size 64M]
    python benchmarks/bench_cluster.py --quick    (smoke version: fewer, smaller artifacts, no warm-up)
    python benchmarks/bench_cluster.py --profile  (cProfile + time per phase of one worker on PostgreSQL + S3)

Two setups, each a cluster in miniature on this one machine:

- ``sqlite+local``: every worker opens the same local folder (SQLite catalog inside it).
- ``postgres+s3``: every worker opens ``s3://BUCKET/store`` on a moto server this script
  starts on a free loopback port (and stops at the end), with a PostgreSQL catalog in a fresh
  ``?schema=`` on 127.0.0.1:5432.

Three workloads per setup and worker count n:

- ``single``: each worker puts ``--count`` distinct 10 KiB artifacts one ``put`` at a time;
- ``many``: the same, in ``put_many`` batches of ``--batch`` (100);
- ``large``: ``--large-count`` (8) distinct 64 MiB artifacts *in total*, split over the n workers.

The worker processes are started once (``spawn``) and receive one command per figure and rep.
For each, every worker opens its own store object (untimed), puts one warm-up artifact so that
its connections are open (untimed), builds its data (untimed: 10 KiB of ``os.urandom`` made
distinct by a 32-byte header; 64 MiB artifacts are one ``os.urandom`` buffer per process read
through a stream that swaps in a distinct header, no copy), then waits on a barrier shared by
the n workers. Wall time runs from the first worker leaving the barrier to the last one
finishing (``CLOCK_MONOTONIC`` is one clock for every process). Every figure and rep gets a
fresh folder / bucket + schema, removed right after: moto lists a prefix by scanning the whole
bucket, so a bucket that grew over the run would make later reps slower for moto's sake alone.

The figures run interleaved rep by rep (harness.py), medians are reported, and the summary
gives, per setup and n, artifacts/s (single / put_many), MB/s (large) and the scaling
throughput(n)/throughput(1) with its efficiency (scaling / n).
"""

from __future__ import annotations

import argparse
import collections
import cProfile
import functools
import gc
import io
import json
import multiprocessing as mp
import os
import pstats
import re
import shutil
import statistics
import struct
import sys
import tempfile
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import Bench, Figure, Result, fmt_time, machine_info

MiB = 1 << 20
KiB = 1 << 10
PG_BASE = "postgresql://root@127.0.0.1:5432/test"
SETUPS = ("sqlite+local", "postgres+s3")
MODES = ("single", "many", "large")
_RUN = time.time_ns() & ((1 << 48) - 1)  # distinct content across runs too
BARRIER_TIMEOUT = 900.0


def parse_size(text: str) -> int:
    t = text.strip().upper().removesuffix("B").removesuffix("I")
    mult = {"K": KiB, "M": MiB, "G": 1 << 30}.get(t[-1:], 1)
    return int(float(t[:-1] if t[-1:] in "KMG" else t) * mult)


# --- data ----------------------------------------------------------------------------------


class HeaderStream(io.RawIOBase):
    """``header + base[len(header):]`` as a seekable binary stream, without copying ``base``.

    Each ``read`` copies only what it returns, as reading a file from the page cache would.
    """

    def __init__(self, header: bytes, base: memoryview) -> None:
        super().__init__()
        self._h = header
        self._b = base
        self._size = len(base)
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(0, min(self._size, base + offset))
        return self._pos

    def read(self, n: int = -1) -> bytes:
        end = self._size if n is None or n < 0 else min(self._size, self._pos + n)
        if self._pos >= end:
            return b""
        h = len(self._h)
        if self._pos < h:
            out = self._h[self._pos : min(h, end)] + bytes(self._b[h:end]) if end > h else self._h[self._pos : end]
        else:
            out = bytes(self._b[self._pos : end])
        self._pos = end
        return out

    def readinto(self, b: Any) -> int:
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)


def _header(rep: int, worker: int, i: int, salt: int) -> bytes:
    return struct.pack("<QqQQ", _RUN, rep, (salt << 8) | worker, i)


# --- the worker processes ------------------------------------------------------------------

def _cpu_seconds(pid: int) -> float:
    """utime + stime of one process (a server this script started), from /proc."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            parts = f.read().rsplit(")", 1)[1].split()
        return (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


def _machine_cpu() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine from /proc/stat: every tenant's load, not ours only."""
    try:
        with open("/proc/stat") as f:
            vals = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return float("nan"), float("nan")
    idle = vals[3] + (vals[4] if len(vals) > 4 else 0)  # idle + iowait
    total = sum(vals[:8])
    return float(total - idle), float(total)



_BASES: dict[int, memoryview] = {}


def _base(size: int) -> memoryview:
    b = _BASES.get(size)
    if b is None:
        _BASES.clear()  # one buffer per process at a time
        b = _BASES[size] = memoryview(os.urandom(size))
    return b


def _run_command(cmd: dict[str, Any], barrier: Any, wid: int) -> dict[str, Any]:
    import artifactstore

    store = artifactstore.open(cmd["url"], catalog=cmd["catalog"], catalog_options=cmd.get("catalog_options"),
                               **cmd.get("storage_options", {}))
    try:
        # Warm-up (untimed): opens this worker's catalog connection and object-store session.
        store.put(_header(cmd["rep"], wid, 0, 0xFFFF) + b"warm-up", artifact_type="log", name=f"warmup/w{wid}")
        mode, rep = cmd["mode"], cmd["rep"]
        if mode in ("single", "many"):
            base = _base(cmd["size"])
            items = [_header(rep, wid, i, cmd["salt"]) + bytes(base[32:]) for i in range(cmd["count"])]
            names = [f"bench/{mode}/w{wid}/{i:05d}.bin" for i in range(cmd["count"])]
        else:
            base = _base(cmd["size"])
            items = list(range(cmd["count"]))
            names = [f"bench/large/w{wid}/{i:03d}.bin" for i in items]
        gc.collect()
        moto_pid = cmd.get("moto_pid")
        cpu0 = time.process_time()
        barrier.wait(BARRIER_TIMEOUT)
        t0 = time.monotonic()
        mach0, moto0 = _machine_cpu(), (_cpu_seconds(moto_pid) if moto_pid else 0.0)
        arts = []
        if mode == "single":
            for data, name in zip(items, names, strict=True):
                arts.append(store.put(data, artifact_type="episode_data", name=name))
        elif mode == "many":
            batch = cmd["batch"]
            for j in range(0, len(items), batch):
                arts += store.put_many([
                    {"source": d, "artifact_type": "episode_data", "name": n}
                    for d, n in zip(items[j : j + batch], names[j : j + batch], strict=True)
                ])
        else:
            for i, name in zip(items, names, strict=True):
                src = HeaderStream(_header(rep, wid, i, cmd["salt"]), base)
                arts.append(store.put(src, artifact_type="video", name=name))
        t1 = time.monotonic()
        mach1, moto1 = _machine_cpu(), (_cpu_seconds(moto_pid) if moto_pid else 0.0)
        cpu = time.process_time() - cpu0
        nbytes = sum(a.size for a in arts)
        assert len(arts) == cmd["count"] and len({a.sha256 for a in arts}) == len(arts), "lost or deduped puts"
        return {"t0": t0, "t1": t1, "cpu": cpu, "count": len(arts), "bytes": nbytes, "mach0": mach0,
                "mach1": mach1, "moto0": moto0, "moto1": moto1,
                "codecs": sorted({a.codec for a in arts})}
    finally:
        store.close()


def worker_main(conn: Any, barriers: dict[int, Any], wid: int) -> None:
    """Loop: receive a command, run it between the barrier and the end, send the timings back."""
    while True:
        cmd = conn.recv()
        if cmd is None:
            return
        barrier = barriers[cmd["n"]]
        try:
            conn.send(("ok", _run_command(cmd, barrier, wid)))
        except BaseException:
            barrier.abort()  # the other workers stop waiting and report BrokenBarrierError
            conn.send(("error", traceback.format_exc()))


class WorkerPool:
    """``size`` spawned worker processes; a command goes to the first ``n`` of them."""

    def __init__(self, size: int, ns: list[int]) -> None:
        ctx = mp.get_context("spawn")  # the parent has threads (fsspec's loop): no fork
        self.barriers = {n: ctx.Barrier(n) for n in ns}
        self.conns = []
        self.procs = []
        for wid in range(size):
            parent, child = ctx.Pipe()
            p = ctx.Process(target=worker_main, args=(child, self.barriers, wid), name=f"bench-worker-{wid}",
                            daemon=True)
            p.start()
            self.conns.append(parent)
            self.procs.append(p)

    def run(self, cmds: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Send ``cmds[i]`` to worker i (n = len(cmds) workers), wait for every reply."""
        n = len(cmds)
        for c, cmd in zip(self.conns[:n], cmds, strict=True):
            c.send({**cmd, "n": n})
        replies = [c.recv() for c in self.conns[:n]]
        self.barriers[n].reset()  # after an abort; a no-op otherwise
        errors = [r[1] for r in replies if r[0] != "ok"]
        if errors:
            real = [e for e in errors if "BrokenBarrierError" not in e] or errors
            raise RuntimeError("worker failed:\n" + real[0])
        return [r[1] for r in replies]

    def close(self) -> None:
        for c in self.conns:
            try:
                c.send(None)
            except OSError:
                pass
        for p in self.procs:
            p.join(30)
            if p.is_alive():
                p.terminate()
                p.join(5)


# --- setups --------------------------------------------------------------------------------


def _state_of(state: str | None, wait_type: str | None, wait_event: str | None) -> str:
    """What a connection of pg_stat_activity is doing, in the words of the report."""
    if state == "active":
        if wait_type == "Lock":
            return "advisory lock (open)" if wait_event == "advisory" else "row lock wait"
        if wait_type in ("IO", "LWLock", "IPC"):
            return "IO/LWLock wait"
        return "running"
    if state and state.startswith("idle in transaction"):
        return "idle in txn"
    return "idle"


_STATE_ORDER = ("running", "row lock wait", "idle in txn", "IO/LWLock wait", "advisory lock (open)", "idle")


class Cluster:
    """The two setups: scratch folders, the moto server, fresh buckets and schemas per figure and rep."""

    def __init__(self, scratch: Path, pool_size: int, max_overflow: int) -> None:
        import sqlalchemy as sa

        from artifactstore.testing import servers

        self.sa = sa
        self.servers = servers
        self.scratch = scratch
        self.run_tag = f"acb{uuid.uuid4().hex[:10]}"  # schema names start with it; application_name is it
        self.catalog_options = {"pool_size": pool_size, "max_overflow": max_overflow}
        self.admin = sa.create_engine(PG_BASE.replace("postgresql://", "postgresql+psycopg://"),
                                      poolclass=sa.pool.NullPool)
        self.moto = servers.start_moto(log_dir=scratch / "moto-log")
        self.schemas: list[str] = []
        self.buckets: list[str] = []
        self.peak_connections = 0
        self._pg_cpu: dict[int, list[float]] = {}  # backend pid -> [first seen, last seen] CPU seconds
        self._states: collections.Counter[str] = collections.Counter()
        self._samples = 0
        self._pg_lock = threading.Lock()
        self._stop_sampler = threading.Event()
        self._sampler = threading.Thread(target=self._sample_connections, daemon=True)
        self._sampler.start()

    def _sample_connections(self) -> None:
        """Peak number of PostgreSQL connections the workers hold (by application_name)."""
        q = self.sa.text("SELECT pid, state, wait_event_type, wait_event FROM pg_stat_activity "
                         "WHERE application_name = :a")
        try:
            with self.admin.connect() as conn:
                while not self._stop_sampler.wait(0.05):
                    rows = conn.execute(q, {"a": self.run_tag}).all()
                    conn.rollback()
                    pids = [int(r[0]) for r in rows]
                    self.peak_connections = max(self.peak_connections, len(pids))
                    with self._pg_lock:
                        self._samples += 1
                        for r in rows:
                            self._states[_state_of(r[1], r[2], r[3])] += 1
                        for pid in pids:
                            c = _cpu_seconds(pid)
                            if c == c:
                                self._pg_cpu.setdefault(pid, [c, c])[1] = c
        except Exception as exc:  # a measurement aid only
            print(f"connection sampler stopped: {exc}", file=sys.stderr)

    def target(self, setup: str, label: str) -> dict[str, Any]:
        """A fresh store location (and catalog) for one figure and rep."""
        if setup == "sqlite+local":
            root = self.scratch / "local" / label
            if root.exists():
                shutil.rmtree(root)
            target: dict[str, Any] = {"url": str(root), "catalog": None, "cleanup": ("dir", root)}
        else:
            bucket = self.servers.create_bucket(self.moto, "acb")
            schema = f"{self.run_tag}_{uuid.uuid4().hex[:8]}"
            self.buckets.append(bucket)
            self.schemas.append(schema)
            target = {
                "url": f"s3://{bucket}/store",
                "catalog": f"{PG_BASE}?schema={schema}&application_name={self.run_tag}",
                "catalog_options": self.catalog_options,
                "storage_options": dict(self.moto.storage_options),
                "cleanup": ("s3+pg", bucket, schema),
            }
        # Create the store once before the workers start, as `artifactstore init` would in a
        # deployment: n processes opening a brand-new SQLite catalog at the same instant fail
        # now and then with "database is locked" (PRAGMA journal_mode=WAL; see --help).
        import artifactstore

        artifactstore.open(target["url"], catalog=target["catalog"],
                           **target.get("storage_options", {})).close()
        return target

    def cleanup(self, target: dict[str, Any]) -> None:
        kind = target["cleanup"]
        if kind[0] == "dir":
            shutil.rmtree(kind[1], ignore_errors=True)
            return
        _, bucket, schema = kind
        self.servers.delete_bucket(self.moto, bucket)
        self.buckets.remove(bucket)
        self.drop_schema(schema)

    def drop_schema(self, schema: str) -> None:
        with self.admin.begin() as c:
            c.execute(self.sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        if schema in self.schemas:
            self.schemas.remove(schema)

    def pg_cpu_reset(self) -> None:
        with self._pg_lock:
            self._pg_cpu.clear()
            self._states.clear()
            self._samples = 0

    def pg_states(self) -> dict[str, float]:
        """Average number of the workers' connections in each state per sample since pg_cpu_reset."""
        with self._pg_lock:
            n = max(1, self._samples)
            return {k: v / n for k, v in self._states.items()}

    def pg_cpu(self) -> float:
        """CPU seconds of the PostgreSQL backends serving the workers since pg_cpu_reset (sampled
        every 50 ms: the last moments of each connection are missed, an underestimate)."""
        with self._pg_lock:
            return sum(b - a for a, b in self._pg_cpu.values())

    def close(self) -> None:
        self._stop_sampler.set()
        self._sampler.join(5)
        for s in list(self.schemas):
            try:
                self.drop_schema(s)
            except Exception as exc:
                print(f"could not drop schema {s}: {exc}", file=sys.stderr)
        for b in list(self.buckets):
            try:
                self.servers.delete_bucket(self.moto, b)
            except Exception:
                pass
        self.moto.stop()
        self.admin.dispose()


# --- the benchmark -------------------------------------------------------------------------


class BarrierBench(Bench):
    """Bench whose figures return their own wall time (measured by the workers from the barrier)."""

    def _time_one(self, f: Figure, rep: int) -> float:
        if f.setup is not None:
            f.setup(rep)
        if self.collect:
            gc.collect()
        dt = float(f.fn(rep))
        if f.teardown is not None:
            f.teardown(rep)
        return dt


@dataclass
class Point:
    setup: str
    mode: str
    n: int
    figure: str
    count_per_worker: list[int]
    size: int
    extra: list[dict[str, Any]] = field(default_factory=list)  # per timed rep: cpu, moto cpu, codecs


def build(args: argparse.Namespace, cluster: Cluster, pool: WorkerPool) -> tuple[BarrierBench, list[Point]]:
    notes = [
        f"this machine has {os.cpu_count()} cores: 8 workers + the moto server + PostgreSQL share them, so "
        "scaling past 2 workers measures how well the work overlaps waiting, not more CPUs",
        f"small: each worker puts {args.count} distinct {args.small_size // KiB} KiB artifacts (weak scaling: n "
        f"workers put n x {args.count}); large: {args.large_count} x {args.large_size // MiB} MiB in total, split "
        "over the n workers (strong scaling)",
        "wall time per rep: first worker out of the barrier -> last worker done; stores opened, connections "
        "warmed and data built before the barrier (untimed)",
        "postgres+s3 is moto (a single Python process emulating S3) on loopback: absolute figures are moto's, "
        "not S3's; the request counts per put are what carries over",
        "codec auto: the data is random, so every artifact is stored with codec none after the sample test",
    ]
    bench = BarrierBench("cluster write throughput", reps=args.reps, warmup=args.warmup, notes=notes,
                         params={"count/worker": args.count, "small": f"{args.small_size // KiB} KiB",
                                 "batch": args.batch,
                                 "large": f"{args.large_count} x {args.large_size // MiB} MiB total",
                                 "workers": args.workers, "pool": cluster.catalog_options})
    points: list[Point] = []
    for mode in args.modes:
        for n in args.workers:
            for setup in args.setups:
                if mode == "large":
                    per = [args.large_count // n + (1 if w < args.large_count % n else 0) for w in range(n)]
                    size = args.large_size
                    work, unit = float(args.large_count * size), "B"
                else:
                    per = [args.count] * n
                    size = args.small_size
                    work, unit = float(n * args.count), "artifacts"
                name = f"{setup} {mode} n={n}"
                pt = Point(setup, mode, n, name, per, size)
                points.append(pt)
                bench.add(name, _figure_fn(args, cluster, pool, pt), work=work, unit=unit)
    return bench, points


def _figure_fn(args: argparse.Namespace, cluster: Cluster, pool: WorkerPool, pt: Point) -> Callable[[int], float]:
    def fn(rep: int) -> float:
        target = cluster.target(pt.setup, f"{pt.mode}-n{pt.n}-r{rep}")
        try:
            cluster.pg_cpu_reset()
            base_cmd = {k: v for k, v in target.items() if k != "cleanup"}
            cmds = []
            for w in range(pt.n):
                cmds.append({**base_cmd, "mode": pt.mode, "rep": rep, "count": pt.count_per_worker[w],
                             "size": pt.size, "batch": args.batch,
                             "moto_pid": cluster.moto.pid if pt.setup == "postgres+s3" else None,
                             "salt": SETUPS.index(pt.setup) * 16 + pt.n})
            res = pool.run(cmds)
            pg_cpu = cluster.pg_cpu()
            pg_states = cluster.pg_states()
        finally:
            cluster.cleanup(target)
        first = min(res, key=lambda r: r["t0"])
        last = max(res, key=lambda r: r["t1"])
        wall = last["t1"] - first["t0"]
        busy = (last["mach1"][0] - first["mach0"][0]) / max(1.0, last["mach1"][1] - first["mach0"][1])
        if rep >= 0:
            pt.extra.append({"wall": wall, "cpu": sum(r["cpu"] for r in res), "machine_busy": busy,
                             "moto_cpu": last["moto1"] - first["moto0"], "pg_cpu": pg_cpu,
                             "pg_states": pg_states,
                             "codecs": sorted({c for r in res for c in r["codecs"]}),
                             "spread": max(r["t1"] for r in res) - min(r["t1"] for r in res)})
        return wall

    return fn


def summary_table(bench: Bench, points: list[Point], args: argparse.Namespace, cluster: Cluster) -> str:
    fig = bench.figures
    by = {(p.setup, p.mode, p.n): p for p in points}

    def rate(p: Point | None) -> float | None:
        if p is None:
            return None
        f = fig[p.figure]
        return f.work / f.median if f.work and f.times else None

    lines = []
    cores = os.cpu_count()
    lines.append(f"== aggregate write throughput, median of {bench.reps} reps (+{bench.warmup} warm-up) "
                 f"per point, interleaved; {cores}-core machine: 8 workers share {cores} cores ==")
    head = (f"{'setup':<13} {'workers':>7} | {'single art/s':>12} {'put_many art/s':>14} {'large MB/s':>10} | "
            f"{'scaling single':>16} {'scaling put_many':>16} {'scaling large':>16}")
    lines.append(head)
    lines.append("-" * len(head))
    for setup in args.setups:
        for n in args.workers:
            cells, scal = [], []
            for mode in ("single", "many", "large"):
                r = rate(by.get((setup, mode, n)))
                r1 = rate(by.get((setup, mode, 1)))
                if r is None:
                    cells.append("-")
                    scal.append("-")
                    continue
                cells.append(f"{r / 1e6:,.0f}" if mode == "large" else f"{r:,.0f}")
                if r1:
                    s = r / r1
                    scal.append(f"{s:.2f}x ({s / n:.0%})")
                else:
                    scal.append("-")
            lines.append(f"{setup:<13} {n:>7} | {cells[0]:>12} {cells[1]:>14} {cells[2]:>10} | "
                         f"{scal[0]:>16} {scal[1]:>16} {scal[2]:>16}")
    lines.append("scaling = throughput(n) / throughput(1); (efficiency) = scaling / n")
    lines.append("")
    lines.append(f"== CPU during the timed part (median over reps), as a share of {cores} cores x wall: the workers, "
                 "the moto server, the PostgreSQL backends serving the workers (sampled, an underestimate), and "
                 "the whole machine (every tenant) ==")
    lines.append(f"{'figure':<28} {'wall':>9} {'workers':>8} {'moto':>6} {'PG':>6} {'machine':>8} "
                 f"{'finish spread':>13}  codecs")
    for p in points:
        if not p.extra:
            continue
        wall = statistics.median(e["wall"] for e in p.extra)
        w = statistics.median(e["cpu"] / e["wall"] / cores for e in p.extra)
        m = statistics.median(e["moto_cpu"] / e["wall"] / cores for e in p.extra)
        pg = statistics.median(e["pg_cpu"] / e["wall"] / cores for e in p.extra)
        busy = statistics.median(e["machine_busy"] for e in p.extra)
        spread = statistics.median(e["spread"] for e in p.extra)
        remote = p.setup == "postgres+s3"
        lines.append(f"{p.figure:<28} {fmt_time(wall):>9} {w:>8.0%} {(f'{m:.0%}' if remote else '-'):>6} "
                     f"{(f'{pg:.0%}' if remote else '-'):>6} {busy:>8.0%} {fmt_time(spread):>13}  "
                     f"{','.join(p.extra[0]['codecs'])}")
    pg_points = [p for p in points if p.setup == "postgres+s3" and p.extra]
    if pg_points:
        lines.append("")
        lines.append("== the workers' PostgreSQL connections by state (pg_stat_activity every 50 ms while the figure "
                     "ran, incl. its untimed open/warm-up): mean number of connections per sample, mean over reps ==")
        keys = list(_STATE_ORDER)
        lines.append(f"{'figure':<28} " + " ".join(f"{k:>20}" for k in keys))
        for p in pg_points:
            means = [statistics.mean(e["pg_states"].get(k, 0.0) for e in p.extra) for k in keys]
            lines.append(f"{p.figure:<28} " + " ".join(f"{m:>20.2f}" for m in means))
        lines.append("running: executing a statement; row lock wait: waiting for a row locked by another open "
                     "transaction (another thread or worker); idle in txn: a transaction is open while its client "
                     "works between two statements (Python time, which grows when CPUs are short, or the manifest "
                     "PUT inside insert_artifacts); IO/LWLock wait: e.g. the WAL flush at commit; "
                     "advisory lock: the schema check at open (untimed); idle: pooled")
    lines.append(f"peak PostgreSQL connections held by the workers: {cluster.peak_connections} "
                 f"(pool_size={cluster.catalog_options['pool_size']}, "
                 f"max_overflow={cluster.catalog_options['max_overflow']} per worker process)")
    return "\n".join(lines)


# --- profile: where the time of one put goes on PostgreSQL + S3 ----------------------------


def profile(args: argparse.Namespace) -> None:
    import sqlalchemy as sa

    import artifactstore
    from artifactstore.testing import servers

    scratch = Path(tempfile.mkdtemp(prefix="artifactstore-bench-cluster-"))
    srv = servers.start_moto(log_dir=scratch)
    schema = f"acbprof_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(PG_BASE.replace("postgresql://", "postgresql+psycopg://"), poolclass=sa.pool.NullPool)
    bucket = servers.create_bucket(srv, "acbprof")
    acc: dict[str, float] = collections.defaultdict(float)
    calls: collections.Counter[str] = collections.Counter()

    def wrap(obj: Any, name: str, label: str | Callable[..., str]) -> None:
        f = getattr(obj, name)

        @functools.wraps(f)
        def timed(*a: Any, **k: Any) -> Any:
            what = label(*a, **k) if callable(label) else label
            t = time.perf_counter()
            try:
                return f(*a, **k)
            finally:
                acc[what] += time.perf_counter() - t
                calls[what] += 1

        setattr(obj, name, timed)

    def by_key(verb: str) -> Callable[..., str]:
        def label(*a: Any, **k: Any) -> str:
            key = str(a[-1] if verb == "upload" else a[0])
            kind = key.split("/", 1)[0].rstrip("s")  # blob, manifest, record
            return f"S3 {verb} {kind}"
        return label

    try:
        store = artifactstore.open(f"s3://{bucket}/store", catalog=f"{PG_BASE}?schema={schema}",
                                   **dict(srv.storage_options))
        b = store.backend
        wrap(b, "exists", by_key("exists"))
        wrap(b, "info", by_key("info"))
        wrap(b, "upload_file", by_key("upload"))
        wrap(b, "write_bytes", by_key("PUT"))
        wrap(store.catalog, "blob_of", "PG blob_of (dedup lookup)")
        wrap(store.catalog, "take_lease", "PG take_lease (lease txn)")
        wrap(store.catalog, "release_leases_now", "PG release_leases_now")
        wrap(store.catalog, "insert_artifacts", "PG insert txn (manifest PUT inside)")
        stmts: collections.Counter[str] = collections.Counter()
        sa.event.listen(store.catalog.engine, "before_cursor_execute",
                        lambda *a, **k: stmts.__setitem__("statements", stmts["statements"] + 1))
        sa.event.listen(store.catalog.engine, "commit", lambda *a: stmts.__setitem__("commits", stmts["commits"] + 1))
        sa.event.listen(store.catalog.engine.pool, "checkout",
                        lambda *a: stmts.__setitem__("pool checkouts", stmts["pool checkouts"] + 1))
        base = memoryview(os.urandom(args.small_size))
        store.put(b"warm-up", artifact_type="log", name="warmup")
        count = args.profile_count
        log_size0 = srv.log_path.stat().st_size
        acc.clear()
        calls.clear()
        stmts.clear()

        def run_single() -> None:
            for i in range(count):
                store.put(_header(0, 0, i, 1) + bytes(base[32:]), artifact_type="episode_data", name=f"p/{i}")

        pr = cProfile.Profile()
        t0 = time.perf_counter()
        pr.enable()
        run_single()
        pr.disable()
        wall = time.perf_counter() - t0
        time.sleep(0.5)  # let moto flush its request log
        with open(srv.log_path, "rb") as fh:
            fh.seek(log_size0)
            reqs = collections.Counter(
                re.sub(r"\x1b\[[0-9;]*m", "", line.split(b'"')[1].decode()).split(" ")[0]
                + (" (list)" if b"list-type" in line else "")
                for line in fh if line.count(b'"') >= 2
            )
        print(f"== one worker, {count} x put of {args.small_size // KiB} KiB, postgres+s3 (moto), "
              f"{machine_info()['date']}, load {os.getloadavg()[0]:.1f} ==")
        print(f"wall {wall:.3f} s = {wall / count * 1e3:.1f} ms per put ({count / wall:.0f} puts/s)")
        print("S3 requests per put: " + ", ".join(f"{k} {v / count:.1f}" for k, v in sorted(reqs.items())))
        inner = acc.get("S3 PUT manifest", 0.0)
        for k, v in sorted(acc.items(), key=lambda kv: -kv[1]):
            note = ""
            if k.startswith("PG insert"):
                note = f"   (without the manifest PUT: {(v - inner) / count * 1e3:.2f} ms)"
            print(f"  {k:<40} {v / count * 1e3:7.2f} ms/put  ({calls[k] / count:.1f} calls/put){note}")
        rest = wall - sum(v for k, v in acc.items() if k != "S3 PUT manifest")
        print(f"  {'everything else (validation, hash, ...)':<40} {rest / count * 1e3:7.2f} ms/put")
        print("PostgreSQL per put: " + ", ".join(f"{k} {v / count:.1f}" for k, v in sorted(stmts.items()))
              + " (pool_pre_ping adds one more round trip per checkout)")
        print()
        stats = pstats.Stats(pr)
        stats.sort_stats("cumulative").print_stats(args.profile_top)

        # put_many and one large put, phase times only.
        for label, fn, n_items in (
            ("put_many(100)", lambda: store.put_many([
                {"source": _header(1, 0, i, 2) + bytes(base[32:]), "artifact_type": "episode_data",
                 "name": f"m/{i}"} for i in range(100)]), 100),
            (f"put {args.large_size // MiB} MiB", lambda: store.put(
                HeaderStream(_header(2, 0, 0, 3), memoryview(os.urandom(args.large_size))),
                artifact_type="video", name="large.bin"), 1),
        ):
            acc.clear()
            calls.clear()
            t0 = time.perf_counter()
            fn()
            wall = time.perf_counter() - t0
            parts = ", ".join(f"{k} {v * 1e3:.0f} ms" for k, v in sorted(acc.items(), key=lambda kv: -kv[1]))
            print(f"{label}: wall {wall * 1e3:.0f} ms ({wall / n_items * 1e3:.1f} ms/artifact); summed over threads: "
                  f"{parts}")
        store.close()
    finally:
        with admin.begin() as c:
            c.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()
        try:
            servers.delete_bucket(srv, bucket)
        finally:
            srv.stop()
            shutil.rmtree(scratch, ignore_errors=True)


# --- main ----------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smoke version: 50 small and 8 x 8 MiB, no warm-up rep")
    ap.add_argument("--profile", action="store_true", help="profile one worker on postgres+s3 instead")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=None, help="warm-up reps (default 1; 0 with --quick)")
    ap.add_argument("--count", type=int, default=None, help="10 KiB artifacts per worker (default 200; 50 quick)")
    ap.add_argument("--batch", type=int, default=100, help="put_many batch size")
    ap.add_argument("--small-size", default="10K")
    ap.add_argument("--large-size", default=None, help="default 64M (8M with --quick)")
    ap.add_argument("--large-count", type=int, default=8, help="large artifacts per point, in total")
    ap.add_argument("--workers", default="1,2,4,8")
    ap.add_argument("--setups", default=",".join(SETUPS))
    ap.add_argument("--modes", default=",".join(MODES))
    ap.add_argument("--pool-size", type=int, default=4, help="catalog_options pool_size per worker (PostgreSQL)")
    ap.add_argument("--max-overflow", type=int, default=4, help="catalog_options max_overflow per worker")
    ap.add_argument("--profile-count", type=int, default=200)
    ap.add_argument("--profile-top", type=int, default=30)
    ap.add_argument("--dir", type=Path, default=None, help="scratch folder (default: a new temp dir, removed)")
    ap.add_argument("--json", type=Path, default=None, help="write every figure and rep as JSON")
    args = ap.parse_args(argv)
    args.small_size = parse_size(args.small_size)
    args.large_size = parse_size(args.large_size or ("8M" if args.quick else "64M"))
    args.count = args.count or (50 if args.quick else 200)
    args.warmup = args.warmup if args.warmup is not None else (0 if args.quick else 1)
    args.workers = [int(x) for x in args.workers.split(",")]
    args.setups = [s for s in args.setups.split(",") if s]
    args.modes = [m for m in args.modes.split(",") if m]
    bad = (set(args.setups) - set(SETUPS)) | (set(args.modes) - set(MODES))
    if bad or args.workers[0] != 1:
        ap.error(f"unknown setup/mode {sorted(bad)}" if bad else "--workers must start with 1 (scaling is vs 1)")
    if args.profile:
        profile(args)
        return 0

    scratch = args.dir or Path(tempfile.mkdtemp(prefix="artifactstore-bench-cluster-"))
    scratch.mkdir(parents=True, exist_ok=True)
    cluster = pool = None
    try:
        cluster = Cluster(scratch, args.pool_size, args.max_overflow)
        pool = WorkerPool(max(args.workers), args.workers)
        bench, points = build(args, cluster, pool)
        cmdline = "python benchmarks/bench_cluster.py " + " ".join(sys.argv[1:] if argv is None else argv)
        print(f"command: {cmdline.strip()}", flush=True)
        result: Result = bench.run()
        print(summary_table(bench, points, args, cluster))
        print()
        print(result.table())
        if args.json:
            doc = result.to_dict()
            doc["points"] = [{"setup": p.setup, "mode": p.mode, "workers": p.n, "figure": p.figure,
                              "per_rep": p.extra} for p in points]
            doc["peak_pg_connections"] = cluster.peak_connections
            doc["command"] = cmdline
            args.json.write_text(json.dumps(doc, indent=2) + "\n")
    finally:
        if pool is not None:
            pool.close()
        if cluster is not None:
            cluster.close()
        if args.dir is None:
            shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
