"""Plain records returned by the store. Frozen, hashable, JSON-friendly."""

from __future__ import annotations

import copy
import datetime as _dt
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["Artifact", "ArtifactType", "ChampionRecord", "EvaluationRecord", "StoreStats", "VerifyReport",
           "pseudo_member"]

import re
from enum import Enum


class ArtifactType(str, Enum):
    """The seed's ten artifact types. Any other string is accepted as a type too."""

    EVALUATION_RESULT = "evaluation_result"
    EPISODE_DATA = "episode_data"
    VIDEO = "video"
    TRACE = "trace"
    REPORT = "report"
    MODEL_CHECKPOINT = "model_checkpoint"
    CONFIGURATION = "configuration"
    LOG = "log"
    PLOT = "plot"
    HEATMAP = "heatmap"

    def __str__(self) -> str:
        return self.value


def pseudo_member(cls: type[Enum], value: str) -> Any:
    """A member-like instance of the string enum ``cls`` for a ``value`` it does not list (a
    custom artifact type such as ``"archive"``, a plugin's codec): ``.value`` and ``.name``
    work and it equals its string, while ``cls(value)`` still refuses the value, so the enum
    itself is unchanged. Made as the ``enum`` module documents for pseudo-members (``_name_``
    and ``_value_`` set on a new instance)."""
    member = str.__new__(cls, value)  # type: ignore[call-overload,type-var]
    member._name_ = re.sub(r"\W", "_", value).upper()
    member._value_ = value
    return member


@dataclass(frozen=True)
class Artifact:
    """One stored artifact version.

    ``sha256`` and ``size`` describe the original bytes; ``stored_size`` is
    what the (possibly shared, deduplicated) blob occupies in the backend.
    """

    id: str
    name: str
    version: int
    artifact_type: str
    sha256: str
    size: int
    stored_size: int
    codec: str
    created_at: _dt.datetime
    model_id: str | None = None
    evaluation_id: str | None = None
    suite_name: str | None = None
    map_name: str | None = None
    episode_id: str | None = None
    tags: tuple[str, ...] = ()
    metadata: dict[str, Any] = field(default_factory=dict, hash=False, compare=True)
    blob_key: str = ""

    @property
    def ref(self) -> str:
        """The versioned ref of this artifact, e.g. ``report.json@v2``."""
        return f"{self.name}@v{self.version}"

    def to_dict(self) -> dict[str, Any]:
        # Written out by hand: dataclasses.asdict deep-copies recursively and was 8% of a small put.
        return {
            "id": self.id, "name": self.name, "version": self.version, "artifact_type": self.artifact_type,
            "sha256": self.sha256, "size": self.size, "stored_size": self.stored_size, "codec": self.codec,
            "created_at": self.created_at.isoformat(), "model_id": self.model_id,
            "evaluation_id": self.evaluation_id, "suite_name": self.suite_name, "map_name": self.map_name,
            "episode_id": self.episode_id, "tags": list(self.tags), "metadata": copy.deepcopy(self.metadata),
            "blob_key": self.blob_key,
        }


@dataclass(frozen=True)
class VerifyReport:
    """Outcome of :meth:`ArtifactStore.verify`: lists of artifact ids.

    ``corrupt`` and ``missing`` are what the check found; with ``repair``, ``repaired``
    lists those restored from a replica and ``needs_reput`` those still broken (``ok`` is
    true when nothing is left broken)."""

    checked: list[str]
    corrupt: list[str]
    missing: list[str]
    repaired: list[str] = field(default_factory=list)
    needs_reput: list[str] = field(default_factory=list)
    repair: bool = False

    @property
    def ok(self) -> bool:
        return not (set(self.corrupt) | set(self.missing)) - set(self.repaired)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"checked": self.checked, "corrupt": self.corrupt, "missing": self.missing, "ok": self.ok}
        if self.repair:
            d.update(repaired=self.repaired, needs_reput=self.needs_reput)
        return d


@dataclass(frozen=True)
class StoreStats:
    """Aggregate figures computed in SQL by the catalog."""

    total_artifacts: int
    total_size_bytes: int
    unique_blobs: int
    unique_size_bytes: int
    stored_size_bytes: int
    artifacts_by_type: dict[str, int]
    artifacts_by_model: dict[str, int]
    bytes_by_codec: dict[str, int]

    @property
    def dedup_saved_bytes(self) -> int:
        return self.total_size_bytes - self.unique_size_bytes

    @property
    def compression_saved_bytes(self) -> int:
        return self.unique_size_bytes - self.stored_size_bytes

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["dedup_saved_bytes"] = self.dedup_saved_bytes
        d["compression_saved_bytes"] = self.compression_saved_bytes
        return d


@dataclass(frozen=True)
class EvaluationRecord:
    """One evaluation of a model: scores, metrics, linked artifacts and how to reproduce it."""

    evaluation_id: str
    model_id: str
    timestamp: _dt.datetime
    global_score: float
    success_rate: float
    is_champion: bool = False
    champion_rank: int | None = None
    metrics: dict[str, Any] = field(default_factory=dict, hash=False)
    artifacts: tuple[str, ...] = ()
    metadata: dict[str, Any] = field(default_factory=dict, hash=False)
    repro: dict[str, Any] = field(default_factory=dict, hash=False)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["timestamp"] = self.timestamp.isoformat()
        d["artifacts"] = list(self.artifacts)
        return d


@dataclass(frozen=True)
class ChampionRecord:
    """One link of the champion chain; ``previous_champion`` is the id of the record it replaced."""

    champion_id: str
    seq: int
    model_id: str
    evaluation_id: str | None
    timestamp: _dt.datetime
    global_score: float
    success_rate: float
    previous_champion: str | None = None
    previous_model_id: str | None = None
    improvement_metrics: dict[str, Any] = field(default_factory=dict, hash=False)
    metrics: dict[str, Any] = field(default_factory=dict, hash=False)
    artifacts: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["timestamp"] = self.timestamp.isoformat()
        d["artifacts"] = list(self.artifacts)
        return d
