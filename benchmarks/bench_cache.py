"""What the local read cache costs: a hit, a fill, and an eviction scan, against baselines measured
in the same run, interleaved (these machines are noisy).

    python benchmarks/bench_cache.py [--dir /work/tmp-bench] [--entries 10000]

- hit: ``BlobCache.open(key).close()`` vs a bare ``open(path).close()`` of the same file, and vs
  an open plus an SQLite ``UPDATE`` of an access-time index (the design not taken);
- fill: a miss of a 1 MiB blob (copy from a local "remote" file, verify by SHA-256, publish) vs
  the copy + SHA-256 alone;
- eviction: a fill that pushes a cache of N entries over its bound (scan + unlink) vs a fill below it.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from artifactstore.cache import BlobCache


def key_of(data: bytes) -> str:
    h = hashlib.sha256(data).hexdigest()
    return f"blobs/sha256/{h[:2]}/{h}"


def per_op(fn: Callable[[int], object], n: int) -> float:
    t0 = time.perf_counter()
    for i in range(n):
        fn(i)
    return (time.perf_counter() - t0) / n


def interleaved(cases: dict[str, Callable[[int], object]], n: int, rounds: int) -> dict[str, float]:
    samples: dict[str, list[float]] = {k: [] for k in cases}
    for _ in range(rounds):
        for name, fn in cases.items():
            samples[name].append(per_op(fn, n))
    return {k: statistics.median(v) for k, v in samples.items()}


def bench_hits(base: Path, n_keys: int) -> None:
    cache = BlobCache(base / "hits", 1 << 40)
    blobs = [os.urandom(256) + i.to_bytes(4, "big") for i in range(n_keys)]
    keys = [key_of(b) for b in blobs]
    for k, b in zip(keys, blobs, strict=True):
        cache.open(k, lambda p, b=b: p.write_bytes(b), lambda _p: None).close()
    paths = [str(cache.path_for(k)) for k in keys]
    db = sqlite3.connect(str(base / "index.db"), isolation_level=None)
    db.execute("pragma journal_mode=wal")
    db.execute("pragma synchronous=normal")
    db.execute("create table if not exists e(k text primary key, atime real)")
    db.executemany("insert or replace into e values(?, 0)", [(k,) for k in keys])

    def never(_p: Path) -> None:
        raise AssertionError("fetch on a hit")

    def hit(i: int) -> None:
        cache.open(keys[i % n_keys], never, never).close()

    def bare(i: int) -> None:
        open(paths[i % n_keys], "rb").close()

    def sqlite_index(i: int) -> None:
        f = open(paths[i % n_keys], "rb")  # noqa: SIM115
        db.execute("update e set atime=? where k=?", (time.time(), keys[i % n_keys]))
        f.close()

    res = interleaved({"bare open+close": bare, "BlobCache hit": hit, "open + sqlite UPDATE": sqlite_index},
                      n=2000, rounds=7)
    print(f"hits over {n_keys} entries (median of 7 interleaved rounds of 2000):")
    for k, v in res.items():
        print(f"  {k:24s} {v * 1e6:7.1f} us")
    db.close()


def bench_fill(base: Path) -> None:
    remote = base / "remote"
    remote.mkdir()
    size = 1 << 20
    srcs = []
    for i in range(40):
        data = os.urandom(size)
        p = remote / f"{i}"
        p.write_bytes(data)
        srcs.append((key_of(data), p, hashlib.sha256(data).hexdigest()))
    work = base / "plain"
    work.mkdir()

    def verify_with(expected: str) -> Callable[[Path], None]:
        def v(p: Path) -> None:
            if hashlib.sha256(p.read_bytes()).hexdigest() != expected:
                raise AssertionError("corrupt")

        return v

    fill_t: list[float] = []
    plain_t: list[float] = []
    for r in range(3):
        cache = BlobCache(base / f"fill{r}", 1 << 40)
        for i, (k, src, sha) in enumerate(srcs):
            t0 = time.perf_counter()
            dst = work / f"{r}-{i}"
            shutil.copyfile(src, dst)
            verify_with(sha)(dst)
            plain_t.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            cache.open(k, lambda p, s=src: shutil.copyfile(s, p), verify_with(sha)).close()
            fill_t.append(time.perf_counter() - t0)
    print("fill of a 1 MiB blob (local copy as the 'download', SHA-256 verify), median of 120:")
    print(f"  copy + sha256 alone      {statistics.median(plain_t) * 1e3:7.2f} ms")
    print(f"  BlobCache miss (fill)    {statistics.median(fill_t) * 1e3:7.2f} ms")


def bench_evict(base: Path, n_keys: int) -> None:
    root = base / "evict"
    cache = BlobCache(root, 1 << 40)
    for i in range(n_keys):
        b = i.to_bytes(8, "big") * 16
        cache.open(key_of(b), lambda p, b=b: p.write_bytes(b), lambda _p: None).close()
    below, over = [], []
    for j in range(5):
        b = b"below" + j.to_bytes(4, "big")
        t0 = time.perf_counter()
        BlobCache(root, 1 << 40).open(key_of(b), lambda p, b=b: p.write_bytes(b), lambda _p: None).close()
        below.append(time.perf_counter() - t0)
        b = b"over" + j.to_bytes(4, "big")
        # exactly full: this fill goes over the bound, scans, and evicts ~0.1%
        tight = BlobCache(root, BlobCache(root, 1 << 40).info()["bytes"], low_water=0.999)
        t0 = time.perf_counter()
        tight.open(key_of(b), lambda p, b=b: p.write_bytes(b), lambda _p: None).close()
        over.append(time.perf_counter() - t0)
    print(f"fill of a 128-byte blob into a cache of {n_keys} entries, median of 5:")
    print(f"  below the bound          {statistics.median(below) * 1e3:7.2f} ms")
    print(f"  over the bound (scan)    {statistics.median(over) * 1e3:7.2f} ms")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--dir", type=Path, default=None, help="scratch folder (default: a temp dir)")
    ap.add_argument("--entries", type=int, default=10000)
    args = ap.parse_args()
    base = Path(tempfile.mkdtemp(prefix="bench-cache-", dir=args.dir))
    try:
        bench_hits(base, min(args.entries, 2000))
        bench_fill(base)
        bench_evict(base, args.entries)
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
