"""The seed-compatible facade: ``ArtifactManager`` and its configuration and records.

Code written against the seed's ``artifact_manager`` module works with only its
import changed::

    from artifactstore.compat import ArtifactManager, ArtifactType
"""

from __future__ import annotations

from ..models import ArtifactType
from .config import (
    ArtifactManagerConfig,
    ArtifactMetadata,
    ChampionProgression,
    CompressionType,
    EvaluationHistory,
    StoragePolicy,
    load_config,
)
from .manager import ARCHIVE_TYPE, ArtifactManager, create_artifact_manager

__all__ = [
    "ARCHIVE_TYPE",
    "ArtifactManager",
    "ArtifactManagerConfig",
    "ArtifactMetadata",
    "ArtifactType",
    "ChampionProgression",
    "CompressionType",
    "EvaluationHistory",
    "StoragePolicy",
    "create_artifact_manager",
    "load_config",
]
