"""Configuration and records of the seed-compatible :class:`~artifactstore.compat.ArtifactManager`.

Everything here is plain data: the seed's enums, its ``ArtifactManagerConfig``
(with every field the seed documents, plus where the store and catalog live),
and the dataclasses the seed's queries return, each built from the store's own
records (:class:`~artifactstore.models.Artifact`, ``EvaluationRecord``,
``ChampionRecord``).
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import logging
import os
import tomllib
from dataclasses import dataclass, field
from enum import Enum, StrEnum
from pathlib import Path
from typing import Any

from ..errors import InvalidInputError, SourceNotFoundError
from ..models import Artifact, ArtifactType, ChampionRecord, EvaluationRecord, pseudo_member

__all__ = [
    "DEFAULT_DATABASE_NAME",
    "ArtifactManagerConfig",
    "ArtifactMetadata",
    "ChampionProgression",
    "CompressionType",
    "EvaluationHistory",
    "StoragePolicy",
    "load_config",
    "seed_timestamp",
]

log = logging.getLogger("artifactstore.compat")

#: File name of the catalog inside ``base_path`` when ``database_path`` is not given.
DEFAULT_DATABASE_NAME = "registry.db"


class CompressionType(StrEnum):
    """The seed's compression types, plus ZSTD. Each value is the name of the store codec used."""

    NONE = "none"
    GZIP = "gzip"
    ZIP = "zip"
    TAR_GZ = "tar.gz"
    ZSTD = "zstd"


class StoragePolicy(StrEnum):
    """The seed's retention policies; each maps to the store's retention policy of the same name.

    - ``KEEP_ALL``: never delete automatically (auto cleanup is off).
    - ``KEEP_TOP_K``: keep the best ``max_artifacts_per_type`` of each type (by evaluation score, then newest).
    - ``KEEP_RECENT``: keep what is younger than ``max_age_days``.
    - ``KEEP_CHAMPIONS``: keep every champion's artifacts (and what is younger than ``max_age_days``).

    The configured policy applies to auto cleanup and to
    :meth:`ArtifactManager.cleanup_artifacts` called without ``max_age_days``;
    an explicit ``max_age_days`` applies the seed's age rule instead, whatever
    the policy. ``keep_champions=True`` (the default) always adds ``keep_champions``.
    Policies compose by union: an artifact goes only when no active policy keeps it.
    """

    KEEP_ALL = "keep_all"
    KEEP_TOP_K = "keep_top_k"
    KEEP_RECENT = "keep_recent"
    KEEP_CHAMPIONS = "keep_champions"


def _enum(cls: type[Enum], value: Any, name: str) -> Any:
    if isinstance(value, cls):
        return value
    text = getattr(value, "value", value)
    if isinstance(text, str):
        for member in cls:
            if text.lower() in (member.value, member.name.lower()):
                return member
    raise InvalidInputError(f"{name} must be one of {[m.value for m in cls]}, got {value!r}")


