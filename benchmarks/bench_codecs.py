"""Codec throughput and size on realistic episode data: zstd levels and threads against gzip level 6.

Usage::

    python benchmarks/bench_codecs.py              # ~200 MB (100 MB CSV + 100 MB JSON lines), 5 reps
    python benchmarks/bench_codecs.py --mb 20 --reps 3

The data imitates what evaluations log: one row per episode with ids, a map
and suite name, a seed, integer counters, booleans and floats written with
full precision (``repr``, as pandas' ``to_csv`` does). Each configuration
encodes each data set from memory in 1 MiB writes (as the store does) into a
sink that only counts bytes. Configurations are interleaved rep by rep, in a
new order each rep, because these machines are noisy; figures are medians.

``zstd/T`` means ``threads=T`` in ``zstandard``: ``0`` compresses in the
calling thread (one core), ``1`` in one worker thread, ``2`` in two.

The default of the ``zstd`` codec is chosen with this: the fastest
configuration that is at least 10x gzip-6's speed with at most 1.05x its
size on every data set.
"""

from __future__ import annotations

import argparse
import io
import json
import random
import statistics
import sys
import time
from dataclasses import dataclass, field

from artifactstore.codecs import GzipCodec, ZstdCodec
from artifactstore.codecs.base import Codec

MiB = 1 << 20
MB = 1_000_000

MAPS = ("loop_empty", "small_loop", "zigzag_dists", "udem1", "4way", "regress_4way_adam", "loop_obstacles")
SUITES = ("base", "hard", "law", "noise", "ood")
FIELDS = (
    "evaluation_id", "model_id", "suite", "map_name", "episode_id", "seed", "success", "collision",
    "off_lane", "steps", "reward", "mean_speed", "lateral_deviation", "heading_error", "duration_s",
    "timestamp",
)  # fmt: skip


class EpisodeRows:
    """Episode-result rows, grouped by evaluation like real logs."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.n = 0
        self.evaluation = self.model = ""
        self.t = 1_718_000_000.0

    def __call__(self) -> dict[str, object]:
        rng = self.rng
        if self.n % 500 == 0:  # a new evaluation every 500 episodes
            self.evaluation = f"eval-{rng.getrandbits(64):016x}"
            self.model = f"model-{rng.choice(('ppo', 'sac', 'dqn'))}-v{rng.randrange(40)}-{rng.getrandbits(24):06x}"
        self.n += 1
        self.t += rng.uniform(5, 90)
        steps = rng.randrange(50, 1500)
        success = rng.random() < 0.72
        return {
            "evaluation_id": self.evaluation,
            "model_id": self.model,
            "suite": rng.choice(SUITES),
            "map_name": rng.choice(MAPS),
            "episode_id": self.n,
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
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(self.t)),
        }


def make_csv(size: int, seed: int = 1) -> bytes:
    row = EpisodeRows(seed)
    out = io.StringIO()
    out.write(",".join(FIELDS) + "\n")
    while out.tell() < size:
        r = row()
        out.write(",".join(repr(v) if isinstance(v, float) else str(v) for v in r.values()) + "\n")
    return out.getvalue().encode()[:size]


def make_jsonl(size: int, seed: int = 2) -> bytes:
    row = EpisodeRows(seed)
    out = io.StringIO()
    while out.tell() < size:
        out.write(json.dumps(row()) + "\n")
    return out.getvalue().encode()[:size]


class CountingSink:
    def __init__(self) -> None:
        self.n = 0

    def write(self, data: bytes | memoryview, /) -> int:
        n = memoryview(data).nbytes
        self.n += n
        return n


@dataclass
class Config:
    label: str
    codec: Codec
    times: dict[str, list[float]] = field(default_factory=dict)
    cpu_times: dict[str, list[float]] = field(default_factory=dict)
    decode_times: dict[str, list[float]] = field(default_factory=dict)
    stored: dict[str, int] = field(default_factory=dict)


def encode_once(codec: Codec, data: bytes) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds of all the process's threads, stored bytes)."""
    sink = CountingSink()
    view = memoryview(data)
    t0, c0 = time.perf_counter(), time.process_time()
    enc = codec.encoder(sink, size=len(data), member_name="episodes")
    for start in range(0, len(data), MiB):
        enc.write(view[start : start + MiB])
    enc.finish()
    return time.perf_counter() - t0, time.process_time() - c0, sink.n


def decode_once(codec: Codec, encoded: bytes) -> float:
    t0 = time.perf_counter()
    with codec.decoder(io.BytesIO(encoded)) as r:
        while r.read(MiB):
            pass
    return time.perf_counter() - t0


