"""artifactstore: versioned, content-addressed storage for model-evaluation artifacts.

Quick start::

    import artifactstore
    with artifactstore.open("artifacts") as store:
        art = store.put("report.json", artifact_type="report", model_id="m1", tags=["final"])
        store.get(art.id, "copy.json")
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__

if TYPE_CHECKING:  # the names as mypy and IDEs see them; at run time they load on first use
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

#: Public name -> module (relative to this package) it is re-exported from.
#: ``import artifactstore`` loads none of them (no SQLAlchemy, no seed facade,
#: no pandas/numpy): each loads on first attribute access, so a codec plugin
#: that imports ``artifactstore.Codec`` pays only for the codec contract.
_LAZY: dict[str, str] = {
    "Backend": ".backends.base",
    "BlobWriter": ".backends.base",
    "ObjectInfo": ".backends.base",
    "Codec": ".codecs.base",
    "Encoder": ".codecs.base",
    "ArtifactManager": ".compat",
    "ArtifactManagerConfig": ".compat",
    "ArtifactMetadata": ".compat",
    "ChampionProgression": ".compat",
    "CompressionType": ".compat",
    "EvaluationHistory": ".compat",
    "StoragePolicy": ".compat",
    "create_artifact_manager": ".compat",
    "ArtifactNotFoundError": ".errors",
    "ArtifactStoreError": ".errors",
    "IntegrityError": ".errors",
    "InvalidInputError": ".errors",
    "InvalidMetadataError": ".errors",
    "InvalidNameError": ".errors",
    "MissingDependencyError": ".errors",
    "PluginConflictError": ".errors",
    "PluginError": ".errors",
    "UnknownCodecError": ".errors",
    "UnknownSchemeError": ".errors",
    "capture_repro": ".evaluation.repro",
    "hookimpl": ".hookspecs",
    "Artifact": ".models",
    "ArtifactType": ".models",
    "ChampionRecord": ".models",
    "EvaluationRecord": ".models",
    "StoreStats": ".models",
    "VerifyReport": ".models",
    "RetentionContext": ".retention.base",
    "RetentionPolicy": ".retention.base",
    "ArtifactStore": ".store",
    "open_store": ".store",
    "open": ".store",
}

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


def __getattr__(name: str) -> Any:
    """Load a re-exported public name on first use (PEP 562)."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), "open_store" if name == "open" else name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
