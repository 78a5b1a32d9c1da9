"""The main job: a small, realistic evaluation campaign on a store.

Several models are evaluated on several suites and maps. Each evaluation
exports its episode results (CSV and JSON), stores its report, failure videos
(incompressible bytes) and traces, records its history with a
reproducibility record, and competes for champion. One evaluation is re-run
with the same seed, so its outputs deduplicate. The campaign ends with a gc
dry run, a summary, and a champion-progression plot.
"""

from __future__ import annotations

import json
import os
import random
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .compat import ArtifactManager, ArtifactManagerConfig
from .errors import MissingDependencyError
from .evaluation.repro import capture_repro
from .gc import plan as gc_plan
from .models import Artifact, ArtifactType, ChampionRecord, StoreStats
from .store import ArtifactStore

__all__ = ["DemoSummary", "run_demo"]

MODELS = ("baseline-ppo", "ppo-lstm", "sac-aug", "dreamer-v3", "ppo-lstm-ft", "sac-aug-v2")
SUITES = {"base": ("loop_empty", "small_loop", "zigzag"), "hard": ("udem1", "4way", "loop_obstacles")}
#: How good each model really is (the campaign's hidden truth).
SKILL = {"baseline-ppo": 0.55, "ppo-lstm": 0.68, "sac-aug": 0.63, "dreamer-v3": 0.74, "ppo-lstm-ft": 0.72,
         "sac-aug-v2": 0.79}


@dataclass
class DemoSummary:
    """What the campaign did and what the store holds afterwards."""

    evaluations: int
    promotions: int
    episodes: int
    stats: StoreStats
    champions: list[ChampionRecord]
    gc_would_delete: int
    gc_would_free: int
    plot: Path | None
    seconds: float
    notes: list[str] = field(default_factory=list)
    #: The retention policies of the gc dry run.
    gc_policies: list[str] = field(default_factory=list)
    #: The store's statistics before this run (``stats`` minus these: what this run added).
    stats_before: StoreStats | None = None
    #: The champion plot, stored as a ``plot`` artifact (``plot`` is a copy of it, if one was asked for).
    plot_artifact: Artifact | None = None
    #: The evaluation report (leaderboard with CIs, per-map table, comparisons), stored as a ``report``.
    report_artifact: Artifact | None = None
    #: The report as one self-contained HTML file (in ``out_dir``, when one was given).
    report_html: Path | None = None
    #: The model the report recommends (its summary's champion or promoted challenger).
    report_summary: dict[str, Any] = field(default_factory=dict)


def _episodes(rng: random.Random, model: str, evaluation_id: str, per_map: int) -> list[dict[str, Any]]:
    rows = []
    skill = SKILL[model]
    for suite, maps in SUITES.items():
        difficulty = 0.0 if suite == "base" else 0.12
        for m in maps:
            for k in range(per_map):
                p = max(0.02, min(0.98, skill - difficulty + rng.gauss(0, 0.05)))
                success = rng.random() < p
                steps = rng.randint(180, 500) if success else rng.randint(20, 300)
                rows.append({
                    "episode_id": f"{evaluation_id}-{suite}-{m}-{k:03d}",
                    "model_id": model, "suite": suite, "map_name": m, "seed": 1000 + k,
                    "success": success, "reward": round(p * steps / 100 + rng.gauss(0, 0.3), 4), "steps": steps,
                    "collisions": 0 if success else rng.randint(0, 3),
                    "lateral_deviation": round(abs(rng.gauss(0.05, 0.03)), 5),
                    "heading_error": round(abs(rng.gauss(2.0, 1.0)), 4),
                    "lap_time": round(steps * 0.05, 3) if success else None,
                    "termination": "completed" if success else rng.choice(["collision", "off_road", "timeout"]),
                })
    return rows


def _fake_video(rng: random.Random, size: int) -> bytes:
    # An MP4-shaped header followed by incompressible payload, as real H.264 video is.
    header = b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00isomiso2avc1mp41"
    return header + rng.randbytes(size - len(header))


