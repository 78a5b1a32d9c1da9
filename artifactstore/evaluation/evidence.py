"""Promotion with evidence: does a challenger's episode data beat the champion's?

``store.promote_champion(..., require_significant=True)`` calls
:func:`champion_evidence` before it promotes. The answer comes from an
evaluation report (:func:`artifactstore.evaluation.build_report`) over exactly
two models, the challenger and the current champion: the challenger is
significantly better when the 95% stratified-bootstrap interval of the
difference of the mean metric (challenger minus champion) lies above zero.

Which episodes: the challenger's ``evaluation_id`` when given (else its newest
evaluation with episode data), and the champion record's ``evaluation_id``
(else the champion model's newest). With no champion yet there is nothing to
beat: the evidence says so and the promotion goes ahead without a report.
Needs the ``[report]`` extra.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import InvalidInputError

if TYPE_CHECKING:
    from ..store import ArtifactStore
    from .report import Report

__all__ = ["Evidence", "champion_evidence", "record_evidence"]


@dataclass
class Evidence:
    """The outcome of comparing a challenger with the current champion.

    ``significant`` is the decision; ``reason`` says it in one sentence.
    ``change`` / ``ci_low`` / ``ci_high`` are the difference of the mean metric
    (positive: the challenger is better, also when lower is better) and its 95%
    interval; ``report`` is the two-model report they come from (``None`` when
    there was no champion to compare with).
    """

    significant: bool
    reason: str
    model_id: str
    champion_model_id: str | None
    metric: str
    change: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    probability_of_improvement: float | None = None
    report: Report | None = None

    def to_dict(self, report_artifact_id: str | None = None) -> dict[str, Any]:
        """The evidence as stored in the champion record's ``metrics["evidence"]``."""
        return {"significant": self.significant, "reason": self.reason, "metric": self.metric,
                "champion_model_id": self.champion_model_id, "change": self.change, "ci_low": self.ci_low,
                "ci_high": self.ci_high, "probability_of_improvement": self.probability_of_improvement,
                "report_artifact_id": report_artifact_id}


def champion_evidence(store: ArtifactStore, model_id: str, *, evaluation_id: str | None = None,
                      metric: str = "reward", lower_is_better: bool = False, seed: int = 0,
                      resamples: int = 10000) -> Evidence:
    """Compare ``model_id`` (its ``evaluation_id`` when given) with the store's champion.

    Raises :class:`~artifactstore.errors.NoEpisodeDataError` /
    :class:`~artifactstore.errors.ReportMetricError` when either side has no
    usable episode data for ``metric``: without data there is no evidence,
    and the caller is told so rather than promoted or refused silently.
    """
    from .report import build_report

    champ = store.champion()
    if champ is None:
        return Evidence(True, "no champion yet: nothing to beat", model_id, None, metric)
    if champ.model_id == model_id:
        return Evidence(False, f"{model_id} is already the champion", model_id, champ.model_id, metric)
    if evaluation_id is not None and champ.evaluation_id is not None:
        rep = build_report(store, evaluations=[evaluation_id, champ.evaluation_id], metric=metric, seed=seed,
                           resamples=resamples, lower_is_better=lower_is_better)
    else:
        rep = build_report(store, models=[model_id, champ.model_id], metric=metric, seed=seed,
                           resamples=resamples, lower_is_better=lower_is_better)
    models = {r["model_id"] for r in rep.data["leaderboard"]}
    missing = sorted({model_id, champ.model_id} - models)
    if missing:
        from ..errors import NoEpisodeDataError

        raise NoEpisodeDataError(f"no usable episode data for {', '.join(missing)} ({metric!r}): "
                                 "cannot judge the promotion")
    ch = next((c for c in rep.data["summary"]["challengers"] if c["model_id"] == model_id), None)
    if ch is None:  # the report's champion is the store's champion whenever both are in it
        raise InvalidInputError(f"the report did not compare {model_id} with {champ.model_id}")
    sig = ch["ci_low"] is not None and ch["ci_low"] > 0
    better = "higher" if not lower_is_better else "lower"
    reason = (f"{metric} {'significantly' if sig else 'not significantly'} better than {champ.model_id} "
              f"({better} is better): change {ch['change']:+.4g}, 95% CI [{ch['ci_low']:+.4g}, "
              f"{ch['ci_high']:+.4g}]")
    return Evidence(sig, reason, model_id, champ.model_id, metric, ch["change"], ch["ci_low"], ch["ci_high"],
                    ch["probability_of_improvement"], rep)


def record_evidence(store: ArtifactStore, ev: Evidence) -> tuple[dict[str, Any], list[str]]:
    """Store the evidence's report (type ``report``, with its figures) and return what the champion
    record carries: ``(metrics["evidence"], [report artifact id])`` (no id when there was no report)."""
    if ev.report is None:
        return ev.to_dict(None), []
    report_id = ev.report.save(store)["report"].id
    return ev.to_dict(report_id), [report_id]
