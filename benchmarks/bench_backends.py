"""The cloud backends against their test servers, each figure next to the raw fsspec call (issue 4).

    python benchmarks/bench_backends.py [--backends s3,gcs,azure] [--reps 5] [--large-mib 256]
                                        [--small-count 1000] [--small-kib 10] [--part-size MiB]
                                        [--quick] [--json out.json]
    python benchmarks/bench_backends.py --profile [--backends s3] [--profile-modes ...] [--profile-reps 3]
                                        [--tool py-spy|cprofile]

Per backend (moto for s3://, fake-gcs-server for gs://, Azurite for az://, each
started on a free loopback port by ``artifactstore.testing.servers`` and stopped
by its PID afterwards), interleaved rep by rep with the harness:

large (``--large-mib``, incompressible, ``codec="none"``, the first 8 bytes of
the source rewritten before each store.put so every rep stores new content):

- ``store.put``           ``store.put(path)``: since 22cb864 it hashes the source file, then ``put_file``s
                          it directly (before: spooled a local copy while hashing, then uploaded that)
- ``raw put_file``        ``fs.put_file(path, remote)`` of the same file, same part size settings (baseline)
- ``raw sha256+put_file`` hash the source file, then ``fs.put_file`` it: the floor of hash-then-upload
                          (the store's path since 22cb864)
- ``store.get``           ``store.get(id, dest)`` from a store opened with ``cache=False``
- ``raw get_file``        ``fs.get_file(remote, dest)`` (baseline)
- ``raw get_file+sha256`` download, then hash the file: the floor of a verified download-then-check get
- ``raw ranged cat+sha256`` what-if: ``--range-mib`` ranged ``cat_file`` calls, ``--range-window`` in
                          flight, each written at its offset and hashed in order as it arrives (the
                          hash overlaps the download)

- ``local: pump sha256``  the store's hash-only pass over the local file: ``streams.pump`` with a no-op
                          write and a 2-thread pool, as the store runs it before a large raw upload
                          and after a large download
- ``local: readinto sha256`` the same file hashed inline from one reused 8 MiB buffer (the hash step of
                          the ``raw sha256+...`` floors)

small (``--small-count`` artifacts of ``--small-kib`` KiB, from bytes in memory, fresh content per rep;
each pair deletes what it wrote afterwards):

- ``store.put xN``        N ``store.put(bytes, ...)`` one by one
- ``store.put_many``      one ``store.put_many`` of N items (its default workers: 8 on a remote store)
- ``raw pipe_file xN``    N ``fs.pipe_file(remote, bytes)`` one by one (baseline)
- ``raw pipe(dict)``      one ``fs.pipe({path: bytes, ...})``: fsspec's own concurrent batch upload, to
                          show what concurrency buys against this server on this machine
- ``store.get xN``        N ``store.get(id, dest_folder/file)`` one by one
- ``raw cat_file xN``     N ``fs.cat_file(remote)`` one by one (baseline; returns bytes, writes no file)

Targets (issue 4): large put and get within 1.2x of the raw call's time (>= 1/1.2 of
its MB/s); put_many faster than the raw one-by-one pipe_file loop. Nothing asserts:
targets print as met / NOT met.

Besides the harness table, each backend prints throughput ratios, the client and
server CPU seconds of each figure (2 cores: the server competes with the client),
and where store.put's wall-clock time goes (timed wrappers on the store's own
backend and commit: before the upload (hash pass), upload_file, catalog + manifest).

``--profile`` samples store.put of the large object, the raw put_file, the
raw sha256+put_file, store.get, the raw get_file and a store.put_many of the
small artifacts (``--profile-modes`` picks some), each in its own process
(py-spy attaches after a warm-up), with py-spy (all threads, wall-clock;
default) or cProfile (main thread only), and prints where the time goes per
thread. py-spy's sampling slows a many-threaded process down: read the shares,
not the absolute times.
"""

from __future__ import annotations

# Must come before anything imports gcsfs: it sets GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT=false.
from artifactstore.testing import servers  # isort: skip

import argparse
import cProfile
import hashlib
import json
import os
import pstats
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import fsspec
from harness import Bench, Result, fmt_time

import artifactstore
from artifactstore.atomic import discard as unlink
from artifactstore.backends import options
from artifactstore.streams import pump

DEFAULT_DIR = Path(os.environ.get("ARTIFACTSTORE_BENCH_DIR", "/tmp/artifactstore-bench")) / "backends"
MiB = 1 << 20
KiB = 1 << 10
_RUN = time.time_ns() & ((1 << 40) - 1)  # distinct content across runs too

#: --backends name -> (fsspec protocol, server starter)
BACKENDS: dict[str, tuple[str, Callable[..., servers.ServerHandle]]] = {
    "s3": ("s3", servers.start_moto),
    "gcs": ("gs", servers.start_fake_gcs),
    "azure": ("az", servers.start_azurite),
}


# --- small helpers ---------------------------------------------------------------------------


def ensure_random_file(path: Path, size: int) -> Path:
    """``size`` bytes of os.urandom at ``path``, written once and reused."""
    if not path.exists() or path.stat().st_size != size:
        path.parent.mkdir(parents=True, exist_ok=True)
        print(f"writing {size / MiB:.0f} MiB of os.urandom to {path} (once)", file=sys.stderr)
        with open(path, "wb") as f:
            left = size
            while left:
                n = min(left, 8 * MiB)
                f.write(os.urandom(n))
                left -= n
    return path


def stamp(path: Path, value: int) -> None:
    """Overwrite the first 8 bytes in place so the next put stores new content."""
    fd = os.open(path, os.O_WRONLY)
    try:
        os.pwrite(fd, value.to_bytes(8, "little"), 0)
    finally:
        os.close(fd)


def sha256_file(path: Path | str, chunk: int = 8 * MiB) -> str:
    h = hashlib.sha256()
    buf = bytearray(chunk)
    view = memoryview(buf)
    with open(path, "rb", buffering=0) as f:
        while n := f.readinto(buf):
            h.update(view[:n])
    return h.hexdigest()


