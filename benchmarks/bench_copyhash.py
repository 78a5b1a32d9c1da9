"""Ways to copy a large file while computing its SHA-256, against plain copy and plain hashing.

    python benchmarks/bench_copyhash.py [--reps 5] [--size 1G] [--json out.json]

The large put (source file -> blob) and the large get (blob -> destination)
are both "copy a file and hash it"; this measures, outside the store, what
each way of doing that costs on this machine, so that a change to
``artifactstore/streams.py`` can be judged before it is made:

- ``pump (store today)``: ``artifactstore.streams.pump`` exactly as the store
  calls it: ``f.read(CHUNK)`` into a new bytes object each time, hash of chunk
  k in the store's hash thread while chunk k is written and k+1 read.
- ``readinto x2, hash thread``: the same pipeline with two reused 8 MiB buffers
  (no allocation per chunk).
- ``copy_file_range + pread hash``: the kernel copies source -> destination in
  8 MiB steps (no user-space copy, like ``shutil.copyfile``) while a second
  thread reads back and hashes what was just written, i.e. the bytes actually
  stored, with ``os.preadv`` into one reused buffer.
- ``copy_file_range + mmap hash``: the same, hashing from an ``mmap`` of the
  destination (no copy to user space at all).

Baselines: ``shutil.copyfile`` (kernel copy, no hash) and ``sha256`` (8 MiB
readinto + hash, no write). Every figure writes to a fresh destination
(unlinked, then ``os.sync()``, untimed) and every digest is checked (untimed).
"""

from __future__ import annotations

import argparse
import hashlib
import mmap
import os
import shutil
import sys
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_core import DEFAULT_DIR, MiB, _sha256_file, ensure_random_file, parse_size
from harness import Bench

from artifactstore.streams import pump

STEP = 8 * MiB


def via_pump(src: Path, dst: Path, pool: ThreadPoolExecutor) -> str:
    with open(src, "rb") as fi, open(dst, "wb") as fo:
        sha, _ = pump(fi.read, fo.write, pool)
    return sha


def via_readinto(src: Path, dst: Path, pool: ThreadPoolExecutor) -> str:
    h = hashlib.sha256()
    bufs = [bytearray(STEP), bytearray(STEP)]
    pending: Future[None] | None = None
    i = 0
    with open(src, "rb", buffering=0) as fi, open(dst, "wb", buffering=0) as fo:
        while True:
            buf = bufs[i & 1]  # the other buffer may still be hashing
            n = fi.readinto(buf)
            if not n:
                break
            view = memoryview(buf)[:n]
            if pending is not None:
                pending.result()
            pending = pool.submit(h.update, view)
            while view:
                view = view[fo.write(view):]
            i += 1
        if pending is not None:
            pending.result()
    return h.hexdigest()


def _copy_range_pipeline(src: Path, dst: Path, pool: ThreadPoolExecutor, hash_range: object) -> str:
    h = hashlib.sha256()
    pending: Future[None] | None = None
    off = 0
    with open(src, "rb", buffering=0) as fi, open(dst, "w+b", buffering=0) as fo:
        state = hash_range(h, fo.fileno())  # type: ignore[operator]
        while True:
            n = os.copy_file_range(fi.fileno(), fo.fileno(), STEP)
            if not n:
                break
            if pending is not None:
                pending.result()
            pending = pool.submit(state, off, n)
            off += n
        if pending is not None:
            pending.result()
    return h.hexdigest()


def _pread_hasher(h: hashlib._Hash, fd: int):  # type: ignore[name-defined]
    buf = bytearray(STEP)
    view = memoryview(buf)

    def run(off: int, n: int) -> None:
        done = 0
        while done < n:
            k = os.preadv(fd, [view[: n - done]], off + done)
            if not k:
                raise OSError("short read of the file just written")
            h.update(view[:k])
            done += k

    return run


def _mmap_hasher(h: hashlib._Hash, fd: int):  # type: ignore[name-defined]
    def run(off: int, n: int) -> None:
        # offset must be page aligned; STEP is, so every off is
        with mmap.mmap(fd, n, access=mmap.ACCESS_READ, offset=off) as m:
            h.update(m)

    return run


def via_copy_range_pread(src: Path, dst: Path, pool: ThreadPoolExecutor) -> str:
    return _copy_range_pipeline(src, dst, pool, _pread_hasher)


def via_copy_range_mmap(src: Path, dst: Path, pool: ThreadPoolExecutor) -> str:
    return _copy_range_pipeline(src, dst, pool, _mmap_hasher)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--size", default="1G")
    p.add_argument("--dir", type=Path, default=DEFAULT_DIR)
    p.add_argument("--no-sync", dest="sync", action="store_false")
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)
    size = parse_size(args.size)
    src = ensure_random_file(args.dir / "large" / "src.bin", size)
    out = args.dir / "copyhash"
    out.mkdir(parents=True, exist_ok=True)
    dst = out / "dst.bin"
    expected = _sha256_file(src)
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bench-hash")
    got: dict[str, str] = {}

    def fresh(rep: int) -> None:
        if dst.exists():
            dst.unlink()
        if args.sync:
            os.sync()

    def strategy(name: str, fn: object) -> None:
        def run(rep: int) -> None:
            got[name] = fn(src, dst, pool)  # type: ignore[operator]

        def check(rep: int) -> None:
            assert got.pop(name) == expected, f"{name}: wrong digest"
            assert dst.stat().st_size == size

        b.add(name, run, setup=fresh, teardown=check, work=size)

    b = Bench("copy+hash strategies", reps=args.reps, warmup=args.warmup,
              params={"size": f"{size / MiB:.0f} MiB", "step": "8 MiB (pump: its CHUNK)", "dir": str(out),
                      "sync": args.sync},
              notes=["page cache not dropped: the source is hot in memory for every figure alike",
                     "the hash of the copy_file_range figures is of the destination (the bytes stored)"])
    strategy("pump (store today)", via_pump)
    strategy("readinto x2, hash thread", via_readinto)
    strategy("copy_file_range + pread hash", via_copy_range_pread)
    strategy("copy_file_range + mmap hash", via_copy_range_mmap)

    def copy(rep: int) -> None:
        shutil.copyfile(src, dst)

    def sha(rep: int) -> None:
        assert _sha256_file(src) == expected

    b.add("copyfile", copy, setup=fresh, work=size, baseline=True)
    b.add("sha256", sha, setup=fresh, work=size, baseline=True)
    for name in list(b.figures)[:4]:
        b.compare(name, ["copyfile", "sha256"], target=1.3)
    try:
        res = b.run()
    finally:
        pool.shutdown()
        shutil.rmtree(out, ignore_errors=True)
    print(res.table())
    if args.json:
        res.write_json(args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
