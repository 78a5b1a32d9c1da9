"""artifactstore: versioned, content-addressed storage for model-evaluation artifacts.

Quick start::

    import artifactstore
    with artifactstore.open("artifacts") as store:
        art = store.put("report.json", artifact_type="report", model_id="m1", tags=["final"])
        store.get(art.id, "copy.json")
"""

from __future__ import annotations

from ._version import __version__
from .backends.base import Backend, BlobWriter, ObjectInfo
from .codecs.base import Codec, Encoder
from .compat import (
    ArtifactManager,
    ArtifactManagerConfig,
    ArtifactMetadata,
    ChampionProgression,
    CompressionType,
    EvaluationHistory,
    StoragePolicy,
    create_artifact_manager,
)
from .errors import (
    ArtifactNotFoundError,
    ArtifactStoreError,
    IntegrityError,
    InvalidInputError,
    InvalidMetadataError,
    InvalidNameError,
    MissingDependencyError,
    PluginConflictError,
    PluginError,
    UnknownCodecError,
    UnknownSchemeError,
)
from .evaluation.repro import capture_repro
from .hookspecs import hookimpl
from .models import Artifact, ArtifactType, ChampionRecord, EvaluationRecord, StoreStats, VerifyReport
from .retention.base import RetentionContext, RetentionPolicy
from .store import ArtifactStore, open_store

open = open_store

__all__ = [
    "__version__",
    "open",
    "open_store",
    "ArtifactStore",
    "Artifact",
    "ArtifactType",
    "StoreStats",
    "VerifyReport",
    "EvaluationRecord",
    "ChampionRecord",
    "RetentionPolicy",
    "RetentionContext",
    "capture_repro",
    "ArtifactManager",
    "ArtifactManagerConfig",
    "ArtifactMetadata",
    "ChampionProgression",
    "CompressionType",
    "EvaluationHistory",
    "StoragePolicy",
    "create_artifact_manager",
    "Backend",
    "BlobWriter",
    "ObjectInfo",
    "Codec",
    "Encoder",
    "hookimpl",
    "ArtifactStoreError",
    "ArtifactNotFoundError",
    "IntegrityError",
    "InvalidInputError",
    "InvalidMetadataError",
    "InvalidNameError",
    "MissingDependencyError",
    "PluginConflictError",
    "PluginError",
    "UnknownCodecError",
    "UnknownSchemeError",
]