def fresh_dir(path: Path) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def ranged_get_and_hash(fs: Any, path: str, dest: Path, size: int, part: int, window: int) -> str:
    """What-if for a verified large get: ranged GETs, ``window`` in flight, written at their offsets
    and hashed in order as they arrive, so hashing overlaps the download instead of following it."""
    h = hashlib.sha256()
    ranges = [(off, min(off + part, size)) for off in range(0, size, part)]
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        with ThreadPoolExecutor(max_workers=window) as pool:
            pending: list[tuple[int, Future[bytes]]] = []
            it = iter(ranges)
            for start, end in it:
                pending.append((start, pool.submit(fs.cat_file, path, start=start, end=end)))
                if len(pending) >= window:
                    break
            while pending:
                off, fut = pending.pop(0)
                data = fut.result()
                nxt = next(it, None)
                if nxt is not None:
                    pending.append((nxt[0], pool.submit(fs.cat_file, path, start=nxt[0], end=nxt[1])))
                os.pwrite(fd, data, off)
                h.update(data)
    finally:
        os.close(fd)
    return h.hexdigest()


def proc_cpu(pid: int) -> float:
    """utime + stime of a process (and its waited-for children), seconds; nan if unreadable."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rpartition(")")[2].split()
        ticks = sum(int(x) for x in fields[11:15])  # utime stime cutime cstime
        return ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return float("nan")


class CpuMeter:
    """Wraps a figure's fn to record the client's and the server's CPU seconds it used."""

    def __init__(self, server_pid: Callable[[], int]) -> None:
        self.server_pid = server_pid
        self.client: dict[str, list[float]] = {}
        self.server: dict[str, list[float]] = {}

    def wrap(self, name: str, fn: Callable[[int], Any]) -> Callable[[int], Any]:
        def timed(rep: int) -> Any:
            pid = self.server_pid()
            c0, s0 = time.process_time(), proc_cpu(pid)
            try:
                return fn(rep)
            finally:
                if rep >= 0:
                    self.client.setdefault(name, []).append(time.process_time() - c0)
                    self.server.setdefault(name, []).append(proc_cpu(pid) - s0)
        return timed


