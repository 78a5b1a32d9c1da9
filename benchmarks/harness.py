"""A small benchmark harness: candidates and baselines run interleaved, rep by rep.

These machines are noisy (new-file creation flips between ~0.08 and ~0.6 ms
over tens of seconds), so a candidate is never compared against a baseline
measured at another time: every rep runs each figure once, in the same order
(A, B, C, A, B, C, ...), and ratios are taken both per rep and of the medians.

Nothing here asserts on time. A target is printed as "met" or "NOT met" and
that is all; a benchmark is a measurement, not a test.

Usage::

    bench = Bench("large", reps=5)
    bench.add("put", put_fn, setup=fresh_content, work=size, unit="B")
    bench.add("copyfile", copy_fn, setup=rm_dest, work=size, unit="B", baseline=True)
    bench.compare("put", ["copyfile", "sha256"], target=1.3)   # vs the slower baseline
    result = bench.run()
    print(result.table())
    result.write_json("out.json")
"""

from __future__ import annotations

import gc
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Bench", "Figure", "Comparison", "Result", "machine_info", "fmt_time", "fmt_rate"]


def machine_info() -> dict[str, Any]:
    """What a reader needs to judge the figures: date, host, cores, Python, kernel."""
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    return {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "cores": os.cpu_count(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "loadavg": [round(x, 2) for x in load],
        "git": _git_state(),
    }


def _git_state() -> str:
    """Commit of the code measured, and whether the library's files differ from it."""
    import subprocess

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        head = subprocess.run(["git", "-C", root, "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", root, "status", "--porcelain", "--", "artifactstore"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    n = len(dirty.splitlines()) if dirty else 0
    return f"{head}" + (f" + {n} uncommitted file(s) in artifactstore/" if n else "")


def _pct(values: Sequence[float], p: float) -> float | None:
    if not values:
        return None
    s = sorted(values)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))]


def fmt_time(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds != seconds:  # nan
        return "-"
    if seconds >= 1:
        return f"{seconds:.3f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds * 1e6:.1f} us"


def fmt_rate(work: float, seconds: float, unit: str) -> str:
    if not seconds or seconds != seconds:
        return "-"
    rate = work / seconds
    if unit == "B":
        return f"{rate / 1e6:,.0f} MB/s"
    return f"{rate:,.0f} {unit}/s"


@dataclass
class Figure:
    """One thing timed: ``fn(rep)`` between an untimed ``setup(rep)`` and ``teardown(rep)``."""

    name: str
    fn: Callable[[int], Any]
    setup: Callable[[int], Any] | None = None
    teardown: Callable[[int], Any] | None = None
    work: float | None = None  # bytes or items per rep, for a rate column
    unit: str = "B"
    baseline: bool = False
    target_s: float | None = None  # an absolute target on the median (display only)
    times: list[float] = field(default_factory=list)
    warmup_times: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.times) if self.times else float("nan")

    def summary(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "name": self.name, "baseline": self.baseline, "median_s": self.median,
            "min_s": min(self.times) if self.times else None, "max_s": max(self.times) if self.times else None,
            "p90_s": _pct(self.times, 90), "raw_s": self.times, "warmup_s": self.warmup_times,
            "work": self.work, "unit": self.unit, "target_s": self.target_s,
            "met": None if self.target_s is None else self.median <= self.target_s,
        }
        if self.work and self.times:
            d["rate_at_median"] = self.work / self.median
            d["rate_unit"] = f"{self.unit}/s"
        return d


@dataclass
class Comparison:
    """candidate / baseline, where a list of baselines means "the slowest of them" (per rep and of medians)."""

    candidate: str
    baselines: list[str]
    target: float | None = None  # the ratio the candidate should stay within (display only)
    per_rep: list[float] = field(default_factory=list)
    of_medians: float = float("nan")

    @property
    def label(self) -> str:
        base = self.baselines[0] if len(self.baselines) == 1 else f"max({', '.join(self.baselines)})"
        return f"{self.candidate} / {base}"

    @property
    def met(self) -> bool | None:
        if self.target is None or self.of_medians != self.of_medians:
            return None
        return self.of_medians <= self.target

    def summary(self) -> dict[str, Any]:
        return {"candidate": self.candidate, "baselines": self.baselines, "label": self.label,
                "ratio_per_rep": self.per_rep, "ratio_of_medians": self.of_medians,
                "ratio_median_of_per_rep": statistics.median(self.per_rep) if self.per_rep else None,
                "target": self.target, "met": self.met}


