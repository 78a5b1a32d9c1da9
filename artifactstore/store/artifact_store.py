"""The :class:`ArtifactStore` class: the store's jobs, combined."""

from __future__ import annotations

from .evaluations import Evaluations
from .reading import ReadPath
from .reindex import Reindex
from .writing import WritePath

__all__ = ["ArtifactStore"]


class ArtifactStore(WritePath, ReadPath, Evaluations, Reindex):
    """A store of versioned, content-addressed artifacts. Create it with :func:`artifactstore.open`.

    Thread-safe: one store object may be shared by many threads. Use it as a
    context manager (or call :meth:`close`) to release connections.

    Its jobs live in one module each, and it is their sum:
    :class:`~artifactstore.store.writing.WritePath` (put, put_many, aliases, edits,
    deletions), :class:`~artifactstore.store.reading.ReadPath` (verified reads,
    queries, verify), :class:`~artifactstore.store.evaluations.Evaluations`
    (evaluations and champions), :class:`~artifactstore.store.reindex.Reindex`
    (rebuilding the catalog), on the shared state of
    :class:`~artifactstore.store.core.StoreCore` (backend, catalog, journals, and the
    blob layer ``blobs``). :func:`artifactstore.store.open_store` opens one.
    """

    def __enter__(self) -> ArtifactStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