class Phases:
    """Timed wrappers on one store's backend and commit (instance attributes, no library edit).

    ``upload``: backend.upload_file (fs.put_file of the source or spool file); ``blob_put`` / ``manifest_put``:
    backend.write_bytes of a blob (small objects go up in one PUT from memory) or a manifest
    segment; ``commit``: store.commit_rows (catalog transaction, manifest write included).
    Accumulates only while ``active`` (one-by-one figures; sums over threads mean nothing).
    """

    KEYS = ("upload", "blob_put", "manifest_put", "commit")

    def __init__(self) -> None:
        self.active = False
        self.acc: dict[str, float] = dict.fromkeys(self.KEYS, 0.0)
        self.per_rep: dict[str, dict[str, list[float]]] = {}

    def attach(self, store: Any) -> Any:
        """Install the timed wrappers on ``store`` (its backend and its commit_rows); return it."""
        b = store.backend
        orig_upload, orig_write, orig_commit = b.upload_file, b.write_bytes, store.commit_rows

        def upload_file(path: Any, key: str) -> None:
            t0 = time.perf_counter()
            try:
                orig_upload(path, key)
            finally:
                self._add("upload", time.perf_counter() - t0)

        def write_bytes(key: str, data: bytes) -> None:
            t0 = time.perf_counter()
            try:
                orig_write(key, data)
            finally:
                self._add("manifest_put" if key.startswith("manifests/") else "blob_put", time.perf_counter() - t0)

        def commit(rows: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return orig_commit(rows)
            finally:
                self._add("commit", time.perf_counter() - t0)

        b.upload_file, b.write_bytes, store.commit_rows = upload_file, write_bytes, commit
        return store

    def _add(self, k: str, dt: float) -> None:
        if self.active:
            self.acc[k] += dt

    def start(self) -> None:
        self.acc = dict.fromkeys(self.KEYS, 0.0)
        self.active = True

    def wrap(self, figure: str, fn: Callable[[int], Any]) -> Callable[[int], Any]:
        """``fn`` with its wrapped calls and its own total recorded per rep (inside the timed call)."""
        def timed(rep: int) -> Any:
            self.start()
            t0 = time.perf_counter()
            try:
                return fn(rep)
            finally:
                self.stop(figure, rep, time.perf_counter() - t0)
        return timed

    def stop(self, figure: str, rep: int, total: float | None = None) -> None:
        self.active = False
        if rep < 0:
            return
        d = self.per_rep.setdefault(figure, {})
        for k, v in self.acc.items():
            d.setdefault(k, []).append(v)
        if total is not None:
            d.setdefault("total", []).append(total)


def _client_version(fs: Any) -> str:
    from importlib.metadata import PackageNotFoundError, version

    pkg = type(fs).__module__.split(".")[0]
    try:
        return f"{pkg} {version(pkg)}"
    except PackageNotFoundError:
        return pkg


def _med(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def _rate(work: float, seconds: float, unit: str) -> str:
    if not seconds or seconds != seconds:
        return "-"
    return f"{work / seconds / 1e6:,.0f} MB/s" if unit == "B" else f"{work / seconds:,.0f} {unit}/s"


# --- one backend -----------------------------------------------------------------------------


def open_pair(proto: str, srv: servers.ServerHandle, bucket: str, args: argparse.Namespace,
              catalog: Path) -> tuple[Any, Any, dict[str, Any]]:
    """The store (cache off) and a raw filesystem configured exactly as the store's backend is."""
    opts: dict[str, Any] = dict(srv.storage_options)
    if args.part_size:
        opts["part_size"] = args.part_size
    store = artifactstore.open(f"{proto}://{bucket}/store", catalog=str(catalog), cache=False, **opts)
    # Same option resolution, same client settings (part size, Azure SDK block size), same put kwargs.
    _, ropts = options.resolve(f"{proto}://{bucket}/raw", opts)
    ropts.setdefault("skip_instance_cache", True)
    ropts.setdefault("use_listings_cache", False)
    fs = fsspec.filesystem(proto, **ropts)
    options.configure_filesystem(proto, fs, ropts)
    return store, fs, options.upload_kwargs(proto, ropts)


def delete_store_objects(store: Any, arts: list[Any]) -> None:
    """Remove these artifacts' blobs and every manifest segment from the bucket (untimed cleanup)."""
    b = store.backend
    keys = [a.blob_key for a in arts] + [o.key for o in b.list("manifests/")]
    if keys:
        b.fs.rm([f"{b.root}/{k}" for k in keys])


class World:
    """One rep's server, bucket, store and raw filesystem: every rep starts from a fresh server.

    The emulators keep state that makes later requests slower: fake-gcs-server's cost per
    upload grows with the number of objects in the bucket (0.65 ms -> 1.7 ms per 10 KiB PUT
    from 0 to 2,000 objects here), and Azurite frees deleted blobs' memory only in a GC pass
    every 10 minutes (a first full run reached 4.5 GB RSS and 10x slower requests by rep 4).
    So each rep restarts the server (untimed), and each small figure deletes what it wrote.
    """

    def __init__(self, name: str, args: argparse.Namespace, base: Path, phases: Phases, large: Path) -> None:
        self.name, self.args, self.base, self.phases, self.large = name, args, base, phases, large
        self.proto, self._start = BACKENDS[name]
        self.srv: servers.ServerHandle | None = None
        self.store: Any = None
        self.fs: Any = None
        self.put_kw: dict[str, Any] = {}
        self.bucket = ""
        self.starts: list[float] = []
        self.warm_large: list[float] = []

    @property
    def raw_root(self) -> str:
        return f"{self.bucket}/raw"

    def server_pid(self) -> int:
        return self.srv.pid if self.srv is not None else -1

    def restart(self, rep: int) -> None:
        self.close()
        t0 = time.perf_counter()
        self.srv = self._start(log_dir=self.args.dir / "server-logs")
        self.starts.append(time.perf_counter() - t0)
        self.bucket = servers.create_bucket(self.srv, "bench")
        catalog = self.base / f"catalog-{rep + 100}.db"
        store, self.fs, self.put_kw = open_pair(self.proto, self.srv, self.bucket, self.args, catalog)
        self.store = self.phases.attach(store)
        # Warm both clients and the fresh server (connections, the server's lazy set-up) untimed.
        for fs, path in ((self.fs, f"{self.raw_root}/warm"), (store.backend.fs, f"{store.backend.root}/warm")):
            for _ in range(3):
                fs.pipe_file(path, os.urandom(64 << 10))
                fs.cat_file(path)
            fs.rm_file(path)
        # The first large upload into a fresh server is 20-50% slower than the next ones (measured
        # here: fake-gcs-server 5.3 s then 4.0/3.5/3.5 s, moto 6.4 s then 4.5/5.2/4.5 s for 256 MiB):
        # pay it here, untimed, or store.put (the first figure of each rep) would always pay it.
        t0 = time.perf_counter()
        warm, local = f"{self.raw_root}/warm-large", self.base / "warm-large.bin"
        self.fs.put_file(str(self.large), warm, **self.put_kw)
        self.fs.get_file(warm, str(local))
        self.fs.rm_file(warm)
        unlink(local)
        self.warm_large.append(time.perf_counter() - t0)

    def close(self) -> None:
        if self.store is not None:
            self.store.close()
            self.store = None
        if self.srv is not None:
            self.srv.stop()
            self.srv = None
        for p in self.base.glob("catalog-*.db*"):
            p.unlink()

    def delete_store_objects(self, arts: list[Any]) -> None:
        delete_store_objects(self.store, arts)

    def delete_raw(self, prefix: str) -> None:
        self.fs.rm(self.fs.find(f"{self.raw_root}/{prefix}"))


def bench_backend(name: str, args: argparse.Namespace) -> tuple[Result, dict[str, Any]] | None:
    base = fresh_dir(args.dir / name)
    phases = Phases()
    src = ensure_random_file(args.dir / f"src-{args.large_mib}MiB.bin", args.large_mib * MiB)
    world = World(name, args, base, phases, src)
    try:
        world.restart(-1 - args.warmup)  # fails early (and skips) when the server is not installed
    except servers.ServerUnavailable as exc:
        print(f"SKIPPED {name}: {exc}", flush=True)
        return None
    try:
        return _bench_backend(name, world, phases, base, args)
    finally:
        world.close()
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)


def _bench_backend(name: str, world: World, phases: Phases, base: Path,
                   args: argparse.Namespace) -> tuple[Result, dict[str, Any]]:
    cpu = CpuMeter(world.server_pid)
    size = args.large_mib * MiB
    src = ensure_random_file(args.dir / f"src-{args.large_mib}MiB.bin", size)
    out = fresh_dir(base / "out")
    get_dest, raw_dest, floor_dest = out / "get.bin", out / "raw.bin", out / "floor.bin"
    count, small = args.small_count, args.small_kib * KiB
    payload = bytearray(os.urandom(count * small))
    state: dict[str, Any] = {}

    def sync(rep: int) -> None:
        if args.sync:
            os.sync()

    # large ------------------------------------------------------------------------------------
    def put_setup(rep: int) -> None:
        world.restart(rep)  # a fresh server, bucket, store and raw filesystem for every rep
        stamp(src, (_RUN << 20) + rep + 1000)
        sync(rep)

    def put(rep: int) -> None:
        state["art"] = world.store.put(src, artifact_type="video", name="large.bin", codec="none",
                                       model_id="bench")

    def put_teardown(rep: int) -> None:
        art = state["art"]
        assert art.size == size and art.codec == "none", art
        if rep == -args.warmup:  # untimed, once: the stored id names exactly the source's bytes
            assert art.sha256 == sha256_file(src), "put recorded a wrong sha256"

    def raw_put(rep: int) -> None:
        world.fs.put_file(str(src), f"{world.raw_root}/large.bin", **world.put_kw)

    def floor_put(rep: int) -> None:
        sha256_file(src)
        world.fs.put_file(str(src), f"{world.raw_root}/floor.bin", **world.put_kw)

    def unlink_setup(dest: Path) -> Callable[[int], None]:
        def setup(rep: int) -> None:
            unlink(dest)
            sync(rep)
        return setup

    def get(rep: int) -> None:
        world.store.get(state["art"].id, get_dest)

    def get_teardown(rep: int) -> None:
        assert get_dest.stat().st_size == size
        if rep == -args.warmup:
            assert sha256_file(get_dest) == state["art"].sha256, "get returned other bytes"
        unlink(get_dest)

    def raw_get(rep: int) -> None:
        world.fs.get_file(f"{world.raw_root}/large.bin", str(raw_dest))

    def raw_get_teardown(rep: int) -> None:
        assert raw_dest.stat().st_size == size
        unlink(raw_dest)

    def floor_get(rep: int) -> None:
        world.fs.get_file(f"{world.raw_root}/large.bin", str(floor_dest))
        sha256_file(floor_dest)

    def ranged_get(rep: int) -> None:
        state["ranged_sha"] = ranged_get_and_hash(world.fs, f"{world.raw_root}/large.bin", floor_dest, size,
                                                  args.range_mib * MiB, args.range_window)

    hash_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="bench-hash")

    def pump_hash(rep: int) -> None:
        # The store's own hash-only pass (streams.pump with a no-op write, 2-thread pool), as
        # _upload_raw (before a large raw upload) and _get_raw_remote (after a download) call it.
        with open(src, "rb") as f:
            state["pump_sha"] = pump(f.read, lambda _b: None, hash_pool)[0]

    def readinto_hash(rep: int) -> None:
        state["readinto_sha"] = sha256_file(src)

    def hash_teardown(rep: int) -> None:
        assert state.pop("pump_sha") == state.pop("readinto_sha")

    def large_cleanup(rep: int) -> None:
        assert floor_dest.stat().st_size == size
        unlink(floor_dest)
        art = state.pop("art")
        assert state.pop("ranged_sha") == art.sha256, "ranged get hashed other bytes"
        world.delete_store_objects([art])
        world.delete_raw("")

    # small ------------------------------------------------------------------------------------
    def items(salt: int, rep: int) -> list[bytes]:
        tag = ((_RUN << 20) + (rep + 1000) * 4 + salt).to_bytes(8, "little")
        view = memoryview(payload)
        return [tag + bytes(view[i * small + 8:(i + 1) * small]) for i in range(count)]

    def kw(i: int) -> dict[str, Any]:
        return {"artifact_type": "episode_data", "name": f"episode-{i:05d}.bin", "model_id": f"model-{i % 8:02d}",
                "evaluation_id": f"eval-{i // 100}", "tags": ["bench", "small"],
                "metadata": {"episode": i, "success": i % 3 == 0}, "codec": args.small_codec}

    def small_setup(salt: int) -> Callable[[int], None]:
        def setup(rep: int) -> None:
            state["data"] = items(salt, rep)
        return setup

    def put_one(rep: int) -> None:
        state["arts"] = [world.store.put(d, **kw(i)) for i, d in enumerate(state["data"])]

    def put_one_teardown(rep: int) -> None:
        assert len({a.id for a in state["arts"]}) == count

    def get_setup(rep: int) -> None:
        fresh_dir(out / "small")

    def get_one(rep: int) -> None:
        d = out / "small"
        for i, a in enumerate(state["arts"]):
            world.store.get(a.id, d / f"{i:05d}.bin")

    def get_one_teardown(rep: int) -> None:
        assert len(os.listdir(out / "small")) == count
        shutil.rmtree(out / "small")
        world.delete_store_objects(state.pop("arts"))

    def raw_pipe(rep: int) -> None:
        for i, d in enumerate(state["data"]):
            world.fs.pipe_file(f"{world.raw_root}/small/{i:05d}.bin", d)

    def raw_cat(rep: int) -> None:
        got = 0
        for i in range(count):
            got += len(world.fs.cat_file(f"{world.raw_root}/small/{i:05d}.bin"))
        state["cat_bytes"] = got

    def raw_cat_teardown(rep: int) -> None:
        assert state.pop("cat_bytes") == count * small
        world.delete_raw("small")

    def put_many(rep: int) -> None:
        state["many"] = world.store.put_many([{"source": d, **kw(i)} for i, d in enumerate(state["data"])])

    def put_many_teardown(rep: int) -> None:
        arts = state.pop("many")
        assert len(arts) == count and len({a.sha256 for a in arts}) == count, "put_many deduplicated: stale content"
        world.delete_store_objects(arts)

    def raw_pipe_dict(rep: int) -> None:
        world.fs.pipe({f"{world.raw_root}/small-dict/{i:05d}.bin": d for i, d in enumerate(state["data"])})

    def raw_pipe_dict_teardown(rep: int) -> None:
        world.delete_raw("small-dict")

    assert world.srv is not None and world.store is not None
    params = {
        "server": f"{world.srv.name} (fresh per rep)",
        "client": _client_version(world.fs),
        "large": f"{args.large_mib} MiB codec=none",
        "small": f"{count} x {args.small_kib} KiB codec={args.small_codec}",
        "part_size": f"{args.part_size // MiB} MiB" if args.part_size else "client default",
        "put kwargs": world.put_kw or "{}",
        "put_many workers": world.store.workers,
    }
    b = Bench(f"{name} ({world.proto}://)", reps=args.reps, warmup=args.warmup, params=params, notes=[
        "store opened with cache=False: store.get reads the server every time",
        "raw figures use a second filesystem object built from the same resolved options "
        "(options.resolve/configure_filesystem/upload_kwargs), so part and block sizes match the store's",
        "every rep starts a fresh server, bucket, store and catalog, then warms it with one large put_file + "
        "get_file (all untimed, in store.put's setup); each small pair deletes what it wrote afterwards "
        "(untimed): the emulators slow down as they fill, and a fresh one is slow on its first large upload",
        "store.get xN writes N local files (temp + rename) and verifies; raw cat_file xN only returns bytes",
    ] + (["os.sync() (untimed) before each large figure"] if args.sync else []))
    b.add("store.put", cpu.wrap("store.put", phases.wrap("store.put", put)), setup=put_setup,
          teardown=put_teardown, work=size)
    b.add("raw put_file", cpu.wrap("raw put_file", raw_put), setup=sync, work=size, baseline=True)
    b.add("raw sha256+put_file", cpu.wrap("raw sha256+put_file", floor_put), setup=sync, work=size)
    b.add("store.get", cpu.wrap("store.get", get), setup=unlink_setup(get_dest), teardown=get_teardown, work=size)
    b.add("raw get_file", cpu.wrap("raw get_file", raw_get), setup=unlink_setup(raw_dest),
          teardown=raw_get_teardown, work=size, baseline=True)
    b.add("raw get_file+sha256", cpu.wrap("raw get_file+sha256", floor_get), setup=unlink_setup(floor_dest),
          work=size)
    b.add("raw ranged cat+sha256", cpu.wrap("raw ranged cat+sha256", ranged_get), setup=unlink_setup(floor_dest),
          teardown=large_cleanup, work=size)
    b.add("local: pump sha256", cpu.wrap("local: pump sha256", pump_hash), setup=sync, work=size)
    b.add("local: readinto sha256", cpu.wrap("local: readinto sha256", readinto_hash), setup=sync,
          teardown=hash_teardown, work=size)
    if count:
        b.add("store.put xN", cpu.wrap("store.put xN", phases.wrap("store.put xN", put_one)), setup=small_setup(1),
              teardown=put_one_teardown, work=count, unit="artifacts")
        b.add("store.get xN", cpu.wrap("store.get xN", get_one), setup=get_setup, teardown=get_one_teardown,
              work=count, unit="artifacts")
        b.add("raw pipe_file xN", cpu.wrap("raw pipe_file xN", raw_pipe), setup=small_setup(3), work=count,
              unit="artifacts", baseline=True)
        b.add("raw cat_file xN", cpu.wrap("raw cat_file xN", raw_cat), teardown=raw_cat_teardown, work=count,
              unit="artifacts", baseline=True)
        b.add("store.put_many", cpu.wrap("store.put_many", put_many), setup=small_setup(2),
              teardown=put_many_teardown, work=count, unit="artifacts")
        b.add("raw pipe(dict)", cpu.wrap("raw pipe(dict)", raw_pipe_dict), setup=small_setup(4),
              teardown=raw_pipe_dict_teardown, work=count, unit="artifacts")
    b.compare("store.put", "raw put_file", target=1.2)
    b.compare("raw sha256+put_file", "raw put_file")
    b.compare("store.put", "raw sha256+put_file")
    b.compare("store.get", "raw get_file", target=1.2)
    b.compare("raw get_file+sha256", "raw get_file")
    b.compare("raw ranged cat+sha256", "raw get_file")
    b.compare("local: pump sha256", "local: readinto sha256")
    if count:
        b.compare("store.put xN", "raw pipe_file xN")
        b.compare("store.put_many", "raw pipe_file xN", target=1.0)
        b.compare("raw pipe(dict)", "raw pipe_file xN")
        b.compare("store.put_many", "raw pipe(dict)")
        b.compare("store.get xN", "raw cat_file xN")
    try:
        res = b.run()
    finally:
        hash_pool.shutdown()
    starts = world.starts
    res.bench.extra_rows.append(("server start (untimed, per rep)",
                                 f"median {fmt_time(_med(starts))}, max {fmt_time(max(starts))}"))
    res.bench.extra_rows.append(("warm-up put_file + get_file of the large file after each start (untimed)",
                                 " ".join(fmt_time(t) for t in world.warm_large)))
    extra = {"cpu_client_s": cpu.client, "cpu_server_s": cpu.server, "phases_s": phases.per_rep}
    return res, extra


