"""The built-in retention policies: keep_all, keep_top_k, keep_recent, keep_champions."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from ..errors import InvalidInputError
from ..models import Artifact
from .base import RetentionContext, RetentionPolicy

__all__ = ["KeepAll", "KeepTopK", "KeepRecent", "KeepChampions"]


class KeepAll(RetentionPolicy):
    """Keep everything (the policy that never deletes)."""

    name = "keep_all"

    def keep(self, artifacts: Sequence[Artifact], context: RetentionContext) -> dict[str, str]:
        return {a.id: "keep_all" for a in artifacts}


class KeepTopK(RetentionPolicy):
    """Keep the best ``k`` artifacts of each type.

    Artifacts that belong to a recorded evaluation rank by that evaluation's
    global score (best first), then by recency; others rank by recency alone.
    """

    name = "keep_top_k"

    def __init__(self, k: int = 100, per: str = "artifact_type") -> None:
        if not isinstance(k, int) or k < 0:
            raise InvalidInputError(f"keep_top_k needs k >= 0, got {k!r}")
        if per not in ("artifact_type", "model_id", "name"):
            raise InvalidInputError("keep_top_k groups per 'artifact_type', 'model_id' or 'name'")
        self.k = k
        self.per = per

    def describe(self) -> str:
        return f"keep_top_k(k={self.k}, per={self.per})"

    def keep(self, artifacts: Sequence[Artifact], context: RetentionContext) -> dict[str, str]:
        groups: dict[str, list[Artifact]] = defaultdict(list)
        for a in artifacts:
            groups[str(getattr(a, self.per) or "")].append(a)
        out: dict[str, str] = {}
        scores = context.evaluation_scores
        for group, arts in groups.items():
            def rank(a: Artifact) -> tuple[int, float, float]:
                s = scores.get(a.evaluation_id or "")
                return (0 if s is not None else 1, -(s or 0.0), -a.created_at.timestamp())

            for i, a in enumerate(sorted(arts, key=rank)[: self.k]):
                how = "score" if scores.get(a.evaluation_id or "") is not None else "recency"
                out[a.id] = f"top {self.k} of {self.per} {group!r} by {how} (#{i + 1})"
        return out


class KeepRecent(RetentionPolicy):
    """Keep artifacts younger than ``max_age_days``."""

    name = "keep_recent"

    def __init__(self, max_age_days: float = 30) -> None:
        if not isinstance(max_age_days, (int, float)) or max_age_days < 0:
            raise InvalidInputError(f"keep_recent needs max_age_days >= 0, got {max_age_days!r}")
        self.max_age_days = float(max_age_days)

    def describe(self) -> str:
        return f"keep_recent(max_age_days={self.max_age_days:g})"

    def keep(self, artifacts: Sequence[Artifact], context: RetentionContext) -> dict[str, str]:
        cutoff = context.now - self.max_age_days * 86400
        return {
            a.id: f"younger than {self.max_age_days:g} days"
            for a in artifacts
            if a.created_at.timestamp() >= cutoff
        }


class KeepChampions(RetentionPolicy):
    """Keep every artifact linked to a champion, past or present, or tagged ``champion``."""

    name = "keep_champions"

    def keep(self, artifacts: Sequence[Artifact], context: RetentionContext) -> dict[str, str]:
        ids = context.champion_artifact_ids
        return {a.id: "champion artifact" for a in artifacts if a.id in ids or "champion" in a.tags}
