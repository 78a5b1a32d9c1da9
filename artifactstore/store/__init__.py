"""ArtifactStore: the one place that orchestrates every write and read.

A put streams the source once while hashing (in a second thread) and encoding
into a staged object, publishes the blob under its content address, then
writes the manifest and the catalog row in one catalog transaction. A crash at
any point leaves no visible half-artifact, only an orphan gc removes.

The store is split by job, one module each; this package re-exports the public names:

- :mod:`.core`: :class:`~.core.StoreCore`, the shared state (backend, catalog, the blob
  layer ``blobs``, journals, registry), codecs, resolving refs, journalled catalog
  writes, ``store.json``;
- :mod:`.writing`: put, put_many, aliases, edits, deletions;
- :mod:`.reading`: verified reads, queries, verify;
- :mod:`.evaluations`: evaluations and champions;
- :mod:`.reindex`: rebuilding the catalog from the journals;
- :mod:`.artifact_store`: :class:`ArtifactStore`, the jobs combined;
- :mod:`.opening`: :func:`open_store`, the factory behind :func:`artifactstore.open`.
"""

from __future__ import annotations

from ..validation import METADATA_MAX_BYTES, METADATA_MAX_DEPTH
from .artifact_store import ArtifactStore
from .core import STORE_FORMAT, Source
from .opening import open_store

__all__ = ["METADATA_MAX_BYTES", "METADATA_MAX_DEPTH", "STORE_FORMAT", "ArtifactStore", "Source", "open_store"]