# --- reporting -------------------------------------------------------------------------------

#: (candidate, raw baseline, target on the time ratio or None, what the target says)
SUMMARY = [
    ("store.put", "raw put_file", 1.2, "within 1.2x of raw"),
    ("raw sha256+put_file", "raw put_file", None, ""),
    ("store.get", "raw get_file", 1.2, "within 1.2x of raw"),
    ("raw get_file+sha256", "raw get_file", None, ""),
    ("raw ranged cat+sha256", "raw get_file", None, ""),
    ("store.put xN", "raw pipe_file xN", None, ""),
    ("store.put_many", "raw pipe_file xN", 1.0, "faster than raw one-by-one"),
    ("raw pipe(dict)", "raw pipe_file xN", None, ""),
    ("store.get xN", "raw cat_file xN", None, ""),
]


def report(name: str, res: Result, extra: dict[str, Any]) -> str:
    figs = res.bench.figures
    out = [f"-- {name}: throughput at the median, and as a fraction of the raw call's (higher is better) --"]
    w = max(len(c) for c, *_ in SUMMARY) + 2
    out.append(f"{'figure':<{w}}{'rate':>16}  {'raw call':<20}{'raw rate':>16}  {'store/raw':>9}  "
               f"{'per rep':<34}  target")
    for cand, raw, target, what in SUMMARY:
        if cand not in figs or raw not in figs:
            continue
        c, r = figs[cand], figs[raw]
        ratio = r.median / c.median  # throughput ratio = inverse time ratio
        per = " ".join(f"{rt / ct:.2f}" for ct, rt in zip(c.times, r.times, strict=True))
        met = ""
        if target is not None:
            met = f"{what} (>= {1 / target:.2f}): {'met' if c.median <= target * r.median else 'NOT met'}"
        out.append(f"{cand:<{w}}{_rate(c.work or 0, c.median, c.unit):>16}  {raw:<20}"
                   f"{_rate(r.work or 0, r.median, r.unit):>16}  {ratio:>9.2f}  {per:<34}  {met}")
    out.append("")
    out.append(f"-- {name}: CPU seconds per figure, median of reps (client = this process, all threads; "
               f"server = the emulator process); wall for reference --")
    out.append(f"{'figure':<{w}}{'wall':>10}  {'client CPU':>10}  {'server CPU':>10}  {'sum / wall':>10}")
    for fname, f in figs.items():
        cc, sc = _med(extra["cpu_client_s"].get(fname, [])), _med(extra["cpu_server_s"].get(fname, []))
        out.append(f"{fname:<{w}}{fmt_time(f.median):>10}  {cc:>9.2f}s  {sc:>9.2f}s  {(cc + sc) / f.median:>10.2f}")
    ph = extra["phases_s"]
    if "store.put" in ph:
        p = ph["store.put"]
        total = _med(p["total"])
        up, com = _med(p["upload"]), _med(p["commit"])
        spool = _med([t - u - c for t, u, c in zip(p["total"], p["upload"], p["commit"], strict=True)])
        raw_t = figs["raw put_file"].median
        out.append("")
        out.append(f"-- {name}: where store.put ({res.bench.params['large']}) spends its wall-clock time, "
                   f"median of reps --")
        out.append(f"   before the upload (hash pass over the source, catalog blob_of + lease; "
                   f"before 22cb864: the spool copy): {fmt_time(spool)} ({100 * spool / total:.0f}%)")
        out.append(f"   backend.upload_file (fs.put_file):  {fmt_time(up)} ({100 * up / total:.0f}%)  vs raw put_file "
                   f"{fmt_time(raw_t)} in the same reps ({up / raw_t:.2f}x)")
        out.append(f"   commit (catalog transaction + manifest segment PUT): {fmt_time(com)} "
                   f"({100 * com / total:.0f}%)")
        out.append(f"   total (inside the timed call): {fmt_time(total)}")
    if "store.put xN" in ph:
        p = ph["store.put xN"]
        total = _med(p["total"])
        n = res.bench.figures["store.put xN"].work or 1
        bp, mp, com = _med(p["blob_put"]), _med(p["manifest_put"]), _med(p["commit"])
        cat = _med([c - m for c, m in zip(p["commit"], p["manifest_put"], strict=True)])
        rest = _med([t - b - c for t, b, c in zip(p["total"], p["blob_put"], p["commit"], strict=True)])
        raw_t = figs["raw pipe_file xN"].median
        out.append(f"-- {name}: where store.put xN spends its time, per artifact (median of reps) --")
        out.append(f"   blob PUT (pipe_file from memory):   {fmt_time(bp / n)}  (raw pipe_file: {fmt_time(raw_t / n)})")
        out.append(f"   manifest segment PUT (one per put): {fmt_time(mp / n)}")
        out.append(f"   catalog transaction:                {fmt_time(cat / n)}")
        out.append(f"   rest (validation, codec, hashing):  {fmt_time(rest / n)}")
        out.append(f"   total:                              {fmt_time(total / n)}")
    return "\n".join(out)


