"""The report's statistics checked as statistics: coverage, agreement with scipy, error rates.

Simulation sizes are chosen so that each check is well inside its tolerance for a
correct implementation and far outside it for the usual mistakes (an unstratified
resample, a standard deviation used as a standard error, no multiplicity correction).
Every generator is seeded: the outcomes are fixed, not flaky.
"""

from __future__ import annotations

import numpy as np
import pytest

scipy_stats = pytest.importorskip("scipy.stats")

from artifactstore.evaluation import stats  # noqa: E402


def test_iqm_equals_scipy_trim_mean() -> None:
    rng = np.random.default_rng(0)
    for n in (1, 2, 3, 4, 7, 8, 100, 101):
        x = rng.standard_t(3, size=(5, n))
        np.testing.assert_allclose(stats.iqm(x, axis=1), scipy_stats.trim_mean(x, 0.25, axis=1))


def test_bootstrap_resamples_within_each_stratum() -> None:
    strata = np.repeat([0, 1, 2], [3, 5, 2])
    idx, starts = stats.bootstrap_indices(strata, 2000, np.random.default_rng(1))
    assert starts.tolist() == [0, 3, 8]
    # every column draws only from its own stratum, and every member of it gets drawn
    for s0, s1 in ((0, 3), (3, 8), (8, 10)):
        block = idx[:, s0:s1]
        assert block.min() == s0 and block.max() == s1 - 1
        counts = np.bincount(block.ravel() - s0, minlength=s1 - s0)
        assert counts.min() > 0.8 * counts.mean()  # uniform within the stratum


def test_resampled_iqm_and_profiles_match_a_direct_computation() -> None:
    rng = np.random.default_rng(2)
    v = rng.normal(size=60)
    strata = np.repeat(np.arange(6), 10)
    thr = np.linspace(-1, 1, 5)
    res = stats.stratified_bootstrap(v, strata, 50, np.random.default_rng(3), thresholds=thr)
    idx, _ = stats.bootstrap_indices(strata, 50, np.random.default_rng(3))
    sample = v[idx]
    np.testing.assert_allclose(res.mean_samples, sample.mean(axis=1))
    np.testing.assert_allclose(res.iqm_samples, scipy_stats.trim_mean(sample, 0.25, axis=1))
    np.testing.assert_allclose(res.stratum_means, sample.reshape(50, 6, 10).mean(axis=2))
    assert res.profile_samples is not None
    np.testing.assert_allclose(res.profile_samples, (sample[:, :, None] > thr).mean(axis=1))


def test_chunking_does_not_change_the_result(monkeypatch: pytest.MonkeyPatch) -> None:
    v = np.random.default_rng(4).normal(size=300)
    strata = np.repeat(np.arange(3), 100)
    whole = stats.stratified_bootstrap(v, strata, 400, np.random.default_rng(5))
    monkeypatch.setattr(stats, "CHUNK_CELLS", 1000)  # 3 resamples per chunk
    chunked = stats.stratified_bootstrap(v, strata, 400, np.random.default_rng(5))
    # the same draws; only the summation order of the BLAS product may differ
    np.testing.assert_allclose(whole.mean_samples, chunked.mean_samples, rtol=1e-12)
    np.testing.assert_allclose(whole.iqm_samples, chunked.iqm_samples, rtol=1e-12)


def test_agrees_with_scipy_bootstrap_when_unstratified() -> None:
    rng = np.random.default_rng(6)
    for dist in (rng.normal(1.0, 2.0, 200), rng.exponential(1.0, 150), rng.integers(0, 5, 300).astype(float)):
        ours = stats.stratified_bootstrap(dist, None, 20000, np.random.default_rng(7))
        ref = scipy_stats.bootstrap((dist,), np.mean, n_resamples=20000, method="percentile",
                                    confidence_level=0.95, rng=np.random.default_rng(8))
        width = ref.confidence_interval.high - ref.confidence_interval.low
        lo, hi = ours.ci("mean")
        assert abs(lo - ref.confidence_interval.low) < 0.05 * width
        assert abs(hi - ref.confidence_interval.high) < 0.05 * width
        ref_iqm = scipy_stats.bootstrap((dist,), lambda x, axis=-1: scipy_stats.trim_mean(x, 0.25, axis=axis),
                                        n_resamples=5000, method="percentile", rng=np.random.default_rng(9))
        ilo, ihi = ours.ci("iqm")
        iw = ref_iqm.confidence_interval.high - ref_iqm.confidence_interval.low
        assert abs(ilo - ref_iqm.confidence_interval.low) < 0.1 * iw
        assert abs(ihi - ref_iqm.confidence_interval.high) < 0.1 * iw


