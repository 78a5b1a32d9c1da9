"""Shared test helpers (not fixtures)."""

from __future__ import annotations

import hashlib
from typing import Any

from artifactstore import ArtifactStore
from artifactstore.catalog.sql import SQLCatalog


def backend_state(store: ArtifactStore) -> dict[str, str]:
    """key -> sha256 of every object in the backend (blobs, manifests, records, store.json)."""
    out = {}
    for obj in store.backend.list(""):
        if obj.key.startswith("catalog.db"):
            continue
        out[obj.key] = hashlib.sha256(store.backend.read_bytes(obj.key)).hexdigest()
    return out


def sql_catalog(store: ArtifactStore) -> SQLCatalog:
    """The store's catalog as the built-in SQLCatalog, for tests that look at its SQL tables."""
    assert isinstance(store.catalog, SQLCatalog), f"not an SQL catalog: {store.catalog!r}"
    return store.catalog


def snapshot(store: ArtifactStore) -> dict[str, Any]:
    """Everything a user could observe: catalog rows and backend objects."""
    arts = sorted((a.to_dict() for a in store.find()), key=lambda d: d["id"])
    return {"artifacts": arts, "backend": backend_state(store), "stats": store.stats().to_dict()}