# --- profile ---------------------------------------------------------------------------------

PROFILE_MODES = ("store.put", "raw put_file", "raw sha256+put_file", "store.get", "raw get_file", "store.put_many")

#: (category, substrings of a py-spy stack; first match wins)
CATEGORIES: list[tuple[str, tuple[str, ...]]] = [
    ("sha256", ("SHA256", "sha256_block", "EVP_Digest", "_hashlib", "HASH.update")),
    ("md5 / crc checksums (botocore, aiohttp, azure)", ("md5", "MD5", "crc32", "CRC32", "crc64", "checksum")),
    ("wait: another thread (Future.result: hash thread / put_many workers)", ("Future.result",)),
    ("wait: fsspec IO loop (sync)", ("fsspec/asyn.py",)),
    ("idle: event loop select/epoll", ("select (selectors.py", "epoll", "_run_once (asyncio")),
    ("local temp file: write", ("_SpoolWriter.write", "tempfile.py")),
    ("fsspec read cache (copies)", ("fsspec/caching.py",)),
    ("local file: read", ("read (libc", "__read", "readinto", "FileIO.read", "BufferedReader.read")),
    ("socket send", ("sendmsg", "send (", "__send", "sock_sendall", "_sock_write", "writev", "write (libc",
                     "__write", "transport.write", "selector_events.py")),
    ("unlink", ("unlink",)),
    ("sqlite / sqlalchemy", ("sqlite", "sqlalchemy/")),
    ("aiohttp / botocore / azure request building", ("aiohttp/", "botocore/", "aiobotocore/", "azure/", "gcsfs/")),
]