@dataclass
class ArtifactManagerConfig:
    """Configuration of an :class:`~artifactstore.compat.ArtifactManager`.

    The seed's fields keep their meaning; where they differ from the seed it is said here.

    - ``base_path``: the store's root folder (used when ``store_url`` is not set).
    - ``database_path``: the SQLite catalog file, ``<base_path>/registry.db`` when
      not given (``artifacts/registry.db`` with the defaults, as in the seed's
      configuration block). A store made before this default, whose catalog is
      ``<base_path>/catalog.db``, keeps using that file. The catalog is an index:
      it is rebuilt from the store if lost. It holds the seed's tables as
      read-only SQL views (see :meth:`ArtifactManager.ensure_seed_views`).
    - ``compression_enabled``/``default_compression``: compression on with the
      seed's default ``CompressionType.GZIP`` stores every artifact as a gzip
      blob (``<sha256>.gz``, readable with :func:`gzip.open`), as the seed did.
      ``default_compression=None`` uses the store's ``auto`` codec instead
      (what :func:`artifactstore.open` does): zstd only for what compresses,
      video and other compressed formats stored as they are.
    - ``storage_policy``, ``max_artifacts_per_type``, ``max_age_days``: see
      :class:`StoragePolicy`.
    - ``auto_cleanup_enabled``: apply the policy while writing, at a bounded
      cost: every ``auto_cleanup_check_every`` writes the manager counts (one
      indexed SQL count) the artifacts of the types just written, and runs a
      cleanup only when a count exceeds ``max_artifacts_per_type`` (or the count
      left by the previous cleanup) by a margin of a tenth of the limit.
    - ``backup_enabled``/``backup_interval_hours``/``backup_url``: the backup
      mechanism is :func:`artifactstore.sync.sync` (``artifactstore sync`` on
      the command line) to the store at ``backup_url``. Without a ``backup_url``
      nothing is backed up.
    - ``store_url``/``catalog_url``: any store URL (``s3://bucket/prefix``...)
      and catalog URL (``postgresql://...``), overriding ``base_path`` and
      ``database_path``. ``storage_options`` go to the backend.
    """

    base_path: str = "artifacts"
    database_path: str | None = None
    compression_enabled: bool = True
    default_compression: CompressionType | None = CompressionType.GZIP
    storage_policy: StoragePolicy = StoragePolicy.KEEP_TOP_K
    max_artifacts_per_type: int = 100
    max_age_days: float = 30
    auto_cleanup_enabled: bool = True
    backup_enabled: bool = True
    backup_interval_hours: float = 24
    store_url: str | None = None
    catalog_url: str | None = None
    backup_url: str | None = None
    auto_cleanup_check_every: int = 25
    storage_options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.base_path = os.fspath(self.base_path)
        if self.database_path is None:
            self.database_path = os.path.join(self.base_path, DEFAULT_DATABASE_NAME)
        else:
            self.database_path = os.fspath(self.database_path)
        if self.default_compression is not None:
            self.default_compression = _enum(CompressionType, self.default_compression, "default_compression")
        self.storage_policy = _enum(StoragePolicy, self.storage_policy, "storage_policy")
        for name in ("max_artifacts_per_type", "auto_cleanup_check_every"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < (1 if name == "auto_cleanup_check_every" else 0):
                raise InvalidInputError(f"{name} must be a non-negative integer, got {v!r}")
        for name in ("max_age_days", "backup_interval_hours"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or isinstance(v, bool) or v < 0:
                raise InvalidInputError(f"{name} must be a non-negative number, got {v!r}")
        if not isinstance(self.storage_options, dict):
            raise InvalidInputError("storage_options must be a mapping")

    @classmethod
    def from_mapping(cls, data: dict[str, Any]) -> ArtifactManagerConfig:
        """A config from a mapping of field names; unknown keys are logged and ignored (as the seed did)."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            log.warning("ignoring unknown ArtifactManagerConfig key(s): %s", ", ".join(unknown))
        return cls(**{k: v for k, v in data.items() if k in names})

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["default_compression"] = None if self.default_compression is None else self.default_compression.value
        d["storage_policy"] = self.storage_policy.value
        return d


def load_config(path: str | os.PathLike[str]) -> ArtifactManagerConfig:
    """Read an :class:`ArtifactManagerConfig` from a JSON or TOML file.

    TOML is recognised by the ``.toml`` suffix; the keys may sit at the top level
    or in an ``[artifact_manager]`` (or ``[artifactstore]``) table.
    """
    p = Path(path)
    if not p.is_file():
        raise SourceNotFoundError(str(path))
    text = p.read_text(encoding="utf-8")
    try:
        data: Any = tomllib.loads(text) if p.suffix.lower() == ".toml" else json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInputError(f"cannot parse config file {p}: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidInputError(f"config file {p} must hold an object/table of settings")
    for table in ("artifact_manager", "artifactstore"):
        if isinstance(data.get(table), dict):
            data = data[table]
            break
    return ArtifactManagerConfig.from_mapping(data)


# --- records -------------------------------------------------------------------------------


_PSEUDO: dict[tuple[type[Enum], str], Any] = {}


def _member(cls: type[Enum], value: str) -> Any:
    try:
        return cls(value)
    except ValueError:
        key = (cls, value)
        if key not in _PSEUDO:
            _PSEUDO[key] = pseudo_member(cls, value)
        return _PSEUDO[key]


def _type_member(value: str) -> ArtifactType:
    """The :class:`ArtifactType` of a stored type: a member, or a member-like instance for a custom type."""
    return _member(ArtifactType, value)  # type: ignore[no-any-return]


def _compression_member(codec: str) -> CompressionType:
    """The :class:`CompressionType` of a stored codec (member-like for a plugin's codec)."""
    return _member(CompressionType, codec)  # type: ignore[no-any-return]


def seed_timestamp(ts: _dt.datetime) -> str:
    """A store timestamp as the seed wrote them: ISO 8601 in naive local time, like
    ``datetime.now().isoformat()``, so ``datetime.fromisoformat(x)`` compares with ``datetime.now()``.

    The store keeps UTC; the aware UTC value is ``datetime.fromisoformat(x).astimezone(timezone.utc)``.
    """
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=_dt.UTC)
    return ts.astimezone().replace(tzinfo=None).isoformat()


@dataclass
class ArtifactMetadata:
    """One row of the seed's ``artifacts`` table, built from an :class:`~artifactstore.models.Artifact`.

    - ``artifact_type`` is an :class:`ArtifactType`; a custom type (``"archive"``, a
      plugin's) comes as a member-like :class:`ArtifactType` instance whose
      ``.value`` is the type's string (it is not listed when iterating the enum).
    - ``file_path`` is the stored blob. On a local store it is a real, readable
      file: the artifact's own bytes when ``compression_type`` is ``NONE``, else
      the *compressed* blob (as the seed's ``.gz`` files were). Treat it as
      read-only: identical content is stored once, so a blob may be shared by
      several artifacts. On a remote store it is the blob's URL. Use
      :meth:`ArtifactManager.retrieve_artifact` to get the original bytes.
    - ``compressed_size`` is the blob's size, ``None`` for an uncompressed blob (as in the seed).
    - ``compression_type`` is the codec the blob is actually stored with.
      Because of deduplication it can differ from what the write asked for when
      the same bytes were stored before with another codec.
    - ``compression_type`` is a :class:`CompressionType` (member-like for a plugin's codec).
    - ``checksum`` is the SHA-256 of the original bytes; ``created_at`` is ISO 8601 in
      naive local time, as the seed wrote it (see :func:`seed_timestamp`).
    - ``tags`` come back in the order they were given.
    - ``name`` and ``version`` (not in the seed) are the artifact's versioned name in the store.
    """

    artifact_id: str
    artifact_type: ArtifactType
    file_path: str
    original_size: int
    compressed_size: int | None = None
    compression_type: CompressionType = CompressionType.NONE
    checksum: str = ""
    created_at: str = ""
    model_id: str | None = None
    evaluation_id: str | None = None
    suite_name: str | None = None
    map_name: str | None = None
    episode_id: str | None = None
    tags: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    name: str = ""
    version: int = 0

    @classmethod
    def from_artifact(cls, art: Artifact, file_path: str) -> ArtifactMetadata:
        return cls(
            artifact_id=art.id,
            artifact_type=_type_member(art.artifact_type),
            file_path=file_path,
            original_size=art.size,
            compressed_size=None if art.codec == "none" else art.stored_size,
            compression_type=_compression_member(art.codec),
            checksum=art.sha256,
            created_at=seed_timestamp(art.created_at),
            model_id=art.model_id,
            evaluation_id=art.evaluation_id,
            suite_name=art.suite_name,
            map_name=art.map_name,
            episode_id=art.episode_id,
            tags=list(art.tags),
            metadata=dict(art.metadata),
            name=art.name,
            version=art.version,
        )


@dataclass
class EvaluationHistory:
    """One row of the seed's ``evaluation_history`` table.

    ``timestamp`` is ISO 8601 in naive local time, as the seed wrote it (:func:`seed_timestamp`).
    """

    evaluation_id: str
    model_id: str
    timestamp: str
    global_score: float
    success_rate: float
    is_champion: bool = False
    champion_rank: int | None = None
    artifacts: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_record(cls, rec: EvaluationRecord) -> EvaluationHistory:
        return cls(
            evaluation_id=rec.evaluation_id,
            model_id=rec.model_id,
            timestamp=seed_timestamp(rec.timestamp),
            global_score=rec.global_score,
            success_rate=rec.success_rate,
            is_champion=bool(rec.is_champion),
            champion_rank=rec.champion_rank,
            artifacts=list(rec.artifacts),
            metadata=dict(rec.metadata),
        )


@dataclass
class ChampionProgression:
    """One row of the seed's ``champion_progression`` table.

    ``previous_champion`` is the *model id* of the champion this one replaced,
    as the seed's callers pass it; ``champion_id`` is the store's id of this
    link of the chain.
    """

    champion_id: str
    model_id: str
    timestamp: str
    global_score: float
    success_rate: float
    previous_champion: str | None = None
    improvement_metrics: dict[str, Any] = field(default_factory=dict)
    artifacts: list[str] = field(default_factory=list)

    @classmethod
    def from_record(cls, rec: ChampionRecord) -> ChampionProgression:
        return cls(
            champion_id=rec.champion_id,
            model_id=rec.model_id,
            timestamp=seed_timestamp(rec.timestamp),
            global_score=rec.global_score,
            success_rate=rec.success_rate,
            previous_champion=rec.previous_model_id,
            improvement_metrics=dict(rec.improvement_metrics),
            artifacts=list(rec.artifacts),
        )