@pytest.mark.parametrize("which", ["mean", "iqm"])
def test_coverage_of_stratified_intervals_on_known_truth(which: str) -> None:
    # 10 maps with very different means and spreads; the pooled mean (equal episodes per map)
    # and the pooled IQM of a normal mixture are known. An unstratified bootstrap over-covers
    # here (it adds the between-map variance), a stratified one is close to nominal.
    rng = np.random.default_rng(10)
    map_mu = np.linspace(-3, 3, 10)
    map_sd = np.linspace(0.5, 2.0, 10)
    per_map = 40
    if which == "mean":
        truth = float(map_mu.mean())
    else:
        big = rng.normal(np.repeat(map_mu, 200_000), np.repeat(map_sd, 200_000))
        truth = float(stats.iqm(big))
    sims, hits = 300, 0
    strata = np.repeat(np.arange(10), per_map)
    for _ in range(sims):
        v = rng.normal(np.repeat(map_mu, per_map), np.repeat(map_sd, per_map))
        res = stats.stratified_bootstrap(v, strata, 1000, rng, with_iqm=which == "iqm")
        lo, hi = res.ci(which)
        hits += lo <= truth <= hi
    coverage = hits / sims
    assert 0.92 <= coverage <= 0.98, coverage


def test_wilson_interval_coverage() -> None:
    rng = np.random.default_rng(11)
    for p_true, n in ((0.1, 40), (0.5, 30), (0.9, 100)):
        k = rng.binomial(n, p_true, size=2000)
        cover = np.mean([lo <= p_true <= hi for _, lo, hi in (stats.wilson(int(x), n) for x in k)])
        assert 0.92 <= cover <= 0.98, (p_true, n, cover)
    assert stats.wilson(0, 10)[1] == 0.0 and stats.wilson(10, 10)[2] == 1.0
    with pytest.raises(ValueError):
        stats.wilson(0, 0)


def test_poi_matches_mann_whitney_u() -> None:
    rng = np.random.default_rng(12)
    a, b = rng.normal(0.3, 1, 50), rng.normal(0, 1, 70)
    poi, p = stats.mann_whitney_poi([a], [b])
    ref = scipy_stats.mannwhitneyu(a, b, alternative="two-sided", method="asymptotic", use_continuity=False)
    assert poi == pytest.approx(ref.statistic / (50 * 70))
    assert p == pytest.approx(ref.pvalue, rel=1e-6)


def test_same_distribution_is_not_called_different_more_than_five_percent() -> None:
    # three models from one distribution, three pairwise tests each, Holm-corrected:
    # the family-wise rate of any "significant" must stay near or under 5%
    rng = np.random.default_rng(13)
    sims, any_sig = 400, 0
    for _ in range(sims):
        models = [[rng.normal(m * 0.2, 1.0, 15) for m in range(5)] for _ in range(3)]
        pvals = [stats.mann_whitney_poi(models[i], models[j])[1] for i in range(3) for j in range(i + 1, 3)]
        _, rej = stats.holm(pvals)
        any_sig += any(rej)
    assert any_sig / sims <= 0.065, any_sig / sims


def test_a_real_difference_is_detected() -> None:
    rng = np.random.default_rng(14)
    detected = 0
    for _ in range(100):
        a = [rng.normal(0.5 + m, 1.0, 20) for m in range(5)]
        b = [rng.normal(m, 1.0, 20) for m in range(5)]
        poi, p = stats.mann_whitney_poi(a, b)
        detected += p < 0.05 and poi > 0.5
    assert detected >= 75  # power of a 0.5 sd shift at 100 episodes a side is about 0.9


def test_paired_poi_uses_the_pairing() -> None:
    rng = np.random.default_rng(15)
    base = rng.normal(0, 5, 60)  # large per-seed effect shared by both models
    a, b = base + 0.5 + rng.normal(0, 0.3, 60), base + rng.normal(0, 0.3, 60)
    poi, p = stats.paired_poi([a - b])
    assert poi > 0.8 and p < 1e-6
    _, p_unpaired = stats.mann_whitney_poi([a], [b])
    assert p_unpaired > 0.05  # unpaired, the seed noise hides it


def test_holm_adjustment() -> None:
    adj, rej = stats.holm([0.01, 0.04, 0.03, 0.5])
    assert adj == pytest.approx([0.04, 0.09, 0.09, 0.5])
    assert rej == [True, False, False, False]


def test_rank_intervals() -> None:
    rng = np.random.default_rng(16)
    samples = np.vstack([rng.normal(0, 0.1, 2000), rng.normal(1, 0.1, 2000), rng.normal(1.02, 0.1, 2000)])
    point, lo, hi = stats.rank_intervals(samples)
    assert point.tolist()[0] == 3 and lo[0] == hi[0] == 3
    assert lo[1] == 1 and hi[1] == 2 and lo[2] == 1 and hi[2] == 2


def test_needed_episodes() -> None:
    # a difference of half a standard deviation needs about 63 episodes per side for 80% power
    assert stats.needed_episodes(0.5, 1.0, 1.0, 0, 0) == 63
    assert stats.needed_episodes(0.5, 1.0, 1.0, 20, 30) == 43
    assert stats.needed_episodes(0.0, 1.0, 1.0, 10, 10) is None


def test_rejects_bad_input() -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError):
        stats.stratified_bootstrap([], None, 10, rng)
    with pytest.raises(ValueError):
        stats.stratified_bootstrap([1.0, float("nan")], None, 10, rng)
    with pytest.raises(ValueError):
        stats.stratified_bootstrap([1.0, 2.0], [0], 10, rng)