def _category(stack: str, thread: str = "main") -> str:
    for name, keys in CATEGORIES:
        if name.startswith("wait: fsspec") and thread == "fsspec IO loop":
            continue  # every stack of the IO loop thread runs under fsspec/asyn.py
        if any(k in stack for k in keys):
            if name == "socket send" and thread == "main":
                return "local file: write"  # the main thread writes files, the IO loop sockets
            return name
    return "other"


def _thread_of(head: str) -> str:
    for key, label in (("artifactstore-hash", "hash thread"), ("fsspecIO", "fsspec IO loop"),
                       ("MainThread", "main"), ("asyncio", "asyncio to_thread pool"),
                       ("ThreadPoolExecutor", "thread pool")):
        if key in head:
            return label
    return head.split(":", 1)[-1].strip()[:40] or "main"


MARK = "_measured_region"


def _measured_region(fn: Callable[[], Any]) -> Any:
    """Marks the measured calls in py-spy stacks (the main thread's samples outside it are dropped)."""
    return fn()


def _idle(stack: str, thread: str) -> bool:
    py = [f for f in stack.split(";") if ".py:" in f]
    last = py[-1] if py else ""
    if last.startswith("_worker (") and "futures/thread.py" in last:
        return True  # a pool thread waiting for work
    return _category(stack, thread).startswith("idle:")


