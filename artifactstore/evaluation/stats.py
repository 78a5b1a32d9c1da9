"""Statistics for evaluation reports (numpy/scipy only, deterministic for a given seed).

Follows Agarwal et al. 2021 ("Deep RL at the Edge of the Statistical Precipice",
the ``rliable`` library): point estimates are the mean and the interquartile
mean (IQM, ``scipy.stats.trim_mean(x, 0.25)``); intervals are 95% percentile
intervals of a **stratified** bootstrap (episodes are resampled with
replacement within each stratum, i.e. each map, then pooled and aggregated).
Resampling is vectorised: one ``(resamples, n)`` index matrix per stratum.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import stats as _st

__all__ = [
    "BootstrapResult",
    "holm",
    "iqm",
    "mann_whitney_poi",
    "needed_episodes",
    "paired_poi",
    "rank_intervals",
    "stratified_bootstrap",
    "wilson",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def iqm(x: npt.ArrayLike, axis: int = -1) -> FloatArray:
    """Interquartile mean: the mean of the middle 50% (25% trimmed each side, rliable's definition).

    Uses a partition (O(n)) rather than a sort; equals ``scipy.stats.trim_mean(x, 0.25, axis)``.
    """
    a = np.moveaxis(np.asarray(x, dtype=np.float64), axis, -1)
    n = a.shape[-1]
    lo = int(0.25 * n)
    hi = n - lo
    if lo == 0:
        return np.asarray(a.mean(axis=-1))
    part = np.partition(a, (lo, hi - 1), axis=-1)
    return np.asarray(part[..., lo:hi].mean(axis=-1))


@dataclass(frozen=True)
class BootstrapResult:
    """Point estimates and bootstrap distributions of one sample.

    ``mean_samples`` / ``iqm_samples`` have one value per resample;
    ``stratum_means`` is ``(resamples, n_strata)``: the resampled mean of each stratum,
    columns in the order of ``strata`` (the sorted distinct labels).
    ``profile_samples`` is ``(min(resamples, PROFILE_RESAMPLES), len(thresholds))``: the
    resampled fraction of values strictly above each threshold (``None`` without thresholds).
    ``paired_means`` holds the resampled means of each ``paired`` column, same draws.
    """

    mean: float
    iqm: float
    mean_samples: FloatArray
    iqm_samples: FloatArray
    stratum_means: FloatArray
    strata: IntArray
    profile_samples: FloatArray | None = None
    paired_means: tuple[FloatArray, ...] = ()

    def ci(self, which: str = "mean", level: float = 0.95) -> tuple[float, float]:
        """Percentile interval of the mean (``which="mean"``) or the IQM (``"iqm"``)."""
        s = self.mean_samples if which == "mean" else self.iqm_samples
        a = (1 - level) / 2 * 100
        lo, hi = np.percentile(s, [a, 100 - a])
        return float(lo), float(hi)


def bootstrap_indices(strata: IntArray, resamples: int, rng: np.random.Generator) -> tuple[IntArray, IntArray]:
    """A ``(resamples, n)`` index matrix resampling within each stratum, and the stratum starts.

    ``strata`` must be sorted (rows grouped by stratum); the columns keep that grouping,
    so per-stratum aggregates are ``np.add.reduceat(..., starts, axis=1)``.
    """
    n = len(strata)
    if n == 0:
        raise ValueError("no observations")
    if np.any(np.diff(strata) < 0):
        raise ValueError("strata must be sorted")
    starts = np.flatnonzero(np.r_[True, strata[1:] != strata[:-1]])
    sizes = np.diff(np.r_[starts, n])
    # one draw in [0, 1) per cell, scaled by the size of its stratum, offset by its start;
    # 32-bit draws and indices halve the memory traffic (strata up to 2**24 values)
    itype = np.int32 if n < 2**31 else np.int64
    ftype = np.float32 if sizes.max() < 2**24 else np.float64
    u = rng.random((resamples, n), dtype=ftype)
    u *= np.repeat(sizes, sizes).astype(ftype)
    idx = u.astype(itype)
    del u
    np.minimum(idx, np.repeat(sizes - 1, sizes).astype(itype), out=idx)
    idx += np.repeat(starts, sizes).astype(itype)
    return idx, starts


#: Cells (resamples x observations) processed at once: bounds the memory of a bootstrap
#: (about 40 bytes per cell) whatever the number of observations.
CHUNK_CELLS = 1 << 19


#: Resamples behind the performance-profile bands (descriptive; fewer than the CIs use).
PROFILE_RESAMPLES = 1000


def stratified_bootstrap(values: npt.ArrayLike, strata: npt.ArrayLike | None, resamples: int,
                         rng: np.random.Generator, *, with_iqm: bool = True,
                         thresholds: npt.ArrayLike | None = None,
                         paired: Sequence[npt.ArrayLike] = ()) -> BootstrapResult:
    """Stratified bootstrap of the pooled mean and IQM of ``values`` (strata: one label per value).

    Each resample draws, within every stratum, as many values as the stratum has
    (with replacement), then pools them. The IQM of a resample is computed from
    the count of each distinct position it drew (no sort per resample), which is
    exactly ``scipy.stats.trim_mean(resample, 0.25)``. Work is done in chunks of
    resamples so that memory stays near :data:`CHUNK_CELLS` cells.

    ``thresholds``: also the fraction of each resample above each threshold, over
    the first :data:`PROFILE_RESAMPLES` resamples. ``paired``: further columns (one
    value per row of ``values``, e.g. a cost) whose means are resampled with the
    very same draws; their resampled means are in ``paired_means``.
    """
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:
        raise ValueError("no observations")
    if not np.all(np.isfinite(v)):
        raise ValueError("values must be finite")
    if resamples < 1:
        raise ValueError("resamples must be positive")
    s = np.zeros(len(v), dtype=np.int64) if strata is None else np.asarray(strata, dtype=np.int64)
    if s.shape != v.shape:
        raise ValueError("one stratum label per value is needed")
    extra = [np.asarray(x, dtype=np.float64) for x in paired]
    if any(x.shape != v.shape or not np.all(np.isfinite(x)) for x in extra):
        raise ValueError("paired columns need one finite value per value")
    order = np.argsort(s, kind="stable")
    v, s = v[order], s[order]
    extra = [x[order] for x in extra]
    n = len(v)
    labels = np.unique(s)
    by_value = np.argsort(v, kind="stable")
    rank = np.empty(n, dtype=np.int32 if n < 2**31 else np.int64)
    rank[by_value] = np.arange(n)
    v_sorted = v[by_value]
    lo = int(0.25 * n)
    hi = n - lo
    thr = None if thresholds is None else np.asarray(thresholds, dtype=np.float64)
    above = None if thr is None else (v_sorted[:, None] > thr[None, :]).astype(np.float64)
    n_prof = min(resamples, PROFILE_RESAMPLES)
    mean_s = np.empty(resamples)
    iqm_s = np.empty(resamples)
    strat_s = np.empty((resamples, len(labels)))
    extra_s = [np.empty(resamples) for _ in extra]
    prof_s = None if thr is None else np.empty((n_prof, len(thr)))
    step = max(1, min(resamples, CHUNK_CELLS // n))
    for r0 in range(0, resamples, step):
        r1 = min(resamples, r0 + step)
        idx, starts = bootstrap_indices(s, r1 - r0, rng)
        sums = np.add.reduceat(v[idx], starts, axis=1)
        sizes = np.diff(np.r_[starts, n])
        mean_s[r0:r1] = sums.sum(axis=1) / n
        strat_s[r0:r1] = sums / sizes
        for x, out in zip(extra, extra_s, strict=True):
            out[r0:r1] = x[idx].sum(axis=1) / n
        want_prof = prof_s is not None and r0 < n_prof
        if (with_iqm and lo > 0) or want_prof:
            rows = r1 - r0
            flat: IntArray = np.asarray(rank[idx])
            del idx
            flat += (np.arange(rows, dtype=flat.dtype) * n)[:, None]
            # float counts: the products below go straight to BLAS without a cast
            counts = np.bincount(flat.ravel(), minlength=rows * n).reshape(rows, n).astype(np.float64)
            del flat
            if with_iqm and lo > 0:
                # weight of each sorted value inside the middle [lo, hi) positions of the resample
                cum = np.cumsum(counts, axis=1)
                w = np.clip(cum, lo, hi)
                cum -= counts
                np.clip(cum, lo, hi, out=cum)
                w -= cum
                iqm_s[r0:r1] = (w @ v_sorted) / (hi - lo)
                del cum, w
            if want_prof and prof_s is not None and above is not None:
                k = min(r1, n_prof) - r0
                prof_s[r0:r0 + k] = (counts[:k] @ above) / n
        if with_iqm and lo == 0:
            iqm_s[r0:r1] = mean_s[r0:r1]
    if not with_iqm:
        iqm_s = mean_s
    return BootstrapResult(float(v.mean()), float(iqm(v)), mean_s, iqm_s, strat_s, labels, prof_s,
                           tuple(extra_s))


def wilson(successes: int, n: int, level: float = 0.95) -> tuple[float, float, float]:
    """Success rate and its Wilson score interval: ``(p, low, high)``."""
    if n <= 0:
        raise ValueError("n must be positive")
    z = float(_st.norm.ppf(1 - (1 - level) / 2))
    p = successes / n
    den = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    # at k = 0 or k = n one bound is exactly 0 or 1; say so rather than 1 - 1e-16
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return p, low, high


def rank_intervals(samples: FloatArray, higher_is_better: bool = True,
                   level: float = 0.95) -> tuple[IntArray, FloatArray, FloatArray]:
    """Ranks (1 = best) of the point estimates and their bootstrap percentile intervals.

    ``samples`` is ``(models, resamples)``; every resample is ranked, then the
    2.5/97.5 percentiles of each model's ranks are its interval. The point rank
    is the rank of each model's median resample.
    """
    sign = -1.0 if higher_is_better else 1.0
    ranks = _st.rankdata(sign * samples, axis=0, method="min")
    a = (1 - level) / 2 * 100
    lo = np.percentile(ranks, a, axis=1, method="lower")
    hi = np.percentile(ranks, 100 - a, axis=1, method="higher")
    point = _st.rankdata(sign * np.median(samples, axis=1), method="min").astype(np.int64)
    return point, lo, hi


def mann_whitney_poi(a: Sequence[FloatArray], b: Sequence[FloatArray]) -> tuple[float, float]:
    """Probability of improvement P(X_a > X_b) + P(=)/2 per stratum, averaged over strata, and a p-value.

    ``a[i]`` and ``b[i]`` are the two models' values in stratum ``i``. Per stratum
    PoI = U / (n_a n_b) (Mann-Whitney); the p-value is the van Elteren test
    (stratified Wilcoxon rank-sum, normal approximation with tie correction), two-sided.
    """
    pois: list[float] = []
    num = 0.0
    var = 0.0
    for xa, xb in zip(a, b, strict=True):
        na, nb = len(xa), len(xb)
        if na == 0 or nb == 0:
            continue
        both = np.concatenate([xa, xb])
        r = _st.rankdata(both)
        u = float(r[:na].sum() - na * (na + 1) / 2)
        pois.append(u / (na * nb))
        n = na + nb
        _, counts = np.unique(both, return_counts=True)
        tie = float((counts**3 - counts).sum())
        v = na * nb / 12.0 * ((n + 1) - tie / (n * (n - 1))) if n > 1 else 0.0
        w = 1.0 / (n + 1)
        num += w * (u - na * nb / 2)
        var += w * w * v
    if not pois:
        raise ValueError("no stratum has observations of both models")
    p = 1.0 if var <= 0 else float(2 * _st.norm.sf(abs(num) / math.sqrt(var)))
    return float(np.mean(pois)), min(1.0, p)


def paired_poi(diffs: Sequence[FloatArray]) -> tuple[float, float]:
    """PoI for paired episodes (same map and seed): per stratum the share of pairs with
    ``a > b`` (ties count half), averaged over strata; p-value from the Wilcoxon signed-rank test."""
    pois = [float(((d > 0).sum() + 0.5 * (d == 0).sum()) / len(d)) for d in diffs if len(d)]
    if not pois:
        raise ValueError("no pairs")
    alld = np.concatenate([d for d in diffs if len(d)])
    if np.all(alld == 0):
        return float(np.mean(pois)), 1.0
    res = _st.wilcoxon(alld, zero_method="zsplit")
    return float(np.mean(pois)), float(res.pvalue)


def holm(pvalues: Sequence[float], alpha: float = 0.05) -> tuple[list[float], list[bool]]:
    """Holm-Bonferroni: adjusted p-values (monotone, capped at 1) and reject decisions at ``alpha``."""
    m = len(pvalues)
    order = sorted(range(m), key=lambda i: (pvalues[i], i))
    adj = [0.0] * m
    running = 0.0
    for k, i in enumerate(order):
        running = max(running, min(1.0, (m - k) * pvalues[i]))
        adj[i] = running
    return adj, [x <= alpha for x in adj]


def needed_episodes(diff: float, sd_a: float, sd_b: float, n_a: int, n_b: int,
                    alpha: float = 0.05, power: float = 0.8) -> int | None:
    """Extra episodes per model for a two-sided test of the mean difference ``diff`` to reach ``power``.

    Normal approximation: n = (z_{1-a/2} + z_power)^2 (sd_a^2 + sd_b^2) / diff^2.
    ``None`` when ``diff`` is 0 (no sample size detects no difference).
    """
    if diff == 0 or not math.isfinite(diff):
        return None
    z = float(_st.norm.ppf(1 - alpha / 2) + _st.norm.ppf(power))
    n = z * z * (sd_a**2 + sd_b**2) / diff**2
    return max(0, math.ceil(n - min(n_a, n_b)))