def _trace(rng: random.Random, episode_id: str, steps: int) -> bytes:
    lines = []
    for t in range(steps):
        lines.append(json.dumps({
            "episode_id": episode_id, "t": t, "x": round(rng.random(), 4), "y": round(rng.random(), 4),
            "v": round(0.3 + rng.random() * 0.2, 4), "steer": round(rng.gauss(0, 0.2), 4),
            "event": "collision" if t == steps - 1 else None,
        }))
    return ("\n".join(lines) + "\n").encode()


def run_demo(
    store: ArtifactStore,
    out_dir: str | os.PathLike[str] | None = None,
    *,
    models: int = 6,
    per_map: int = 25,
    seed: int = 7,
    plot: bool = True,
    report: bool = True,
    echo: Callable[[str], None] = print,
) -> DemoSummary:
    """Run the campaign on ``store``; store the plot as a ``plot`` artifact and the evaluation report as
    ``report`` artifacts (and write copies, ``champion_progression.png`` and ``report.html``, into
    ``out_dir`` when it is given)."""
    t0 = time.perf_counter()
    before = store.stats()
    # The store's own auto codec (zstd where it pays, raw for video), not the seed's gzip default.
    manager = ArtifactManager(ArtifactManagerConfig(default_compression=None), store=store)
    notes: list[str] = []
    chosen = MODELS[: max(1, min(models, len(MODELS)))]
    runs = [(m, i, "") for i, m in enumerate(chosen)]
    runs.append((chosen[0], 0, "-rerun"))  # the first evaluation again, same seed: its outputs deduplicate
    n_eval = promotions = n_episodes = 0
    first_runs: list[str] = []  # one evaluation per model (the re-run repeats the baseline's episodes)
    env_config = {"simulator": "gym-duckietown", "frame_skip": 3, "camera": [640, 480], "domain_rand": True}
    repro_base = capture_repro(parameters={"episodes_per_map": per_map})
    with tempfile.TemporaryDirectory(prefix="artifactstore-demo-") as tmp_s:
        tmp = Path(tmp_s)
        for model, run_seed, suffix in runs:
            erng = random.Random(seed * 1000 + run_seed)
            evaluation_id = f"eval-{model}-s{run_seed}"
            rows = _episodes(erng, model, evaluation_id, per_map)
            if not suffix:
                first_runs.append(evaluation_id)
            evaluation_id += suffix
            n_episodes += len(rows)
            ids = manager.export_episode_data(rows, format_type="both", model_id=model, evaluation_id=evaluation_id,
                                              suite_name="all", metadata={"seed": run_seed})
            success = sum(r["success"] for r in rows) / len(rows)
            reward = sum(r["reward"] for r in rows) / len(rows)
            score = round(0.7 * success + 0.3 * min(1.0, reward / 4), 4)
            report_file = tmp / "evaluation_report.json"
            report_file.write_text(json.dumps({
                "model_id": model, "evaluation_id": evaluation_id, "global_score": score, "success_rate": success,
                "per_map": {m: sum(r["success"] for r in rows if r["map_name"] == m) / per_map
                            for maps in SUITES.values() for m in maps},
            }, indent=2, sort_keys=True))
            report_id = manager.store_artifact(report_file, ArtifactType.EVALUATION_RESULT, model_id=model,
                                               evaluation_id=evaluation_id, tags=["report"])
            cfg = tmp / "env_config.json"
            cfg.write_text(json.dumps(env_config, sort_keys=True))  # identical for every run: stored once
            cfg_id = manager.store_artifact(cfg, ArtifactType.CONFIGURATION, model_id=model,
                                            evaluation_id=evaluation_id)
            failure_ids = []
            failures = [r for r in rows if not r["success"]][:2]
            for r in failures:
                vid = tmp / f"{r['episode_id']}.mp4"
                vid.write_bytes(_fake_video(erng, 192 * 1024))
                failure_ids.append(manager.store_video_with_compression(
                    vid, model_id=model, episode_id=r["episode_id"], metadata={"failure_type": r["termination"]}))
                tr = tmp / f"{r['episode_id']}.jsonl"
                tr.write_bytes(_trace(erng, r["episode_id"], r["steps"]))
                failure_ids.append(manager.store_trace_file(tr, model_id=model, episode_id=r["episode_id"],
                                                            metadata={"failure_type": r["termination"]}))
            linked = [report_id, cfg_id, *ids.values(), *failure_ids]
            store.record_evaluation(evaluation_id, model, global_score=score, success_rate=success,
                                    metrics={"mean_reward": reward, "episodes": len(rows)}, artifacts=linked,
                                    repro={**repro_base, "seeds": [run_seed]})
            n_eval += 1
            champ = store.promote_champion(model, evaluation_id=evaluation_id, global_score=score,
                                           success_rate=success, artifacts=[report_id], only_if_better=True)
            if champ is not None:
                promotions += 1
            echo(f"  {evaluation_id:<28} score {score:.3f}  success {success:.1%}"
                 + ("  -> new champion" if champ else ""))
    policies = ["keep_top_k:k=8", "keep_champions"]
    plan = gc_plan(store, policies)
    plot_path: Path | None = None
    plot_art: Artifact | None = None
    if plot:
        try:
            from .evaluation.plots import plot_champions

            with tempfile.TemporaryDirectory(prefix="artifactstore-demo-") as tmp_s:
                png = plot_champions(store, Path(tmp_s) / "champion_progression.png")
                plot_art = store.put(png, name="demo/champion_progression.png", artifact_type="plot",
                                     tags=["demo"], codec="none")
            if out_dir is not None:
                Path(out_dir).mkdir(parents=True, exist_ok=True)
                plot_path = store.get(plot_art, Path(out_dir) / "champion_progression.png")
        except MissingDependencyError as exc:
            notes.append(str(exc))
    report_art: Artifact | None = None
    report_html: Path | None = None
    report_summary: dict[str, Any] = {}
    if report:
        try:
            report_art, report_html, report_summary = _report(store, first_runs, out_dir, seed)
        except MissingDependencyError as exc:
            notes.append(str(exc))
    return DemoSummary(
        evaluations=n_eval, promotions=promotions, episodes=n_episodes, stats=store.stats(),
        champions=store.champion_history(), gc_would_delete=len(plan.delete), gc_would_free=plan.freed_bytes,
        plot=plot_path, seconds=time.perf_counter() - t0, notes=notes, gc_policies=policies,
        stats_before=before, plot_artifact=plot_art, report_artifact=report_art, report_html=report_html,
        report_summary=report_summary,
    )


def _report(store: ArtifactStore, evaluations: list[str], out_dir: str | os.PathLike[str] | None,
            seed: int) -> tuple[Artifact, Path | None, dict[str, Any]]:
    """The campaign's evaluation report: stored (JSON, figures, and the HTML file) and, with ``out_dir``,
    written there as ``report.html``."""
    from .evaluation.report import build_report

    rep = build_report(store, evaluations=evaluations, metric="reward", cost="steps", seed=seed, resamples=2000)
    saved = rep.save(store)
    html_path: Path | None = None
    with tempfile.TemporaryDirectory(prefix="artifactstore-demo-") as tmp_s:
        html = rep.to_html(Path(tmp_s) / "report.html")
        html_art = store.put(html, name="demo/report.html", artifact_type="report", tags=["demo", "report"],
                             metadata={"report_artifact_id": saved["report"].id})
        if out_dir is not None:
            Path(out_dir).mkdir(parents=True, exist_ok=True)
            html_path = store.get(html_art, Path(out_dir) / "report.html")
    return html_art, html_path, dict(rep.data["summary"])