def summarize_spy(path: Path, rate: int, wall: float) -> str:
    """Where the measured wall-clock time goes, per thread, from py-spy's raw (collapsed, --idle) output.

    Main thread: only samples inside the measured calls (``_measured_region``), as a share of
    their wall-clock time. Other threads: their busy (non-idle) samples, in the same unit.
    """
    cats: Counter[tuple[str, str]] = Counter()
    deep: Counter[tuple[str, str]] = Counter()
    per_thread: Counter[str] = Counter()
    for line in path.read_text().splitlines():
        stack, _, n_txt = line.rpartition(" ")
        if not n_txt.isdigit():
            continue
        frames = stack.split(";")
        thread = _thread_of(frames[0])
        if thread == "main" and MARK not in stack:
            continue
        if thread != "main" and _idle(stack, thread):
            continue
        n = int(n_txt)
        per_thread[thread] += n
        c = _category(stack, thread)
        cats[(thread, c)] += n
        py = [f for f in frames[1:] if ".py:" in f]
        deep[(thread, py[-1] if py else "(native)")] += n
    main = per_thread.get("main", 0) / rate
    out = [f"   measured: {wall:.2f} s wall-clock; main thread sampled inside it: {main:.2f} s "
           f"(percentages are of the sampled main-thread time; other threads: busy time only)"]
    denom = main or wall
    for thread in ["main", *[t for t, _ in per_thread.most_common() if t != "main"]]:
        total = per_thread.get(thread, 0)
        if total / rate < 0.01 * denom:
            continue
        label = "" if thread == "main" else " busy"
        out.append(f"   [{thread}]{label} {total / rate:.2f} s = {100 * total / rate / denom:.0f}%")
        for (t, c), n in cats.most_common():
            if t == thread and n / rate >= 0.01 * denom:
                out.append(f"     {100 * n / rate / denom:5.1f}%  {c}")
        shown = 0
        for (t, fr), n in deep.most_common():
            if t == thread and shown < 5 and n / rate >= 0.02 * denom:
                out.append(f"        deepest Python frame {100 * n / rate / denom:5.1f}%  {fr}")
                shown += 1
    return "\n".join(out)


def profile_inner(args: argparse.Namespace) -> int:
    """One process, one mode: warm up, say READY, wait for a line on stdin, run the reps, print times."""
    name = args.backends.split(",")[0]
    proto, start = BACKENDS[name]
    base = fresh_dir(args.dir / f"profile-{name}-{os.getpid()}")
    srv = start(log_dir=args.dir / "server-logs")
    try:
        bucket = servers.create_bucket(srv, "prof")
        store, fs, put_kw = open_pair(proto, srv, bucket, args, base / "catalog.db")
        phases = Phases()
        phases.attach(store)
        size = args.large_mib * MiB
        src = ensure_random_file(args.dir / f"src-{args.large_mib}MiB.bin", size)
        mode = args.profile_inner
        prof = cProfile.Profile() if args.tool == "cprofile" else None

        dest = base / "get.bin"
        got: dict[str, Any] = {}
        if mode == "store.get":
            got["art"] = store.put(src, artifact_type="video", name="large.bin", codec="none")
        elif mode == "raw get_file":
            fs.put_file(str(src), f"{bucket}/raw/get.bin", **put_kw)

        def work() -> str:
            if mode == "store.put":
                return str(store.put(src, artifact_type="video", name="large.bin", codec="none").blob_key)
            if mode == "store.put_many":
                got["arts"] = store.put_many(got.pop("items"))
                return ""
            if mode == "store.get":
                store.get(got["art"].id, dest)
                return ""
            if mode == "raw get_file":
                fs.get_file(f"{bucket}/raw/get.bin", str(dest))
                return ""
            if mode == "raw sha256+put_file":
                sha256_file(src)
            key = f"{bucket}/raw/large-{time.time_ns()}.bin"
            fs.put_file(str(src), key, **put_kw)
            return key

        cpu: list[tuple[float, float]] = []

        def once(i: int) -> float:
            stamp(src, (_RUN << 20) + i + 5000)
            unlink(dest)
            if mode == "store.put_many":
                got["items"] = [
                    {"source": os.urandom(args.small_kib * KiB), "artifact_type": "episode_data",
                     "name": f"episode-{j:05d}.bin", "model_id": f"model-{j % 8:02d}",
                     "evaluation_id": f"eval-{j // 100}",
                     "tags": ["bench", "small"], "metadata": {"episode": j, "success": j % 3 == 0},
                     "codec": args.small_codec} for j in range(args.small_count)]
            os.sync()
            phases.start()
            c0, s0 = time.process_time(), proc_cpu(srv.pid)
            t0 = time.perf_counter()
            if prof is not None and i >= 0:
                prof.enable()
            key = _measured_region(work)
            if prof is not None:
                prof.disable()
            dt = time.perf_counter() - t0
            cpu.append((time.process_time() - c0, proc_cpu(srv.pid) - s0))
            phases.stop(mode, i, dt)
            if mode == "store.put":
                store.backend.delete(key)
            elif mode == "store.put_many":
                delete_store_objects(store, got.pop("arts"))  # fake-gcs-server slows as it fills
            elif key:
                fs.rm_file(key)
            return dt

        once(-1)  # warm-up, before the profiler attaches
        print("READY", flush=True)
        sys.stdin.readline()
        cpu.clear()
        times = [once(i) for i in range(args.profile_reps)]
        doc: dict[str, Any] = {"times": times, "client_cpu": sum(c for c, _ in cpu),
                               "server_cpu": sum(s for _, s in cpu), "phases": phases.per_rep.get(mode, {})}
        if prof is not None:
            with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as fh:
                st = pstats.Stats(prof, stream=fh)
                st.sort_stats("cumtime").print_stats(18)
                doc["cprofile"] = fh.name
        print("RESULT " + json.dumps(doc), flush=True)
        store.close()
    finally:
        srv.stop()
        shutil.rmtree(base, ignore_errors=True)
    return 0