class Bench:
    """Figures timed interleaved rep by rep, with ratios of candidates to baselines."""

    def __init__(self, title: str, *, reps: int = 5, warmup: int = 1, notes: Sequence[str] = (),
                 params: dict[str, Any] | None = None, collect: bool = True) -> None:
        if reps < 5:
            raise ValueError("at least 5 reps: a median of fewer says little on a noisy machine")
        self.title = title
        self.reps = reps
        self.warmup = warmup
        self.notes = list(notes)
        self.params = dict(params or {})
        self.collect = collect  # gc.collect() (untimed) before each timed call
        self.figures: dict[str, Figure] = {}
        self.comparisons: list[Comparison] = []
        self.extra_rows: list[tuple[str, str]] = []

    def add(self, name: str, fn: Callable[[int], Any], *, setup: Callable[[int], Any] | None = None,
            teardown: Callable[[int], Any] | None = None, work: float | None = None, unit: str = "B",
            baseline: bool = False, target_s: float | None = None) -> Figure:
        if name in self.figures:
            raise ValueError(f"figure {name!r} added twice")
        f = Figure(name, fn, setup, teardown, work, unit, baseline, target_s)
        self.figures[name] = f
        return f

    def compare(self, candidate: str, baselines: str | Sequence[str], *, target: float | None = None) -> None:
        bl = [baselines] if isinstance(baselines, str) else list(baselines)
        for n in (candidate, *bl):
            if n not in self.figures:
                raise ValueError(f"unknown figure {n!r}")
        self.comparisons.append(Comparison(candidate, bl, target))

    def _time_one(self, f: Figure, rep: int) -> float:
        if f.setup is not None:
            f.setup(rep)
        if self.collect:
            gc.collect()
        t0 = time.perf_counter()
        f.fn(rep)
        dt = time.perf_counter() - t0
        if f.teardown is not None:
            f.teardown(rep)
        return dt

    def run(self, progress: bool = True) -> Result:
        """Warm-up reps (recorded apart, not counted), then ``reps`` interleaved reps."""
        info = machine_info()
        total = self.warmup + self.reps
        for i in range(total):
            rep = i - self.warmup  # negative for warm-up reps
            line = []
            for f in self.figures.values():
                dt = self._time_one(f, rep)
                (f.warmup_times if rep < 0 else f.times).append(dt)
                line.append(f"{f.name}={fmt_time(dt)}")
            every = 1 if self.reps <= 20 else max(1, self.reps // 10)
            if progress and (rep < 0 or (rep + 1) % every == 0):
                tag = "warmup" if rep < 0 else f"rep {rep + 1}/{self.reps}"
                print(f"  [{self.title}] {tag}: " + "  ".join(line), file=sys.stderr, flush=True)
        for c in self.comparisons:
            cand = self.figures[c.candidate]
            bases = [self.figures[b] for b in c.baselines]
            c.per_rep = [cand.times[i] / max(b.times[i] for b in bases) for i in range(self.reps)]
            c.of_medians = cand.median / max(b.median for b in bases)
        info["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
        return Result(self, info)


class Result:
    def __init__(self, bench: Bench, info: dict[str, Any]) -> None:
        self.bench = bench
        self.info = info

    def to_dict(self) -> dict[str, Any]:
        b = self.bench
        return {
            "title": b.title, "reps": b.reps, "warmup": b.warmup, "params": b.params, "notes": b.notes,
            "machine": self.info,
            "figures": [f.summary() for f in b.figures.values()],
            "comparisons": [c.summary() for c in b.comparisons],
            "extra": dict(b.extra_rows),
        }

    def table(self, max_raw: int = 20) -> str:
        """The figures, their raw reps (or percentiles past ``max_raw`` reps) and the ratios."""
        b = self.bench
        out = [f"== {b.title}: {b.reps} reps (+{b.warmup} warm-up), interleaved "
               f"[{self.info['date']}, {self.info['cores']} cores, load {self.info['loadavg']} -> "
               f"{self.info.get('loadavg_after')}, code {self.info['git']}] =="]
        if b.params:
            out.append("   " + ", ".join(f"{k}={v}" for k, v in b.params.items()))
        w = max([len(n) for n in b.figures] + [6])
        many = b.reps > max_raw
        last = "p10 / p90 / p99 (every rep in --json)" if many else "raw per rep"
        out.append(f"{'figure':<{w}}  {'median':>10}  {'rate@median':>18}  {'min':>10}  {'max':>10}  {last}")
        for f in b.figures.values():
            rate = fmt_rate(f.work, f.median, f.unit) if f.work else ""
            if many:
                raw = " / ".join(fmt_time(_pct(f.times, p)) for p in (10, 90, 99))
            else:
                raw = " ".join(fmt_time(t) for t in f.times)
            mark = " (baseline)" if f.baseline else ""
            if f.target_s is not None:
                mark += f"  [target median < {fmt_time(f.target_s)}: {'met' if f.median <= f.target_s else 'NOT met'}]"
            out.append(f"{f.name:<{w}}  {fmt_time(f.median):>10}  {rate:>18}  {fmt_time(min(f.times)):>10}  "
                       f"{fmt_time(max(f.times)):>10}  {raw}{mark}")
        if b.comparisons:
            lw = max(len(c.label) for c in b.comparisons)
            out.append("")
            lw = max(lw, 29)
            last = "p10 / p90 of per-rep ratios" if many else "per rep"
            out.append(f"{'ratio (time, lower is better)':<{lw}}  {'of medians':>10}  {'target':>8}  {'':8}  "
                       f"{'median/rep':>10}  {last}")
            for c in b.comparisons:
                tgt = f"<= {c.target:g}" if c.target is not None else "-"
                met = {True: "met", False: "NOT met", None: ""}[c.met]
                if many:
                    per = " / ".join(f"{_pct(c.per_rep, p):.2f}" for p in (10, 90))
                else:
                    per = " ".join(f"{r:.2f}" for r in c.per_rep)
                mpr = statistics.median(c.per_rep)
                out.append(f"{c.label:<{lw}}  {c.of_medians:>10.2f}  {tgt:>8}  {met:8}  {mpr:>10.2f}  {per}")
        for k, v in b.extra_rows:
            out.append(f"{k}: {v}")
        if any(c.target is not None for c in b.comparisons):
            out.append("note: the target is judged on the ratio of medians; median/rep is the median of the "
                       "per-rep ratios (each rep's figures ran back to back)")
        for n in b.notes:
            out.append(f"note: {n}")
        return "\n".join(out)

    def write_json(self, path: str | os.PathLike[str]) -> None:
        with open(path, "w") as fh:
            json.dump(self.to_dict(), fh, indent=2)
            fh.write("\n")