def encoded_bytes(codec: Codec, data: bytes) -> bytes:
    out = io.BytesIO()
    enc = codec.encoder(out, size=len(data), member_name="episodes")
    enc.write(data)
    enc.finish()
    return out.getvalue()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mb", type=float, default=200, help="total MB of data, split between CSV and JSON lines")
    ap.add_argument("--reps", type=int, default=5, help="repetitions; the median is reported (>= 5 to decide)")
    ap.add_argument("--levels", default="-1,1,2,3,6", help="zstd levels, comma-separated")
    ap.add_argument("--threads", default="0,1,2", help="zstd thread counts, comma-separated")
    ap.add_argument("--no-decode", action="store_true", help="skip decode timings")
    args = ap.parse_args(argv)

    half = int(args.mb * MB / 2)
    t0 = time.perf_counter()
    datasets = {"csv": make_csv(half), "jsonl": make_jsonl(half)}
    print(f"generated {sum(map(len, datasets.values())) / MB:.0f} MB in {time.perf_counter() - t0:.1f} s "
          f"({', '.join(f'{k} {len(v) / MB:.0f} MB' for k, v in datasets.items())})")

    configs = [Config("gzip-6", GzipCodec(6))]
    for level in (int(x) for x in args.levels.split(",")):
        for threads in (int(x) for x in args.threads.split(",")):
            configs.append(Config(f"zstd-{level}/{threads}", ZstdCodec(level=level, threads=threads)))

    # Decode inputs, made once per config and data set (also checks the round trip).
    encoded: dict[tuple[str, str], bytes] = {}
    if not args.no_decode:
        for c in configs:
            for name, data in datasets.items():
                encoded[c.label, name] = blob = encoded_bytes(c.codec, data)
                with c.codec.decoder(io.BytesIO(blob)) as r:
                    assert r.read() == data, f"{c.label} round trip failed on {name}"

    order_rng = random.Random(0)
    for rep in range(args.reps):
        order = configs[:]
        order_rng.shuffle(order)
        for c in order:
            for name, data in datasets.items():
                seconds, cpu, stored = encode_once(c.codec, data)
                c.times.setdefault(name, []).append(seconds)
                c.cpu_times.setdefault(name, []).append(cpu)
                c.stored[name] = stored
                if not args.no_decode:
                    c.decode_times.setdefault(name, []).append(decode_once(c.codec, encoded[c.label, name]))
        print(f"rep {rep + 1}/{args.reps} done", file=sys.stderr)

    base = configs[0]
    names = list(datasets)

    def mbps(c: Config, name: str, decode: bool = False) -> float:
        times = c.decode_times if decode else c.times
        return len(datasets[name]) / MB / statistics.median(times[name])

    def total_mbps(c: Config, cpu: bool = False) -> float:
        total = sum(len(d) for d in datasets.values())
        times = c.cpu_times if cpu else c.times
        return total / MB / sum(statistics.median(times[n]) for n in names)

    print(f"\nmedian of {args.reps} reps; speed x and size x are relative to gzip-6 (higher, lower is better);")
    print("MB/cpu-s: MB encoded per CPU second of all threads (what the encoding costs the machine)")
    header = f"{'config':<12}"
    for n in names:
        header += f" | {n + ' MB/s':>10} {'ratio':>6} {'speed x':>7} {'size x':>6}"
        if not args.no_decode:
            header += f" {'dec MB/s':>8}"
    header += f" | {'all MB/s':>8} {'speed x':>7} {'MB/cpu-s':>8}"
    print(header)
    print("-" * len(header))
    meets: list[Config] = []
    for c in configs:
        line = f"{c.label:<12}"
        ok = c is not base
        for n in names:
            speed_x = mbps(c, n) / mbps(base, n)
            size_x = c.stored[n] / base.stored[n]
            ok = ok and speed_x >= 10 and size_x <= 1.05
            line += f" | {mbps(c, n):>10.1f} {len(datasets[n]) / c.stored[n]:>6.2f} {speed_x:>7.1f} {size_x:>6.3f}"
            if not args.no_decode:
                line += f" {mbps(c, n, decode=True):>8.0f}"
        line += f" | {total_mbps(c):>8.1f} {total_mbps(c) / total_mbps(base):>7.1f} {total_mbps(c, cpu=True):>8.1f}"
        print(line + ("  *" if ok else ""))
        if ok:
            meets.append(c)

    print("\n* meets the target for the default: >= 10x gzip-6's speed at <= 1.05x its size on every data set")
    if meets:
        best = max(meets, key=total_mbps)
        print(f"fastest that meets it: {best.label} ({total_mbps(best):.0f} MB/s over all data)")
    else:
        print("no configuration meets the target")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