def run_profile(args: argparse.Namespace) -> int:
    name = args.backends.split(",")[0]
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    print(f"== profile: {args.large_mib} MiB on {name}, {args.profile_reps} reps per mode after 1 warm-up, "
          f"{args.tool}, load {[round(x, 2) for x in os.getloadavg()]} ==", flush=True)
    modes = [m.strip() for m in args.profile_modes.split(",")] if args.profile_modes else list(PROFILE_MODES)
    for mode in modes:
        if mode not in PROFILE_MODES:
            print(f"unknown profile mode {mode!r}; choose from {', '.join(PROFILE_MODES)}", file=sys.stderr)
            return 2
        cmd = [sys.executable, __file__, "--profile-inner", mode, "--backends", name, "--large-mib",
               str(args.large_mib), "--dir", str(args.dir), "--profile-reps", str(args.profile_reps),
               "--tool", args.tool, "--small-count", str(args.small_count), "--small-kib", str(args.small_kib),
               "--small-codec", args.small_codec]
        if args.part_size:
            cmd += ["--part-size", str(args.part_size // MiB)]
        inner = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert inner.stdout is not None and inner.stdin is not None
        spy_proc = None
        with tempfile.TemporaryDirectory() as td:
            raw = Path(td) / "raw.txt"
            try:
                line = inner.stdout.readline()
                if line.strip() != "READY":
                    print(f"inner process failed before READY: {line!r}", file=sys.stderr)
                    return 1
                if args.tool == "py-spy":
                    spy_proc = subprocess.Popen(
                        [spy, "record", "--pid", str(inner.pid), "--threads", "--idle", "--native", "-r",
                         str(args.rate), "-f", "raw", "-o", str(raw)],
                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                    time.sleep(1.5)  # let py-spy attach
                inner.stdin.write("go\n")
                inner.stdin.flush()
                result = None
                for line in inner.stdout:
                    if line.startswith("RESULT "):
                        result = json.loads(line[7:])
                inner.wait()
                if spy_proc is not None:
                    try:
                        _, err = spy_proc.communicate(timeout=60)
                    except subprocess.TimeoutExpired:
                        spy_proc.send_signal(signal.SIGINT)
                        _, err = spy_proc.communicate(timeout=30)
            finally:
                if inner.poll() is None:
                    inner.kill()
                    inner.wait()
            if result is None:
                print(f"inner process for {mode} gave no result", file=sys.stderr)
                return 1
            wall = sum(result["times"])
            ph = result["phases"]
            print(f"\n-- {mode}: " + " ".join(fmt_time(t) for t in result["times"])
                  + f"; client CPU {result['client_cpu']:.2f} s, server CPU {result['server_cpu']:.2f} s "
                  f"(sums over the measured calls) --")
            if mode == "store.put" and ph.get("total"):
                up, com, tot = sum(ph["upload"]), sum(ph["commit"]), sum(ph["total"])
                print(f"   phases: before the upload {fmt_time(tot - up - com)} ({100 * (tot - up - com) / tot:.0f}%), "
                      f"upload_file {fmt_time(up)} ({100 * up / tot:.0f}%), commit {fmt_time(com)} "
                      f"({100 * com / tot:.0f}%) over {len(ph['total'])} reps")
            if args.tool == "py-spy":
                if raw.exists() and raw.stat().st_size:
                    print(summarize_spy(raw, args.rate, wall))
                else:
                    print(f"   py-spy wrote no samples: {err[-1500:] if spy_proc else ''}")
            else:
                text = Path(result["cprofile"]).read_text()
                os.unlink(result["cprofile"])
                print("\n".join("   " + ln for ln in text.splitlines() if ln.strip()))
    return 0


# --- main ------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--backends", default="s3,gcs,azure", help="comma-separated: s3, gcs, azure (all three)")
    p.add_argument("--reps", type=int, default=5, help="timed reps (5, the harness minimum)")
    p.add_argument("--warmup", type=int, default=1, help="warm-up reps, reported apart (1)")
    p.add_argument("--large-mib", type=int, default=None, help="large object size in MiB (256)")
    p.add_argument("--small-count", type=int, default=None, help="small artifacts per rep (1000)")
    p.add_argument("--small-kib", type=int, default=10, help="small artifact size in KiB (10)")
    p.add_argument("--range-mib", type=int, default=16, help="part size of the ranged-get what-if (16)")
    p.add_argument("--range-window", type=int, default=4, help="ranged GETs in flight in the what-if (4)")
    p.add_argument("--small-codec", default="auto", help="codec of the small puts (auto: the store's default)")
    p.add_argument("--part-size", type=int, default=None,
                   help="part/block size in MiB for store and raw alike (default: each client's own)")
    p.add_argument("--quick", action="store_true",
                   help="smoke run: 32 MiB, 100 small artifacts (unless given); not the issue's figures")
    p.add_argument("--no-sync", dest="sync", action="store_false", help="skip os.sync() before large figures")
    p.add_argument("--dir", type=Path, default=DEFAULT_DIR, help=f"scratch folder ({DEFAULT_DIR})")
    p.add_argument("--keep", action="store_true", help="keep the scratch folders of each backend")
    p.add_argument("--json", type=Path, default=None, help="write every figure, rep and CPU time to this file")
    p.add_argument("--profile", action="store_true",
                   help="instead: profile store.put / raw put_file / raw sha256+put_file / store.get / "
                        "raw get_file of the large object on the first backend")
    p.add_argument("--profile-reps", type=int, default=3)
    p.add_argument("--profile-modes", default=None,
                   help=f"comma-separated subset of: {', '.join(PROFILE_MODES)} (default: all)")
    p.add_argument("--tool", choices=["py-spy", "cprofile"], default="py-spy")
    p.add_argument("--rate", type=int, default=100, help="py-spy samples per second (100)")
    p.add_argument("--profile-inner", choices=PROFILE_MODES, default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.large_mib is None:
        args.large_mib = 32 if args.quick else 256
    if args.small_count is None:
        args.small_count = 100 if args.quick else 1000
    if args.part_size:
        args.part_size *= MiB
    names = [n.strip() for n in args.backends.split(",") if n.strip()]
    bad = [n for n in names if n not in BACKENDS]
    if bad or not names:
        p.error(f"unknown backend(s) {bad}; choose from {', '.join(BACKENDS)}")
    args.dir.mkdir(parents=True, exist_ok=True)
    if args.profile_inner:
        return profile_inner(args)
    if args.profile:
        return run_profile(args)
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}", flush=True)
    results: dict[str, Any] = {}
    for name in names:
        got = bench_backend(name, args)
        if got is None:
            continue
        res, extra = got
        print(res.table(), flush=True)
        print(flush=True)
        print(report(name, res, extra), flush=True)
        print(flush=True)
        results[name] = {**res.to_dict(), **extra}
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str) + "\n")
        print(f"wrote {args.json}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
