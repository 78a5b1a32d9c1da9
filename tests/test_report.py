"""Evaluation reports over a real store: build_report, its outputs, the CLI, promotion with evidence."""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("scipy")
pytest.importorskip("pyarrow")

from click.testing import CliRunner

import artifactstore
from artifactstore import ArtifactStore
from artifactstore.cli.main import cli
from artifactstore.errors import NoEpisodeDataError, ReportMetricError
from artifactstore.evaluation import build_report, export_episodes, stats


def episodes(model_shift: float, *, maps: int = 4, per_map: int = 25, seed: int = 0, sd: float = 1.0,
             extra: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    rows = []
    for m in range(maps):
        for e in range(per_map):
            r = float(rng.normal(model_shift + 0.3 * m, sd))
            rows.append({"episode_id": f"m{m}-e{e}", "map_name": f"map{m}", "seed": e, "reward": r,
                         "success": bool(r > 0.5), "steps": int(100 + 10 * m + rng.integers(0, 20)),
                         **(extra or {})})
    return rows


def add_eval(store: ArtifactStore, model: str, rows: Iterable[dict[str, Any]], fmt: str = "csv",
             evaluation_id: str | None = None) -> str:
    ev = evaluation_id or f"eval-{model}"
    export_episodes(store, rows, fmt, model_id=model, evaluation_id=ev)
    store.record_evaluation(ev, model, global_score=0.5, success_rate=0.5)
    return ev


def test_clearly_better_model_ranks_first_with_separated_intervals(store: ArtifactStore) -> None:
    add_eval(store, "good", episodes(1.5, seed=1))
    add_eval(store, "base", episodes(0.0, seed=2))
    add_eval(store, "also-base", episodes(0.0, seed=3))
    rep = build_report(store, seed=0, resamples=2000, figures=False)
    d = rep.to_dict()
    lb = d["leaderboard"]
    assert lb[0]["model_id"] == "good"
    assert lb[0]["rank"] == lb[0]["rank_low"] == lb[0]["rank_high"] == 1
    good, rest = lb[0]["metrics"]["reward"], [r["metrics"]["reward"] for r in lb[1:]]
    assert all(good["ci_low"] > r["ci_high"] for r in rest)
    assert all(r["n_episodes"] == 100 for r in lb)
    assert set(lb[0]) >= {"model_id", "n_episodes", "rank", "rank_low", "rank_high", "metrics", "success_rate"}
    assert set(good) >= {"mean", "iqm", "ci_low", "ci_high"}
    assert set(lb[0]["success_rate"]) >= {"value", "ci_low", "ci_high"}
    by_pair = {(c["a"], c["b"]): c for c in d["comparisons"]}
    assert by_pair[("also-base", "good")]["significant"] and by_pair[("base", "good")]["significant"]
    assert by_pair[("also-base", "good")]["probability_of_improvement"] < 0.3
    assert set(by_pair[("also-base", "good")]) >= {"a", "b", "probability_of_improvement", "p_value",
                                                  "p_adjusted", "significant"}
    # no stored champion: the best ranked is the reference, and the others are kept
    assert d["summary"]["champion"] == "good"
    assert {c["recommendation"] for c in d["summary"]["challengers"]} == {"keep"}
    cells = [c for c in d["per_map"] if c["model_id"] == "base"]
    assert len(cells) == 4 and all(c["n"] == 25 for c in cells)
    assert all(c["vs_champion"] in ("worse", "same") for c in cells)
    assert sum(c["vs_champion"] == "worse" for c in cells) >= 3


def test_report_interval_is_the_stratified_bootstrap_of_stats(store: ArtifactStore) -> None:
    rows = episodes(0.2, seed=4, maps=3, per_map=10)
    add_eval(store, "m", rows)
    add_eval(store, "n", episodes(0.0, seed=5, maps=3, per_map=10))
    d = build_report(store, seed=7, resamples=500, figures=False).to_dict()
    v = np.asarray([r["reward"] for r in rows])
    strata = np.asarray([int(r["map_name"][3:]) for r in rows])
    res = stats.stratified_bootstrap(v, strata, 500, np.random.default_rng([7, zlib.crc32(b"m")]),
                                     thresholds=np.linspace(0, 1, 41))
    row = next(r for r in d["leaderboard"] if r["model_id"] == "m")["metrics"]["reward"]
    lo, hi = res.ci("mean")
    assert row["ci_low"] == pytest.approx(lo, abs=1e-6) and row["ci_high"] == pytest.approx(hi, abs=1e-6)
    ilo, ihi = res.ci("iqm")
    assert row["iqm_ci_low"] == pytest.approx(ilo, abs=1e-6) and row["iqm_ci_high"] == pytest.approx(ihi, abs=1e-6)
    assert row["mean"] == pytest.approx(v.mean(), abs=1e-6)


def test_deterministic_for_a_seed(store: ArtifactStore) -> None:
    add_eval(store, "a", episodes(0.3, seed=6))
    add_eval(store, "b", episodes(0.0, seed=7), fmt="parquet")
    one = build_report(store, seed=3, resamples=1000, cost="steps")
    two = build_report(store, seed=3, resamples=1000, cost="steps")
    assert one.to_json() == two.to_json()
    assert one.figures == two.figures
    assert build_report(store, seed=4, resamples=1000, cost="steps").to_json() != one.to_json()


@pytest.mark.parametrize("fmt", ["json", "parquet"])
def test_every_format_gives_the_same_report(tmp_path: Path, fmt: str) -> None:
    out = {}
    for f in ("csv", fmt):
        s = artifactstore.open(str(tmp_path / f))
        try:
            add_eval(s, "a", episodes(0.3, seed=8))
            add_eval(s, "b", episodes(0.0, seed=9), fmt=f)
            out[f] = build_report(s, seed=1, resamples=500, figures=False).to_dict()
        finally:
            s.close()
    for d in out.values():
        d.pop("trend")  # timestamps differ between the two stores
    assert out["csv"] == out[fmt]


def test_same_distribution_rarely_called_different(tmp_path: Path) -> None:
    significant = 0
    runs = 30
    for i in range(runs):
        s = artifactstore.open(str(tmp_path / f"s{i}"))
        try:
            for k, name in enumerate(("x", "y", "z")):
                add_eval(s, name, episodes(0.0, seed=1000 * i + k, maps=3, per_map=15))
            d = build_report(s, seed=i, resamples=200, figures=False).to_dict()
            significant += any(c["significant"] for c in d["comparisons"])
        finally:
            s.close()
    assert significant <= 3, significant  # family-wise 5% expected; 3/30 is far above a correct rate


def test_paired_by_map_and_seed_when_the_tables_allow(store: ArtifactStore) -> None:
    rng = np.random.default_rng(10)
    shared = rng.normal(0, 4, 60)  # a strong per-seed effect both models see
    a = [{"map_name": f"map{i % 3}", "seed": i, "reward": float(shared[i] + 0.4 + rng.normal(0, 0.2))}
         for i in range(60)]
    b = [{"map_name": f"map{i % 3}", "seed": i, "reward": float(shared[i] + rng.normal(0, 0.2))}
         for i in range(60)]
    add_eval(store, "a", a)
    add_eval(store, "b", b)
    c = build_report(store, resamples=500, figures=False).to_dict()["comparisons"][0]
    assert c["paired"] is True and c["significant"] is True and c["probability_of_improvement"] > 0.9


def test_bad_input_is_named_never_silently_wrong(store: ArtifactStore) -> None:
    with pytest.raises(NoEpisodeDataError):
        build_report(store)
    store.record_evaluation("ev-none", "ghost", global_score=1, success_rate=1)
    add_eval(store, "ok", episodes(0.0, seed=11))
    with pytest.raises(ReportMetricError, match="no_such_column"):
        build_report(store, metric="no_such_column")
    add_eval(store, "text", [{"map_name": "map0", "reward": 1.0, "label": "x"}, {"map_name": "map0", "reward": 2.0,
                                                                                  "label": "y"}])
    with pytest.raises(ReportMetricError, match="not numeric"):
        build_report(store, metric="label", models=["text"])
    add_eval(store, "single", [{"map_name": "map0", "reward": 1.0}])
    rows = episodes(0.1, seed=12, maps=2)
    rows[0]["reward"] = float("nan")
    rows[1]["reward"] = float("inf")
    add_eval(store, "nan", rows, fmt="json")
    d = build_report(store, resamples=300, figures=False).to_dict()
    models = {r["model_id"]: r for r in d["leaderboard"]}
    assert "single" not in models and models["nan"]["n_episodes"] == 48
    reasons = {(e.get("model_id"), e.get("evaluation_id"), e["reason"]) for e in d["excluded"]}
    assert ("single", None, "fewer than 2 usable episodes: no confidence interval possible") in reasons
    assert any(m == "nan" and "NaN or infinite reward dropped" in r for m, _, r in reasons)
    assert ("ghost", "ev-none", "no episode data stored for this evaluation") in reasons
    # 'nan' has two maps, 'ok' four: the empty cells say n=0 and why
    empty = [c for c in d["per_map"] if c["model_id"] == "nan" and c["n"] == 0]
    assert {c["map"] for c in empty} == {"map2", "map3"} and all(c["mean"] is None for c in empty)
    assert any(e.get("map") == "map2" and e["reason"] == "no episodes on this map" for e in d["excluded"])
    with pytest.raises(NoEpisodeDataError):
        build_report(store, models=["single"])


def test_outputs_markdown_html_and_saved_artifacts(store: ArtifactStore, tmp_path: Path) -> None:
    add_eval(store, "<script>alert(1)</script>", episodes(0.5, seed=13))
    add_eval(store, "base", episodes(0.0, seed=14))
    rep = build_report(store, cost="steps", resamples=500)
    md = rep.to_markdown()
    assert "## Leaderboard" in md and "| rank |" in md and "## Comparisons" in md
    html = rep.to_html(tmp_path / "out" / "r.html").read_text(encoding="utf-8")
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;" in html
    assert html.count("<svg") == len(rep.figures) >= 3
    assert "src=\"http" not in html and "href=\"http" not in html  # self-contained
    # the per-map table: one row per model, one cell per map, flagged where Holm says so
    assert "<h2>Per map</h2>" in html and "## Per map" in md
    worse = [c for c in rep.data["per_map"] if c["vs_champion"] == "worse"]
    assert html.count("class='num worse'") == len(worse)
    assert md.count(" -") >= len(worse)
    saved = rep.save(store)
    assert saved["report"].artifact_type == "report"
    assert {f.artifact_type for f in saved["figures"]} == {"plot"} and len(saved["figures"]) == len(rep.figures)
    assert json.loads(store.read_bytes(saved["report"])) == rep.to_dict()
    assert sorted(saved["report"].metadata["evaluations"]) == ["eval-<script>alert(1)</script>", "eval-base"]


def test_cli_report(tmp_path: Path) -> None:
    url = str(tmp_path / "cli-store")
    s = artifactstore.open(url)
    try:
        add_eval(s, "a", episodes(0.6, seed=15))
        add_eval(s, "b", episodes(0.0, seed=16))
    finally:
        s.close()
    runner = CliRunner()
    r = runner.invoke(cli, ["--store", url, "report", "--json", "--resamples", "300", "--no-store", "--cost", "steps"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert {"leaderboard", "per_map", "comparisons", "summary"} <= set(d)
    r2 = runner.invoke(cli, ["--store", url, "report", "--json", "--resamples", "300", "--no-store", "--cost", "steps"])
    assert r2.stdout == r.stdout
    html, md = tmp_path / "r.html", tmp_path / "r.md"
    r = runner.invoke(cli, ["--store", url, "report", "--resamples", "300", "--html", str(html), "--markdown", str(md)])
    assert r.exit_code == 0, r.output
    assert "# Evaluation report: reward" in r.stdout and html.exists() and md.read_text().startswith("# Evaluation")
    assert "stored report reports/" in r.stderr
    r = runner.invoke(cli, ["--store", url, "ls", "--type", "report", "--json"])
    assert len(json.loads(r.stdout)) == 1
    r = runner.invoke(cli, ["--store", url, "report", "--metric", "nope"])
    assert r.exit_code == 1 and "no episode table has a column 'nope'" in r.stderr


def test_promotion_requires_significant_evidence(store: ArtifactStore) -> None:
    ev_c = add_eval(store, "champ", episodes(0.5, seed=17))
    first = store.promote_champion("champ", evaluation_id=ev_c, global_score=0.5, success_rate=0.5,
                                   require_significant=True)
    assert first is not None and first.metrics["evidence"]["reason"] == "no champion yet: nothing to beat"
    # a challenger no better on its episodes (but with a higher global score) is not promoted
    ev_same = add_eval(store, "same", episodes(0.5, seed=18))
    before = store.count()
    assert store.promote_champion("same", evaluation_id=ev_same, global_score=0.9, success_rate=0.9,
                                  require_significant=True) is None
    champ = store.champion()
    assert champ is not None and champ.model_id == "champ" and store.count() == before  # nothing written
    ev_better = add_eval(store, "better", episodes(1.5, seed=19))
    rec = store.promote_champion("better", evaluation_id=ev_better, global_score=0.9, success_rate=0.9,
                                 require_significant=True)
    assert rec is not None and rec.model_id == "better"
    evd = rec.metrics["evidence"]
    assert evd["significant"] is True and evd["ci_low"] > 0 and evd["champion_model_id"] == "champ"
    report = store.get_artifact(evd["report_artifact_id"])
    assert report.artifact_type == "report" and report.id in rec.artifacts
    assert store.champion_history()[0].metrics["evidence"]["report_artifact_id"] == report.id
    # the catalog rebuilt from the storage says the same
    store.reindex()
    rebuilt = store.champion()
    assert rebuilt is not None and rebuilt.metrics["evidence"] == evd
    with pytest.raises(NoEpisodeDataError):
        store.record_evaluation("ev-x", "nodata", global_score=1, success_rate=1)
        store.promote_champion("nodata", evaluation_id="ev-x", global_score=1, success_rate=1,
                               require_significant=True)


def test_cli_promote_require_significant_and_champions_column(tmp_path: Path) -> None:
    url = str(tmp_path / "p-store")
    s = artifactstore.open(url)
    try:
        add_eval(s, "champ", episodes(0.5, seed=20))
        add_eval(s, "same", episodes(0.5, seed=21))
        add_eval(s, "better", episodes(1.5, seed=22))
        s.promote_champion("champ", evaluation_id="eval-champ", global_score=0.1, success_rate=0.1)
    finally:
        s.close()
    runner = CliRunner()
    r = runner.invoke(cli, ["--store", url, "promote", "eval-same", "--require-significant"])
    assert r.exit_code == 1 and "not promoted: reward not significantly better than champ" in r.stderr
    r = runner.invoke(cli, ["--store", url, "promote", "eval-better", "--require-significant"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(cli, ["--store", url, "champions"])
    assert "evidence" in r.stdout.splitlines()[0] and "report " in r.stdout.splitlines()[1]


def test_facade_require_significant(tmp_path: Path) -> None:
    from artifactstore.compat import ArtifactManager, ArtifactManagerConfig

    m = ArtifactManager(ArtifactManagerConfig(base_path=str(tmp_path / "seed")))
    try:
        m.export_episode_data(episodes(0.5, seed=23), "csv", "champ", "e-champ")
        m.record_evaluation_history("e-champ", "champ", 0.5, 0.5)
        m.export_episode_data(episodes(0.5, seed=24), "csv", "same", "e-same")
        m.record_evaluation_history("e-same", "same", 0.9, 0.9)
        assert m.record_champion_progression("champ", 0.5, 0.5) is not None
        assert m.record_champion_progression("same", 0.9, 0.9, evaluation_id="e-same",
                                             require_significant=True) is None
        assert m.get_champion_progression()[0].model_id == "champ"
    finally:
        m.close()
