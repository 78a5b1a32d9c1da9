"""The state every part of an :class:`~artifactstore.store.ArtifactStore` shares.

:class:`StoreCore` holds the backend, the catalog, the blob layer
(:mod:`artifactstore.blobs`), the journals and the plugin registry, and what every
job of the store needs: closing, codecs, resolving a ref, journalled catalog
writes (a batch appended inside the catalog transaction, its commit marker after
it, see :mod:`artifactstore.manifests`) and the store's ``store.json``. The jobs
are its subclasses, one module each: :mod:`.writing`, :mod:`.reading`,
:mod:`.evaluations`, :mod:`.reindex`; :class:`~artifactstore.store.ArtifactStore`
combines them.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import os
import shutil
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, cast

from ..backends.base import Backend
from ..blobs import BlobStore
from ..catalog.base import Catalog, JournalBatch
from ..codecs.base import Codec
from ..errors import ArtifactNotFoundError, InvalidInputError
from ..faults import crash_point
from ..ids import new_id
from ..manifests import FORMAT, MANIFESTS, RECORDS, VERSIONS, Journal
from ..models import Artifact
from ..plugins import PluginRegistry
from ..refs import parse_ref

if TYPE_CHECKING:
    from .artifact_store import ArtifactStore

__all__ = ["STORE_FORMAT", "Source", "StoreCore"]

log = logging.getLogger("artifactstore")
#: What a put accepts: a path, bytes, or a binary file object.
Source = str | os.PathLike[str] | bytes | bytearray | memoryview | BinaryIO
#: The ``format`` of ``store.json`` this version writes (and the newest it opens).
STORE_FORMAT = 1


class StoreCore:
    """The shared state and the shared steps of the store's jobs (see the module doc).

    Not used on its own: :class:`~artifactstore.store.ArtifactStore` is the class to use.
    """

    def __init__(
        self,
        backend: Backend,
        catalog: Catalog,
        registry: PluginRegistry,
        *,
        default_codec: str = "auto",
        workers: int | None = None,
        cache: Any = None,
    ) -> None:
        from ..cache import resolve_cache

        self.backend = backend
        #: Local read cache (remote backends by default); ``None`` when off.
        self.cache = resolve_cache(cache, remote=backend.is_remote)
        self.catalog: Catalog = catalog
        self.registry = registry
        self.default_codec = default_codec
        self.manifests = Journal(backend, MANIFESTS)
        self.records = Journal(backend, RECORDS)
        #: Version numbers this store gave artifacts that came from another store (sync).
        self.version_log = Journal(backend, VERSIONS)
        #: The blob layer: publish, read, verify, copy and sweep blobs (:mod:`artifactstore.blobs`).
        self.blobs = BlobStore(backend, catalog, registry, cache=self.cache)
        self._workers = workers or (8 if backend.is_remote else 2)
        self._lock = threading.Lock()
        self._closed = False
        self.cleanup_dirs: list[str] = []
        # Batches whose commit marker this object wrote; their pending catalog rows are
        # dropped in its next journalled transaction (or at close).
        self._settled: set[str] = set()
        if default_codec != "auto":
            self._codec(default_codec)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.blobs.close()
        with self._lock:
            settled, self._settled = sorted(self._settled), set()
        try:
            self.catalog.forget_batches_now(settled)
        except Exception as exc:  # rows left behind are harmless (see manifests)
            log.info("could not drop %d settled batch rows: %s", len(settled), exc)
        self.catalog.close()
        self.backend.close()
        for d in self.cleanup_dirs:
            shutil.rmtree(d, ignore_errors=True)

    def __repr__(self) -> str:
        return f"<ArtifactStore {self.backend.url} catalog={self.catalog.url}>"

    @property
    def url(self) -> str:
        return self.backend.url

    @property
    def workers(self) -> int:
        """How many threads ``put_many`` uses when not told (8 on object stores, 2 on local disk,
        or the ``workers`` given to ``open``)."""
        return self._workers

    @property
    def lease_seconds(self) -> float:
        """How long a lease protects a blob from gc while the put that took it finishes
        (:attr:`BlobStore.lease_seconds <artifactstore.blobs.BlobStore.lease_seconds>`)."""
        return self.blobs.lease_seconds

    @lease_seconds.setter
    def lease_seconds(self, seconds: float) -> None:
        self.blobs.lease_seconds = float(seconds)

    def local_root(self) -> Path | None:
        """The store's root folder on local disk, or ``None`` for a remote store."""
        return self.backend.local_path("")

    def as_store(self) -> ArtifactStore:
        """This object as the :class:`~artifactstore.store.ArtifactStore` it is part of (for
        hooks and helpers typed with it)."""
        return cast("ArtifactStore", self)

    def codec(self, name: str) -> Codec:
        """The store's cached instance of the codec registered as ``name`` (``UnknownCodecError`` if none)."""
        return self._codec(name)

    def _codec(self, name: str) -> Codec:
        return self.blobs.codec(name)

    def resolve(self, ref: str | Artifact) -> Artifact:
        """The artifact an id or ref names; :class:`ArtifactNotFoundError` if none."""
        if isinstance(ref, Artifact):
            ref = ref.id
        r = parse_ref(ref)
        if r.artifact_id:
            art = self.catalog.get(r.artifact_id)
        elif r.alias:
            assert r.name is not None
            art = self.catalog.get_alias(r.name, r.alias)
        else:
            assert r.name is not None
            art = self.catalog.get_version(r.name, r.version)
        if art is None:
            raise ArtifactNotFoundError(ref)
        return art

    def journal_batch(self, journal: Journal, entries: list[dict[str, Any]], state: dict[str, Any]) -> JournalBatch:
        """In a catalog write's ``before_commit`` callback: append ``entries`` as one new batch
        and return it, for the catalog to note as pending in that same transaction (see
        :mod:`artifactstore.manifests`), with the settled batches whose rows it may drop.

        ``state`` receives the batch id for :meth:`seal`; a retried transaction overwrites
        it, and the lines of the attempt that rolled back never get a marker."""
        batch = new_id()
        with self._lock:
            forgot = sorted(self._settled)
        journal.append(entries, batch=batch)
        crash_point("after-manifest-append" if journal.folder == MANIFESTS else f"after-{journal.folder}-append")
        state.update(journal=journal, batch=batch, forgot=forgot)
        return JournalBatch(batch, journal.folder, tuple(forgot))

    def seal(self, state: dict[str, Any]) -> None:
        """After the catalog commit: write the batch's commit marker."""
        if not state:
            return
        journal: Journal = state["journal"]
        crash_point("before-manifest-commit" if journal.folder == MANIFESTS else f"before-{journal.folder}-commit")
        with self._lock:
            self._settled.difference_update(state["forgot"])
        try:
            journal.commit([state["batch"]])
        except OSError as exc:  # BackendError included
            # The catalog committed: the operation took effect, and raising would invite a
            # retry that does it twice. The batch stays pending in the catalog, which reindex
            # honours, and the next open of the store writes its marker (settle_pending).
            log.warning("could not write the commit marker of batch %s (%s); the next open of the store "
                        "writes it", state["batch"], exc)
            return
        with self._lock:
            self._settled.add(state["batch"])

    def settle_pending(self) -> int:
        """Write the commit marker of every batch the catalog committed but whose writer
        died before writing it; return how many. Runs at every open (one small query)."""
        pending = self.catalog.pending_batches()
        if not pending:
            return 0
        for journal in (self.manifests, self.records, self.version_log):
            journal.commit([b for b, f in pending if f == journal.folder])
        self.catalog.forget_batches_now([b for b, _ in pending])
        log.info("wrote %d commit marker(s) left behind by killed writers", len(pending))
        return len(pending)

    def codec_suffixes(self) -> dict[str, str]:
        """Every registered codec's blob-key suffix, by codec name."""
        return self.blobs.codec_suffixes()

    def init_layout(self) -> None:
        """Check (or write, on a new store) ``store.json``; called once by :func:`open_store`."""
        try:
            info = json.loads(self.backend.read_bytes("store.json"))
        except FileNotFoundError:
            info = None
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidInputError(f"store.json at {self.backend.url} is not valid JSON: {exc}") from None
        if info is not None and (not isinstance(info, dict) or not isinstance(info.get("format", 0), int)):
            raise InvalidInputError(f"store.json at {self.backend.url} is malformed (expected an object with "
                                    "an integer 'format')")
        self.created = info is None  # this open wrote store.json (``init`` says "created")
        if info is None:
            doc = {"format": STORE_FORMAT, "created_at": _dt.datetime.now(_dt.UTC).isoformat(),
                   "manifest_format": FORMAT}
            self.backend.write_bytes("store.json", json.dumps(doc, indent=2).encode())
        elif int(info.get("format", 0)) > STORE_FORMAT:
            raise InvalidInputError(
                f"store at {self.backend.url} has format {info.get('format')}, newer than this artifactstore "
                f"supports ({STORE_FORMAT}); upgrade artifactstore"
            )
