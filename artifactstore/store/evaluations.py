"""Evaluations and champions of :class:`~artifactstore.store.ArtifactStore`.

An evaluation record and a promotion are each one catalog transaction with its
journal batch (``records/``); a promotion compares with the current champion
inside its transaction, so of two workers finishing at once at most one wins.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from typing import Any

from ..catalog.base import JournalBatch
from ..errors import (
    ArtifactNotFoundError,
    InvalidNameError,
)
from ..ids import new_id
from ..models import Artifact, ChampionRecord, EvaluationRecord
from ..validation import (
    check_field,
    check_metadata,
    check_score,
    required_field,
)
from .core import StoreCore

__all__ = ["Evaluations"]

log = logging.getLogger("artifactstore")


class Evaluations(StoreCore):
    """Recording evaluations, promoting champions, and reading both back."""

    def _artifact_ids(self, artifacts: Iterable[str | Artifact], allow_unknown: bool = False) -> list[str]:
        # allow_unknown (the seed facade): a string that names no artifact is kept as given, a
        # "dangling" reference that `artifactstore history --json` lists under dangling_artifacts
        ids = []
        for a in artifacts or ():
            try:
                ids.append(self.resolve(a).id)
            except (ArtifactNotFoundError, InvalidNameError):
                if not allow_unknown or not isinstance(a, str):
                    raise
                ids.append(required_field("artifact id", a))
        return ids

    def record_evaluation(
        self,
        evaluation_id: str,
        model_id: str,
        *,
        global_score: float,
        success_rate: float,
        metrics: Mapping[str, Any] | None = None,
        artifacts: Iterable[str | Artifact] = (),
        metadata: Mapping[str, Any] | None = None,
        repro: Mapping[str, Any] | None = None,
        is_champion: bool = False,
        champion_rank: int | None = None,
        timestamp: float | None = None,
        allow_unknown_artifacts: bool = False,
    ) -> EvaluationRecord:
        """Record (or replace) an evaluation of ``model_id`` with its scores and linked artifacts.

        ``repro`` is a reproducibility record; :func:`artifactstore.capture_repro`
        fills in what it can find (git SHA, Python, packages...).
        ``artifacts`` must name stored artifacts (an unknown one raises
        :class:`~artifactstore.errors.ArtifactNotFoundError`) unless
        ``allow_unknown_artifacts``: then a string that names none is kept as given
        (a dangling reference, as the seed stored any string).
        """
        entry = {
            "kind": "evaluation",
            "evaluation_id": required_field("evaluation_id", evaluation_id),
            "model_id": required_field("model_id", model_id),
            "timestamp": time.time() if timestamp is None else float(timestamp),
            "global_score": check_score("global_score", global_score),
            "success_rate": check_score("success_rate", success_rate),
            "is_champion": bool(is_champion),
            "champion_rank": None if champion_rank is None else int(champion_rank),
            "metrics": check_metadata(metrics),
            "artifacts": self._artifact_ids(artifacts, allow_unknown_artifacts),
            "metadata": check_metadata(metadata),
            "repro": check_metadata(repro),
        }
        state: dict[str, Any] = {}

        def record() -> JournalBatch:
            return self.journal_batch(self.records, [dict(entry)], state)

        rec = self.catalog.upsert_evaluation(entry, before_commit=record)
        self.seal(state)
        return rec

    def evaluation(self, evaluation_id: str) -> EvaluationRecord:
        rec = self.catalog.get_evaluation(evaluation_id)
        if rec is None:
            raise ArtifactNotFoundError(evaluation_id, f"no evaluation {evaluation_id!r}")
        return rec

    def evaluations(self, model_id: str | None = None, *, champions_only: bool = False,
                    limit: int | None = None) -> list[EvaluationRecord]:
        """Recorded evaluations, newest first."""
        return self.catalog.evaluations(model_id, champions_only, limit)

    def promote_champion(
        self,
        model_id: str,
        *,
        evaluation_id: str | None = None,
        global_score: float,
        success_rate: float,
        metrics: Mapping[str, Any] | None = None,
        artifacts: Iterable[str | Artifact] = (),
        only_if_better: bool = True,
        improvement_metrics: Mapping[str, Any] | None = None,
        previous_model_id: str | None = None,
        require_significant: bool = False,
        evidence_metric: str = "reward",
        allow_unknown_artifacts: bool = False,
    ) -> ChampionRecord | None:
        """Make ``model_id`` the champion, atomically.

        With ``only_if_better`` the comparison with the current champion's
        global score happens inside the same transaction, so of two workers
        finishing at once at most one wins; a score that is not strictly better
        returns ``None`` (no exception). The previous champion is recorded and
        improvement metrics computed unless given. The champion's artifacts get
        the ``champion`` alias.

        With ``require_significant`` the challenger must also beat the current
        champion on its episode data: the 95% stratified-bootstrap interval of
        the difference of the mean ``evidence_metric`` must lie above zero
        (:func:`artifactstore.evaluation.evidence.champion_evidence`, needs the
        ``[report]`` extra). Otherwise nothing is written and ``None`` is
        returned. When it is promoted, the two-model report is stored (type
        ``report``), linked as one of the champion's artifacts, and the record's
        ``metrics["evidence"]`` carries the decision and ``report_artifact_id``.
        """
        model_id = required_field("model_id", model_id)
        gs = check_score("global_score", global_score)
        sr = check_score("success_rate", success_rate)
        eval_id = check_field("evaluation_id", evaluation_id)
        art_ids = self._artifact_ids(artifacts, allow_unknown_artifacts)  # see record_evaluation
        given_imp = check_metadata(improvement_metrics) if improvement_metrics is not None else None
        mets = check_metadata(metrics)
        if require_significant:
            # evaluation/ sits above the store; imported here, on demand, because the
            # judgement needs numpy/scipy/pyarrow (the [report] extra) and a whole report
            from ..evaluation.evidence import champion_evidence, record_evidence

            ev = champion_evidence(self.as_store(), model_id, evaluation_id=eval_id, metric=evidence_metric)
            if not ev.significant:
                log.info("not promoting %s: %s", model_id, ev.reason)
                return None
            entry, extra = record_evidence(self.as_store(), ev)
            art_ids = [*art_ids, *extra]
            mets = {**mets, "evidence": entry}

        def make_entry(cur: ChampionRecord | None) -> dict[str, Any] | None:
            if only_if_better and cur is not None and gs <= cur.global_score:
                return None
            imp = given_imp
            if imp is None:
                imp = {} if cur is None else {
                    "score_improvement": gs - cur.global_score,
                    "success_improvement": sr - cur.success_rate,
                    "relative_score_improvement": (gs - cur.global_score) / abs(cur.global_score)
                    if cur.global_score else None,
                }
            return {
                "kind": "champion", "champion_id": new_id(), "seq_no": (cur.seq + 1) if cur else 1,
                "model_id": model_id, "evaluation_id": eval_id, "timestamp": time.time(),
                "global_score": gs, "success_rate": sr,
                "previous_champion": cur.champion_id if cur else None,
                "previous_model_id": cur.model_id if cur else previous_model_id,
                "improvement_metrics": imp, "metrics": mets, "artifacts": art_ids,
            }

        def before_commit(entry: dict[str, Any], aliased: list[Artifact]) -> JournalBatch:
            # the catalog pointed the champion alias of each linked artifact at it: journal that too
            now = time.time()
            recs = [dict(entry)]
            recs += [{"kind": "alias", "name": a.name, "alias": "champion", "artifact_id": a.id, "at": now}
                     for a in aliased]
            return self.journal_batch(self.records, recs, state)

        state: dict[str, Any] = {}
        new, previous = self.catalog.promote(make_entry, before_commit)
        self.seal(state)
        if new is not None:
            self.registry.emit_champion_promoted(store=self.as_store(), champion=new, previous=previous)
        return new

    def champion(self) -> ChampionRecord | None:
        """The current champion, or ``None``."""
        return self.catalog.current_champion()

    def champion_history(self, limit: int | None = None, model_id: str | None = None) -> list[ChampionRecord]:
        """The champion chain, newest first."""
        return self.catalog.champion_history(limit, model_id)
