"""ArtifactStore: the one place that orchestrates every write and read.

A put streams the source once while hashing (in a second thread) and encoding
into a staged object, publishes the blob under its content address, then
writes the manifest and the catalog row in one catalog transaction. A crash at
any point leaves no visible half-artifact, only an orphan gc removes.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import errno
import hashlib
import io
import json
import logging
import os
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO, Any, BinaryIO

from .backends.base import Backend, BlobWriter
from .catalog.base import AliasRow, Catalog, CatalogContents, JournalBatch, as_catalog
from .catalog.recovery import is_damaged, quarantine, sqlite_file
from .catalog.sql import SQLCatalog
from .catalog.sql import artifact_from_fields as _artifact_from_fields
from .codecs.base import Codec
from .errors import (
    ArtifactNotFoundError,
    BackendError,
    BlobMissingError,
    CatalogError,
    CorruptDataError,
    IntegrityError,
    InvalidInputError,
    InvalidMetadataError,
    InvalidNameError,
    UnknownSchemeError,
)
from .faults import crash_point
from .ids import new_id
from .manifests import FORMAT, MANIFESTS, RECORDS, VERSIONS, Journal, blob_key, check_entry
from .models import Artifact, ChampionRecord, EvaluationRecord, StoreStats, VerifyReport
from .plugins import PluginRegistry, default_registry
from .refs import parse_ref, validate_alias, validate_name
from .streams import CHUNK, VerifyingReader, copy_and_hash, pump
from .validation import (
    FIELDS,
    METADATA_MAX_BYTES,
    METADATA_MAX_DEPTH,
    OpenedSource,
    check_field,
    check_metadata,
    check_score,
    check_tags,
    open_source,
    required_field,
    type_of,
)

__all__ = ["METADATA_MAX_BYTES", "METADATA_MAX_DEPTH", "ArtifactStore", "Source", "open_store"]

log = logging.getLogger("artifactstore")
Source = str | os.PathLike[str] | bytes | bytearray | memoryview | BinaryIO
SAMPLE = 64 << 10
_ZERO_COPY_MIN = 4 << 20  # below this, one buffered write is as fast
_NO_COPY_RANGE = {errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.EBADF, errno.EPERM}
STORE_FORMAT = 1
#: ``as_meta`` key prefix of a blob a verify found corrupt (see :meth:`ArtifactStore.verify`).
_FILTERS = frozenset({"artifact_type", "model_id", "evaluation_id", "suite_name", "map_name", "episode_id", "tags",
                      "tags_mode", "metadata", "name", "name_prefix", "created_after", "created_before"})


class _WriterGuard:
    """Wraps a BlobWriter to tell backend failures apart from codec failures."""

    def __init__(self, inner: BlobWriter) -> None:
        self.inner = inner
        self.failed: BaseException | None = None

    def write(self, data: bytes | memoryview) -> int:
        try:
            return self.inner.write(data)
        except BaseException as exc:
            self.failed = exc
            raise


class ArtifactStore:
    """A store of versioned, content-addressed artifacts. Create it with :func:`artifactstore.open`.

    Thread-safe: one store object may be shared by many threads. Use it as a
    context manager (or call :meth:`close`) to release connections.
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
        from .cache import resolve_cache

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
        self._hash_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="artifactstore-hash")
        self._workers = workers or (8 if backend.is_remote else 2)
        self._codecs: dict[str, Codec] = {}
        self._lock = threading.Lock()
        self._closed = False
        self.cleanup_dirs: list[str] = []
        # Batches whose commit marker this object wrote; their pending catalog rows are
        # dropped in its next journalled transaction (or at close).
        self._settled: set[str] = set()
        #: How long a dedup lease protects a blob from gc while the put finishes.
        self.lease_seconds = 3600.0
        if default_codec != "auto":
            self._codec(default_codec)

    # --- lifecycle -----------------------------------------------------------------------

    def __enter__(self) -> ArtifactStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._hash_pool.shutdown(wait=True)
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

    # --- plugins -------------------------------------------------------------------------

    def codec(self, name: str) -> Codec:
        """The store's cached instance of the codec registered as ``name`` (``UnknownCodecError`` if none)."""
        return self._codec(name)

    def _codec(self, name: str) -> Codec:
        with self._lock:
            c = self._codecs.get(name)
        if c is not None:
            return c
        codec = self.registry.codec(name)  # checks codec.name == name
        with self._lock:
            self._codecs[name] = codec
        return codec

    # --- journalled writes ---------------------------------------------------------------

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

    # --- writing -------------------------------------------------------------------------

    def store_blob(
        self, src: OpenedSource, codec_name: str, member_name: str, progress: Callable[[int], None] | None = None
    ) -> dict[str, Any]:
        """Stream one source into a blob; return its blob fields (sha256, size, codec...)."""
        sample = src.f.read(SAMPLE)
        if codec_name == "auto":
            from .codecs.detect import choose_auto_codec

            codec_name = choose_auto_codec(sample, member_name)
        codec = self._codec(codec_name)
        spool: IO[bytes] | None = None
        try:
            if codec_name != "none" and (src.reopen is None or (codec.needs_size and src.size is None)):
                # A stream we cannot re-read: spool it to a local temp file first so that a
                # codec failure can fall back to storing raw (and tar can learn the size).
                spool = tempfile.TemporaryFile(prefix="artifactstore-spool-")  # noqa: SIM115
                spool.write(sample)
                shutil.copyfileobj(src.f, spool, CHUNK)
                size = spool.tell()
                spool.seek(0)
                sample = spool.read(SAMPLE)
                keep = spool
                src = OpenedSource(spool, size, src.default_name, lambda: (keep.seek(0), keep)[1], False)
            try:
                if (codec.name == "none" and src.path is not None and self.backend.is_remote
                        and (src.size or 0) >= _ZERO_COPY_MIN):
                    return self._upload_raw(src, sample, progress)
                return self._encode(src, sample, codec, member_name, progress)
            except _CodecFailure as failure:
                if src.reopen is None:
                    raise failure.exc from None
                log.warning("codec %s failed (%s); storing %s uncompressed", codec.name, failure.exc, member_name)
                src = OpenedSource(src.reopen(), src.size, src.default_name, None, False)
                fields = self._encode(src, src.f.read(SAMPLE), self._codec("none"), member_name, progress)
                fields["codec_error"] = f"{codec.name}: {type(failure.exc).__name__}: {failure.exc}"
                return fields
        finally:
            if spool is not None:
                spool.close()

    def _encode(
        self, src: OpenedSource, sample: bytes, codec: Codec, member_name: str, progress: Callable[[int], None] | None
    ) -> dict[str, Any]:
        writer = self.backend.writer()
        guard = _WriterGuard(writer)
        try:
            try:
                enc = codec.encoder(guard, size=src.size, member_name=member_name)

                def write(chunk: bytes) -> None:
                    try:
                        enc.write(chunk)
                    except BaseException as exc:
                        if guard.failed is not None:
                            raise
                        raise _CodecFailure(exc) from exc

                fast = self._copy_raw(src, writer, codec, progress)
                if fast is not None:
                    sha, size = fast
                else:
                    sha, size = pump(src.f.read, write, self._hash_pool, first=sample, progress=progress)
                try:
                    enc.finish()
                except BaseException as exc:
                    if guard.failed is not None:
                        raise
                    raise _CodecFailure(exc) from exc
            except _CodecFailure:
                raise
            except (OSError, BackendError) as exc:
                if guard.failed is not None and isinstance(exc, BackendError):
                    raise  # already typed and named by the backend (e.g. StorageFullError)
                if guard.failed is not None:
                    raise BackendError(
                        f"writing to {self.backend.url} failed: {type(exc).__name__}: {exc}", url=self.backend.url
                    ) from exc
                raise
            if src.size is not None and size != src.size and src.close:
                raise InvalidInputError(f"source changed while it was read ({src.size} -> {size} bytes)")
            key = blob_key(sha, codec.suffix)
            return self._publish(sha, size, key, codec.name, writer.bytes_written,
                                 lambda: writer.commit(key), writer.abort)
        except BaseException:
            writer.abort()
            raise

    def _publish(
        self, sha: str, size: int, key: str, codec_name: str, stored: int,
        commit: Callable[[], None], abort: Callable[[], None],
    ) -> dict[str, Any]:
        fields = self._publish_once(sha, size, key, codec_name, stored, commit, abort)
        crash_point("after-blob-publish")
        return fields

    def _publish_once(
        self, sha: str, size: int, key: str, codec_name: str, stored: int,
        commit: Callable[[], None], abort: Callable[[], None],
    ) -> dict[str, Any]:
        """Publish the staged bytes under ``key`` (``commit``), or reuse an existing blob
        with the same digest (``abort``); return the artifact's blob fields."""
        fields = {"sha256": sha, "size": size, "codec": codec_name, "blob_key": key, "stored_size": stored}
        existing = self.catalog.blob_of(sha)
        if existing is None and self.backend.is_remote:
            # New content on an object store: upload without a HEAD first (an orphan with
            # the same bytes is simply overwritten). The lease covers the moment between a
            # gc's re-read of the old orphan's mtime and its delete, which a rename-free
            # upload could otherwise land in.
            token = self.catalog.take_lease(sha, self.lease_seconds)
            try:
                commit()
            except BaseException:
                self.catalog.release_leases_now([token])
                raise
            return {**fields, "leases": [token]}
        if existing is None and not self.backend.exists(key):
            # New content on local disk: the fresh file's mtime keeps gc away until our
            # commit; an orphan that exists takes the leased path below instead.
            commit()
            return fields
        # Dedup: lease the digest first, then make sure the blob is still
        # there (a concurrent gc sweep may just have removed it).
        token = self.catalog.take_lease(sha, self.lease_seconds)
        try:
            if existing is not None:
                ekey, ecodec, estored = existing
                if self._blob_intact(ekey, estored) and not self._suspect(ekey):
                    abort()
                    return {**fields, "codec": ecodec, "blob_key": ekey, "stored_size": estored, "leases": [token]}
                if ekey == key:
                    # Healing dedup: the stored blob is missing or truncated; our staged copy of the
                    # same content replaces it, for every artifact that shares it.
                    log.warning("blob %s is missing or damaged; re-publishing it from this put", ekey)
                    commit()
                    self.catalog.clear_blob_suspect([ekey])
                    return {**fields, "leases": [token]}
            if existing is None and self.backend.exists(key):
                abort()
                return {**fields, "stored_size": self.backend.info(key).size, "leases": [token]}
            commit()
            return {**fields, "leases": [token]}
        except BaseException:
            self.catalog.release_leases_now([token])
            raise

    def _suspect(self, key: str) -> bool:
        """Whether a verify found the blob ``key`` corrupt (and nothing has healed it since)."""
        return self.catalog.is_blob_suspect(key)

    def _blob_intact(self, key: str, stored_size: int) -> bool:
        """Cheap check of a blob dedup would reuse: present, with the size the catalog recorded."""
        try:
            return self.backend.info(key).size == stored_size
        except FileNotFoundError:
            return False

    def _upload_raw(self, src: OpenedSource, sample: bytes, progress: Callable[[int], None] | None) -> dict[str, Any]:
        """A large raw file to an object store: hash it, then upload straight from the file
        (multipart/resumable/block upload): no local staging copy of the whole file."""
        assert src.path is not None
        before = os.stat(src.path)
        sha, size = pump(src.f.read, lambda _b: None, self._hash_pool, first=sample, progress=progress)
        key = blob_key(sha, "")
        path = src.path

        def upload() -> None:
            self.backend.upload_file(path, key)
            after = os.stat(path)
            if (after.st_size, after.st_mtime_ns) != (before.st_size, before.st_mtime_ns) or after.st_size != size:
                self.backend.delete(key)
                raise InvalidInputError(f"source file {path} changed while it was uploaded")

        return self._publish(sha, size, key, "none", size, upload, lambda: None)

    def _copy_raw(
        self, src: OpenedSource, writer: BlobWriter, codec: Codec, progress: Callable[[int], None] | None
    ) -> tuple[str, int] | None:
        """Large raw file onto local disk: copy in the kernel, hash in the second thread.

        Returns ``None`` when the zero-copy path does not apply (then nothing was written).
        """
        if codec.name != "none" or src.path is None or (src.size or 0) < _ZERO_COPY_MIN:
            return None
        fd = writer.staged_fd()
        if fd is None:
            return None
        try:
            result = copy_and_hash(src.f.fileno(), fd, self._hash_pool, progress=progress)
        except OSError as exc:
            if exc.errno in _NO_COPY_RANGE and os.fstat(fd).st_size == 0:
                return None  # e.g. across filesystems on an old kernel: use the plain copy
            raise
        writer.note_written(result[1])
        return result

    def _prepare(self, source: Any, kw: Mapping[str, Any]) -> tuple[OpenedSource, dict[str, Any], str]:
        unknown = set(kw) - {"name", "artifact_type", "tags", "metadata", "codec", *FIELDS}
        if unknown:
            raise InvalidInputError(f"unknown put() argument(s): {', '.join(sorted(unknown))}")
        if "artifact_type" not in kw:
            raise InvalidInputError("artifact_type is required")
        fields: dict[str, Any] = {"artifact_type": type_of(kw["artifact_type"])}
        for f in FIELDS:
            fields[f] = check_field(f, kw.get(f))
        fields["tags"] = check_tags(kw.get("tags"))
        fields["metadata"] = check_metadata(kw.get("metadata"))
        codec = kw.get("codec") or self.default_codec
        if codec != "auto":
            self._codec(codec)
        name = kw.get("name")
        if name is not None:
            validate_name(name)
        src = open_source(source)
        fields["id"] = new_id()
        if name is None:
            name = src.default_name or fields["id"]
            try:
                validate_name(name)
            except InvalidInputError:
                if src.close:
                    src.f.close()
                raise
        fields["name"] = name
        return src, fields, codec

    def commit_rows(self, rows: list[dict[str, Any]]) -> list[Artifact]:
        """Insert artifact rows whose blobs :meth:`store_blob` published: one catalog
        transaction, one journal batch, its commit marker after the commit (the write
        path of ``put``/``put_many``; archive import uses it to keep its ids)."""
        state: dict[str, Any] = {}

        def write_manifest(arts: list[Artifact]) -> JournalBatch:
            entries = []
            for a, r in zip(arts, rows, strict=True):
                e = {"kind": "artifact", **a.to_dict()}
                if r.get("codec_error"):
                    e["codec_error"] = r["codec_error"]
                entries.append(e)
            return self.journal_batch(self.manifests, entries, state)

        arts = self.catalog.insert_artifacts(rows, before_commit=write_manifest)
        self.seal(state)
        for a in arts:
            self.registry.emit_artifact_stored(store=self, artifact=a)
        return arts

    def put(
        self,
        source: Source,
        *,
        artifact_type: Any,
        name: str | None = None,
        model_id: str | None = None,
        evaluation_id: str | None = None,
        suite_name: str | None = None,
        map_name: str | None = None,
        episode_id: str | None = None,
        tags: Iterable[str] = (),
        metadata: Mapping[str, Any] | None = None,
        codec: str | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> Artifact:
        """Store ``source`` (a path, bytes or a binary file object) as a new artifact version.

        ``name`` defaults to the file's base name (or the new id for bytes).
        ``codec="auto"`` compresses with zstd unless the data does not compress.
        Raises a typed error (and stores nothing) on invalid input.
        """
        kw = {
            "artifact_type": artifact_type, "name": name, "model_id": model_id, "evaluation_id": evaluation_id,
            "suite_name": suite_name, "map_name": map_name, "episode_id": episode_id, "tags": tags,
            "metadata": metadata, "codec": codec,
        }
        src, fields, codec_name = self._prepare(source, kw)
        try:
            blob = self.store_blob(src, codec_name, fields["name"].rsplit("/", 1)[-1], progress)
        finally:
            if src.close:
                src.f.close()
        fields.update(blob)
        fields["created_at"] = time.time()
        return self.commit_rows([fields])[0]

    def put_many(self, items: Iterable[Mapping[str, Any]], *, workers: int | None = None) -> list[Artifact]:
        """Store a batch: each item is a mapping with ``source`` and the keyword arguments of :meth:`put`.

        Blobs are written concurrently; the batch shares one manifest segment
        and one catalog transaction, so either every artifact becomes visible
        or none does. Input is validated before anything is written.
        """
        prepared: list[tuple[OpenedSource, dict[str, Any], str]] = []
        try:
            for item in items:
                if not isinstance(item, Mapping) or "source" not in item:
                    raise InvalidInputError("each put_many item must be a mapping with a 'source' key")
                kw = {k: v for k, v in item.items() if k != "source"}
                prepared.append(self._prepare(item["source"], kw))
        except BaseException:
            for src, _, _ in prepared:
                if src.close:
                    src.f.close()
            raise

        def one(p: tuple[OpenedSource, dict[str, Any], str]) -> dict[str, Any]:
            src, fields, codec_name = p
            try:
                fields.update(self.store_blob(src, codec_name, fields["name"].rsplit("/", 1)[-1]))
            finally:
                if src.close:
                    src.f.close()
            fields["created_at"] = time.time()
            return fields

        n = workers or self._workers
        if n <= 1 or len(prepared) <= 1:
            rows = [one(p) for p in prepared]
        else:
            with ThreadPoolExecutor(max_workers=n, thread_name_prefix="artifactstore-put") as pool:
                rows = list(pool.map(one, prepared))
        if not rows:
            return []
        return self.commit_rows(rows)

    # --- resolving -----------------------------------------------------------------------

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

    def get_artifact(self, ref: str) -> Artifact:
        return self.resolve(ref)

    # --- reading -------------------------------------------------------------------------

    def _check_blob_file(self, art: Artifact, path: Path) -> None:
        """Decode and hash a downloaded blob before the read cache admits it."""
        with open(path, "rb") as f:
            try:
                dec = self._codec(art.codec).decoder(f)
                sha, size = pump(dec.read, lambda _b: None, self._hash_pool)
            except CorruptDataError as exc:  # the codec contract: damaged blobs raise this
                raise exc.with_artifact(art.id, art.sha256) from None
        if sha != art.sha256 or size != art.size:
            raise IntegrityError(art.id, art.sha256, sha, f"downloaded blob decodes to {size} bytes")

    def _open_decoded(self, art: Artifact, use_cache: bool = True) -> tuple[BinaryIO, tuple[Any, ...]]:
        codec = self._codec(art.codec)
        try:
            if use_cache and self.cache is not None:
                raw = self.cache.open(
                    art.blob_key,
                    fetch=lambda p: self.backend.download_file(art.blob_key, p),
                    verify=lambda p: self._check_blob_file(art, p),
                    size=art.stored_size,
                )
            else:
                raw = self.backend.open_read(art.blob_key)
        except FileNotFoundError:
            raise BlobMissingError(art.id, art.blob_key) from None
        try:
            return codec.decoder(raw), (raw,)
        except BaseException:
            raw.close()
            raise

    def open(self, ref: str | Artifact) -> BinaryIO:
        """A binary stream of the artifact's bytes, verified against its SHA-256 as it is read.

        The read that reaches the end raises :class:`IntegrityError` on a mismatch.
        """
        art = self.resolve(ref)
        dec, closers = self._open_decoded(art)
        reader = VerifyingReader(dec, art.sha256, art.size, art.id, closers)
        return io.BufferedReader(reader, CHUNK)  # type: ignore[return-value]

    def read_bytes(self, ref: str | Artifact) -> bytes:
        """The whole artifact in memory, verified. Prefer :meth:`get` or :meth:`open` for large ones."""
        with self.open(ref) as f:
            return f.read()

    def get(
        self, ref: str | Artifact, dest: str | os.PathLike[str], progress: Callable[[int], None] | None = None
    ) -> Path:
        """Write the artifact to ``dest`` (a file path, or an existing folder that receives
        the artifact's base name), verified; ``dest`` is replaced atomically."""
        art = self.resolve(ref)
        out = Path(dest)
        if out.is_dir():
            out = out / art.name.rsplit("/", 1)[-1]
        elif os.fspath(dest).endswith(("/", os.sep)):
            raise InvalidInputError(f"destination folder does not exist: {dest}")
        if not out.parent.is_dir():
            raise InvalidInputError(f"destination folder does not exist: {out.parent}")
        if out.is_dir():  # dest/<base name> is itself a folder: never replace a folder with a file
            raise InvalidInputError(f"destination {out} is an existing folder")
        tmp = out.parent / f".{out.name}.{uuid.uuid4().hex[:12]}.part"
        try:
            try:
                self._get_once(art, tmp, out, progress, use_cache=True)
            except IntegrityError:
                if self.cache is None:
                    raise
                # A damaged cached copy: drop it and read the backend itself once.
                self.cache.discard(art.blob_key)
                self._get_once(art, tmp, out, progress, use_cache=False)
        except OSError as exc:
            if exc.filename is None or os.fspath(exc.filename) != os.fspath(tmp):
                raise
            raise _dest_error(exc, out, len(tmp.name) - len(out.name)) from exc
        return out

    def _get_once(self, art: Artifact, tmp: Path, out: Path, progress: Callable[[int], None] | None,
                  use_cache: bool) -> None:
        if self._get_raw_local(art, tmp, out, progress):
            return
        if not (use_cache and self.cache is not None) and self._get_raw_remote(art, tmp, out, progress):
            return
        dec, closers = self._open_decoded(art, use_cache)
        try:
            with open(tmp, "wb") as f:
                sha, size = pump(dec.read, f.write, self._hash_pool, progress=progress)
            if sha != art.sha256 or size != art.size:
                raise IntegrityError(art.id, art.sha256, sha, f"read {size} bytes, expected {art.size}")
            os.replace(tmp, out)
        except BaseException:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
            raise
        finally:
            dec.close()
            for c in closers:
                c.close()

    def _get_raw_remote(self, art: Artifact, tmp: Path, out: Path, progress: Callable[[int], None] | None) -> bool:
        """Large raw blob on an object store, no cache: one streaming download (the client's own
        fast path), then hash the file before it replaces ``out``."""
        if art.codec != "none" or not self.backend.is_remote or art.size < _ZERO_COPY_MIN:
            return False
        try:
            try:
                self.backend.download_file(art.blob_key, tmp)
            except FileNotFoundError:
                raise BlobMissingError(art.id, art.blob_key) from None
            with open(tmp, "rb") as f:
                sha, size = pump(f.read, lambda _b: None, self._hash_pool, progress=progress)
            if sha != art.sha256 or size != art.size:
                raise IntegrityError(art.id, art.sha256, sha, f"read {size} bytes, expected {art.size}")
            os.replace(tmp, out)
            return True
        except BaseException:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
            raise

    def _get_raw_local(self, art: Artifact, tmp: Path, out: Path, progress: Callable[[int], None] | None) -> bool:
        """Raw blob on local disk: kernel copy + hash of what landed in ``tmp``, in two threads."""
        blob = self.backend.local_path(art.blob_key)
        if art.codec != "none" or blob is None or art.size < _ZERO_COPY_MIN:
            return False
        try:
            src = open(blob, "rb")  # noqa: SIM115
        except FileNotFoundError:
            raise BlobMissingError(art.id, art.blob_key) from None
        try:
            with src, open(tmp, "w+b") as dst:
                try:
                    sha, size = copy_and_hash(src.fileno(), dst.fileno(), self._hash_pool, progress=progress)
                except OSError as exc:
                    if exc.errno in _NO_COPY_RANGE and os.fstat(dst.fileno()).st_size == 0:
                        return False
                    raise
            if sha != art.sha256 or size != art.size:
                raise IntegrityError(art.id, art.sha256, sha, f"read {size} bytes, expected {art.size}")
            os.replace(tmp, out)
            return True
        except BaseException:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
            raise

    # --- querying ------------------------------------------------------------------------

    def find(
        self,
        *,
        artifact_type: Any = None,
        model_id: str | None = None,
        evaluation_id: str | None = None,
        suite_name: str | None = None,
        map_name: str | None = None,
        episode_id: str | None = None,
        tags: Iterable[str] | str | None = None,
        tags_mode: str = "any",
        metadata: Mapping[str, Any] | None = None,
        name: str | None = None,
        name_prefix: str | None = None,
        created_after: Any = None,
        created_before: Any = None,
        order_by: str = "-created_at",
        limit: int | None = None,
        offset: int = 0,
    ) -> list[Artifact]:
        """Artifacts matching every given filter, newest first unless ``order_by`` says otherwise.

        ``tags`` matches any (``tags_mode="any"``) or all of the tags; ``metadata``
        matches each given top-level key exactly. ``order_by`` is one of
        ``-created_at`` (default), ``created_at``, ``name``, ``-name``, ``size``,
        ``-size``, ``version``, ``-version``.
        """
        filters = self._filters(locals())
        return self.catalog.find(filters, order_by=order_by, limit=limit, offset=offset)

    def count(self, **filters: Any) -> int:
        """Number of artifacts matching the same filters as :meth:`find`."""
        bad = set(filters) - _FILTERS
        if bad:
            raise InvalidInputError(f"unknown filter(s): {', '.join(sorted(bad))}")
        return self.catalog.count(self._filters(filters))

    def search(self, text: str, *, limit: int | None = 50, offset: int = 0, **filters: Any) -> list[Artifact]:
        """Artifacts whose name, type, model, evaluation, suite, map, episode, tags or metadata
        (keys and values, nested ones as ``key.sub``) match ``text``, best match first, then newest.

        ``text`` holds words (all must match; a prefix with ``resnet*``), ``"exact phrases"``
        and ``-excluded`` words; case and accents do not matter. ``filters`` are those of
        :meth:`find`. An empty query raises :class:`~artifactstore.errors.InvalidQueryError`.
        """
        from .catalog.search import parse_query

        bad = set(filters) - _FILTERS
        if bad:
            raise InvalidInputError(f"unknown filter(s): {', '.join(sorted(bad))}")
        return self.catalog.search(parse_query(text), self._filters(filters), limit=limit, offset=offset)

    @staticmethod
    def _filters(values: Mapping[str, Any]) -> dict[str, Any]:
        f = {k: v for k, v in values.items() if k not in ("self", "order_by", "limit", "offset") and v is not None}
        if "artifact_type" in f:
            at = f["artifact_type"]
            f["artifact_type"] = [type_of(x) for x in at] if isinstance(at, (list, tuple, set)) else type_of(at)
        return f

    def versions(self, name: str) -> list[Artifact]:
        """Every stored version of ``name``, oldest first."""
        validate_name(name)
        return self.catalog.find({"name": name}, order_by="version")

    def stats(self) -> StoreStats:
        return self.catalog.stats()

    # --- changing ------------------------------------------------------------------------

    def set_alias(self, ref: str | Artifact, alias: str) -> Artifact:
        """Point ``<name>:<alias>`` at the artifact ``ref`` names (moving it if it existed)."""
        validate_alias(alias)
        art = self.resolve(ref)

        state: dict[str, Any] = {}

        def record() -> JournalBatch:
            return self.journal_batch(self.records, [{"kind": "alias", "name": art.name, "alias": alias,
                                                "artifact_id": art.id, "at": time.time()}], state)

        self.catalog.set_alias(art.name, alias, art.id, before_commit=record)
        self.seal(state)
        return art

    def remove_alias(self, name: str, alias: str) -> str:
        """Remove the alias ``name:alias``; return the id of the artifact it pointed at.

        Journalled (``reindex`` does not bring it back). An alias that does not
        exist raises :class:`~artifactstore.errors.ArtifactNotFoundError`.
        """
        validate_name(name)
        validate_alias(alias)

        state: dict[str, Any] = {}

        def record(artifact_id: str) -> JournalBatch:
            return self.journal_batch(self.records, [{"kind": "unalias", "name": name, "alias": alias,
                                                "artifact_id": artifact_id, "at": time.time()}], state)

        gone = self.catalog.delete_alias(name, alias, before_commit=record)
        self.seal(state)
        if gone is None:
            raise ArtifactNotFoundError(f"{name}:{alias}")
        return gone

    def edit_artifact(
        self,
        ref: str | Artifact,
        *,
        add_tags: Iterable[str] = (),
        remove_tags: Iterable[str] = (),
        set_metadata: Mapping[str, Any] | None = None,
        unset_metadata: Iterable[str] = (),
    ) -> Artifact:
        """Change the tags and top-level metadata of a stored artifact; return the new record.

        Tags are added at the end (in the order given, without repeats) after
        ``remove_tags`` are taken out; ``set_metadata`` entries replace the keys
        they name after ``unset_metadata`` keys are removed. Name, version, content
        and id stay as they are: an artifact's bytes never change. The change is
        journalled with the resulting tags and metadata, so ``reindex`` reproduces it.
        """
        art = self.resolve(ref)
        add = check_tags(list(add_tags))
        drop = set(check_tags(list(remove_tags)))
        sets = check_metadata(set_metadata) if set_metadata else {}
        unsets = [str(k) for k in unset_metadata]

        def change(cur: Artifact) -> tuple[tuple[str, ...], dict[str, Any]]:
            tags = tuple(t for t in cur.tags if t not in drop) + add
            meta = {k: v for k, v in cur.metadata.items() if k not in unsets}
            meta.update(sets)
            return check_tags(list(tags)), check_metadata(meta)

        state: dict[str, Any] = {}

        def record(new: Artifact) -> JournalBatch:
            return self.journal_batch(self.records, [{"kind": "edit", "artifact_id": new.id, "tags": list(new.tags),
                                                "metadata": new.metadata, "at": time.time()}], state)

        new = self.catalog.update_artifact(art.id, change, before_commit=record)
        self.seal(state)
        if new is None:
            raise ArtifactNotFoundError(art.id)
        return new

    def aliases(self, ref: str | Artifact) -> list[str]:
        return self.catalog.aliases_of(self.resolve(ref).id)

    def delete(self, ref: str | Artifact) -> Artifact:
        """Remove an artifact version from the store. Its blob is freed by gc once unreferenced."""
        art = self.resolve(ref)
        deleted = self.delete_many([art.id])
        if not deleted:
            raise ArtifactNotFoundError(art.id)
        return deleted[0]

    def delete_many(self, ids: Sequence[str], reason: str = "delete") -> list[Artifact]:
        state: dict[str, Any] = {}

        def record(arts: list[Artifact]) -> JournalBatch:
            now = time.time()
            return self.journal_batch(
                self.records, [{"kind": "delete", "artifact_id": a.id, "at": now, "reason": reason} for a in arts],
                state)

        gone = self.catalog.delete_artifacts(list(ids), before_commit=record)
        self.seal(state)
        for a in gone:
            self.registry.emit_artifact_deleted(store=self, artifact=a)
        return gone

    # --- evaluations and champions ------------------------------------------------------

    def _artifact_ids(self, artifacts: Iterable[str | Artifact], allow_unknown: bool = False) -> list[str]:
        # allow_unknown (the seed facade): a string that names no artifact is kept as given, a
        # "dangling" reference that `artifactstore history --json` lists under dangling_artifacts
        ids = []
        for a in artifacts or ():
            try:
                ids.append(self.resolve(a).id)
            except (ArtifactNotFoundError, InvalidNameError):
                if not allow_unknown or not isinstance(a, str):
                    raise
                ids.append(required_field("artifact id", a))
        return ids

    def record_evaluation(
        self,
        evaluation_id: str,
        model_id: str,
        *,
        global_score: float,
        success_rate: float,
        metrics: Mapping[str, Any] | None = None,
        artifacts: Iterable[str | Artifact] = (),
        metadata: Mapping[str, Any] | None = None,
        repro: Mapping[str, Any] | None = None,
        is_champion: bool = False,
        champion_rank: int | None = None,
        timestamp: float | None = None,
        allow_unknown_artifacts: bool = False,
    ) -> EvaluationRecord:
        """Record (or replace) an evaluation of ``model_id`` with its scores and linked artifacts.

        ``repro`` is a reproducibility record; :func:`artifactstore.capture_repro`
        fills in what it can find (git SHA, Python, packages...).
        ``artifacts`` must name stored artifacts (an unknown one raises
        :class:`~artifactstore.errors.ArtifactNotFoundError`) unless
        ``allow_unknown_artifacts``: then a string that names none is kept as given
        (a dangling reference, as the seed stored any string).
        """
        entry = {
            "kind": "evaluation",
            "evaluation_id": required_field("evaluation_id", evaluation_id),
            "model_id": required_field("model_id", model_id),
            "timestamp": time.time() if timestamp is None else float(timestamp),
            "global_score": check_score("global_score", global_score),
            "success_rate": check_score("success_rate", success_rate),
            "is_champion": bool(is_champion),
            "champion_rank": None if champion_rank is None else int(champion_rank),
            "metrics": check_metadata(metrics),
            "artifacts": self._artifact_ids(artifacts, allow_unknown_artifacts),
            "metadata": check_metadata(metadata),
            "repro": check_metadata(repro),
        }
        state: dict[str, Any] = {}

        def record() -> JournalBatch:
            return self.journal_batch(self.records, [dict(entry)], state)

        rec = self.catalog.upsert_evaluation(entry, before_commit=record)
        self.seal(state)
        return rec

    def evaluation(self, evaluation_id: str) -> EvaluationRecord:
        rec = self.catalog.get_evaluation(evaluation_id)
        if rec is None:
            raise ArtifactNotFoundError(evaluation_id, f"no evaluation {evaluation_id!r}")
        return rec

    def evaluations(self, model_id: str | None = None, *, champions_only: bool = False,
                    limit: int | None = None) -> list[EvaluationRecord]:
        """Recorded evaluations, newest first."""
        return self.catalog.evaluations(model_id, champions_only, limit)

    def promote_champion(
        self,
        model_id: str,
        *,
        evaluation_id: str | None = None,
        global_score: float,
        success_rate: float,
        metrics: Mapping[str, Any] | None = None,
        artifacts: Iterable[str | Artifact] = (),
        only_if_better: bool = True,
        improvement_metrics: Mapping[str, Any] | None = None,
        previous_model_id: str | None = None,
        require_significant: bool = False,
        evidence_metric: str = "reward",
        allow_unknown_artifacts: bool = False,
    ) -> ChampionRecord | None:
        """Make ``model_id`` the champion, atomically.

        With ``only_if_better`` the comparison with the current champion's
        global score happens inside the same transaction, so of two workers
        finishing at once at most one wins; a score that is not strictly better
        returns ``None`` (no exception). The previous champion is recorded and
        improvement metrics computed unless given. The champion's artifacts get
        the ``champion`` alias.

        With ``require_significant`` the challenger must also beat the current
        champion on its episode data: the 95% stratified-bootstrap interval of
        the difference of the mean ``evidence_metric`` must lie above zero
        (:func:`artifactstore.evaluation.evidence.champion_evidence`, needs the
        ``[report]`` extra). Otherwise nothing is written and ``None`` is
        returned. When it is promoted, the two-model report is stored (type
        ``report``), linked as one of the champion's artifacts, and the record's
        ``metrics["evidence"]`` carries the decision and ``report_artifact_id``.
        """
        model_id = required_field("model_id", model_id)
        gs = check_score("global_score", global_score)
        sr = check_score("success_rate", success_rate)
        eval_id = check_field("evaluation_id", evaluation_id)
        art_ids = self._artifact_ids(artifacts, allow_unknown_artifacts)  # see record_evaluation
        given_imp = check_metadata(improvement_metrics) if improvement_metrics is not None else None
        mets = check_metadata(metrics)
        if require_significant:
            # evaluation/ sits above the store; imported here, on demand, because the
            # judgement needs numpy/scipy/pyarrow (the [report] extra) and a whole report
            from .evaluation.evidence import champion_evidence, record_evidence

            ev = champion_evidence(self, model_id, evaluation_id=eval_id, metric=evidence_metric)
            if not ev.significant:
                log.info("not promoting %s: %s", model_id, ev.reason)
                return None
            entry, extra = record_evidence(self, ev)
            art_ids = [*art_ids, *extra]
            mets = {**mets, "evidence": entry}

        def make_entry(cur: ChampionRecord | None) -> dict[str, Any] | None:
            if only_if_better and cur is not None and gs <= cur.global_score:
                return None
            imp = given_imp
            if imp is None:
                imp = {} if cur is None else {
                    "score_improvement": gs - cur.global_score,
                    "success_improvement": sr - cur.success_rate,
                    "relative_score_improvement": (gs - cur.global_score) / abs(cur.global_score)
                    if cur.global_score else None,
                }
            return {
                "kind": "champion", "champion_id": new_id(), "seq_no": (cur.seq + 1) if cur else 1,
                "model_id": model_id, "evaluation_id": eval_id, "timestamp": time.time(),
                "global_score": gs, "success_rate": sr,
                "previous_champion": cur.champion_id if cur else None,
                "previous_model_id": cur.model_id if cur else previous_model_id,
                "improvement_metrics": imp, "metrics": mets, "artifacts": art_ids,
            }

        def before_commit(entry: dict[str, Any], aliased: list[Artifact]) -> JournalBatch:
            # the catalog pointed the champion alias of each linked artifact at it: journal that too
            now = time.time()
            recs = [dict(entry)]
            recs += [{"kind": "alias", "name": a.name, "alias": "champion", "artifact_id": a.id, "at": now}
                     for a in aliased]
            return self.journal_batch(self.records, recs, state)

        state: dict[str, Any] = {}
        new, previous = self.catalog.promote(make_entry, before_commit)
        self.seal(state)
        if new is not None:
            self.registry.emit_champion_promoted(store=self, champion=new, previous=previous)
        return new

    def champion(self) -> ChampionRecord | None:
        """The current champion, or ``None``."""
        return self.catalog.current_champion()

    def champion_history(self, limit: int | None = None, model_id: str | None = None) -> list[ChampionRecord]:
        """The champion chain, newest first."""
        return self.catalog.champion_history(limit, model_id)

    # --- integrity -----------------------------------------------------------------------

    def verify(self, progress: Callable[[int], None] | None = None, *, repair: bool = False,
               replica: ArtifactStore | None = None) -> VerifyReport:
        """Re-hash every blob; report which artifacts are corrupt or missing their blob.

        ``repair=True`` restores each broken blob from ``replica`` (another store holding the
        same content) when it can, and reports the rest as needing a re-put
        (:mod:`artifactstore.repair`)."""
        by_blob: dict[str, list[Artifact]] = {}
        for a in self.catalog.iter_all():
            by_blob.setdefault(a.blob_key, []).append(a)
        checked: list[str] = []
        corrupt: list[str] = []
        missing: list[str] = []
        for key, arts in by_blob.items():
            first = arts[0]
            ids = [a.id for a in arts]
            checked += ids
            try:
                dec, closers = self._open_decoded(first, use_cache=False)  # check the backend itself
            except BlobMissingError:
                missing += ids
                continue
            try:
                sha, size = pump(dec.read, lambda _b: None, self._hash_pool, progress=progress)
                if sha != first.sha256 or size != first.size:
                    corrupt += ids
            except (OSError, ValueError) as exc:  # CorruptDataError (an OSError) on a damaged blob
                log.warning("blob %s unreadable: %s", key, exc)
                corrupt += ids
            finally:
                dec.close()
                for c in closers:
                    c.close()
        bad = set(corrupt)
        bad_keys = sorted({a.blob_key for arts in by_blob.values() for a in arts if a.id in bad})

        # Remembered, so that a put of the same bytes heals the blob instead of sharing it
        # (a flipped byte keeps the size dedup checks).
        self.catalog.mark_blobs_suspect(bad_keys)
        if not repair:
            return VerifyReport(checked=sorted(checked), corrupt=sorted(corrupt), missing=sorted(missing))
        from .repair import repair_blobs

        broken = set(corrupt) | set(missing)
        outcome = repair_blobs(self, [a for arts in by_blob.values() for a in arts if a.id in broken], replica)
        fixed = set(outcome.repaired)
        healed = sorted({a.blob_key for arts in by_blob.values() for a in arts if a.id in fixed})

        self.catalog.clear_blob_suspect(healed)
        return VerifyReport(checked=sorted(checked), corrupt=sorted(corrupt), missing=sorted(missing),
                            repaired=sorted(outcome.repaired), needs_reput=sorted(outcome.needs_reput), repair=True)

    # --- reindex -------------------------------------------------------------------------

    def reindex(self) -> int:
        """Rebuild the catalog from the manifests and records in the backend; return the artifact count.

        Whatever state an SQLite catalog file is in (garbage, truncated, another program's
        database), it is moved aside as ``catalog.db.corrupt-<timestamp>`` with a warning and
        rebuilt (:mod:`artifactstore.catalog.recovery`).

        Only committed journal batches count (see :mod:`artifactstore.manifests`). The
        rebuild runs in one catalog transaction that first excludes every writer (SQLite's
        write lock; on PostgreSQL an advisory lock and table locks), and reads the journals
        inside it: a row committed while a reindex runs is never dropped."""
        try:
            n = self.catalog.rebuild(self._reindex_contents)
        except CatalogError as exc:
            bad = sqlite_file(self.catalog.url)
            if bad is None or not is_damaged(exc):
                raise
            # A damaged SQLite file: it is only an index; move it aside and build a new one.
            self.catalog.close()
            quarantine(bad, exc)
            # sqlite_file() matched: the built-in SQLite catalog serves this URL
            self.catalog = SQLCatalog(self.catalog.url, fsync=bool(getattr(self.backend, "fsync", False)))
            n = self.catalog.rebuild(self._reindex_contents)
        assert n is not None
        return n

    def reindex_if_fresh(self) -> bool:
        """Rebuild a fresh catalog over an existing store, once: of many processes opening a
        new catalog at the same time, one rebuilds (under the reindex lock) and the others
        wait for it. Returns whether this call rebuilt it. One small query once done."""

        def has_journals() -> bool:
            return bool(self.manifests.segments() or self.records.segments())

        return self.catalog.rebuild(self._reindex_contents, only_if_fresh=True, has_journals=has_journals) is not None

    def _reindex_contents(self, pending: frozenset[str]) -> CatalogContents:
        """What the catalog holds according to the committed journals (``pending`` batches
        count as committed): called by the catalog inside its rebuild transaction."""
        arts: dict[str, tuple[str, dict[str, Any]]] = {}
        suffixes = self.codec_suffixes()
        for e in self.manifests.read_committed(pending):
            bad = check_entry(e, MANIFESTS, suffixes)
            if bad is not None or e.get("kind") != "artifact":
                if bad is not None:
                    log.warning("reindex: skipping a manifest entry: %s", bad)
                continue
            prev = arts.get(e["id"])
            if prev is None or str(e.get("seq", "")) >= prev[0]:
                arts[e["id"]] = (str(e.get("seq", "")), e)
        records = sorted((e for e in self.records.read_committed(pending) if check_entry(e, RECORDS, suffixes) is None),
                         key=lambda e: str(e.get("seq", "")))
        renumbers = [e for e in self.version_log.read_committed(pending) if check_entry(e, VERSIONS, suffixes) is None
                     and e.get("kind") == "version"]
        renumbered = {str(e["artifact_id"]): int(e["version"]) for e in renumbers}
        deleted = {e["artifact_id"] for e in records if e.get("kind") == "delete"}
        last_versions: dict[str, int] = {}
        for e in renumbers:  # numbers a sync took count even if its manifests never landed
            last_versions[e["name"]] = max(last_versions.get(e["name"], 0), int(e["version"]))
        taken: set[tuple[str, int]] = set()
        live: list[Artifact] = []
        # Committed entries never share a (name, version): the catalog assigned them. A store
        # merged by sync records the destination's numbers as "version" records, applied here.
        for aid in sorted(arts, key=lambda i: (renumbered.get(i, int(arts[i][1]["version"])), i)):
            e = arts[aid][1]
            name, version = e["name"], renumbered.get(aid, int(e["version"]))
            if (name, version) in taken:  # a format-1 journal with a retried write
                version = max(last_versions.get(name, 0), version) + 1
                log.warning("reindex: %s@v%d already taken, restoring %s as v%d", name, e["version"], aid, version)
            taken.add((name, version))
            last_versions[name] = max(last_versions.get(name, 0), version)
            if aid in deleted:
                continue
            live.append(_artifact_from_fields({**e, "version": version}))
        live = _apply_edits(live, records)
        live_ids = {a.id for a in live}
        alias_map: dict[tuple[str, str], tuple[str, float]] = {}
        for e in records:
            if e.get("kind") == "alias":
                alias_map[(e["name"], e["alias"])] = (e["artifact_id"], float(e.get("at", 0)))
            elif e.get("kind") == "unalias":  # remove_alias
                alias_map.pop((e["name"], e["alias"]), None)
        aliases = [AliasRow(n, al, i, ts) for (n, al), (i, ts) in alias_map.items() if i in live_ids]
        evals, champs = self._reindex_evaluations(records)
        return CatalogContents(live, aliases, last_versions, evals, champs)

    def codec_suffixes(self) -> dict[str, str]:
        """Every registered codec's blob-key suffix, by codec name."""
        return {n: self._codec(n).suffix for n in self.registry.names("codec")}

    def _reindex_evaluations(
        self, records: list[dict[str, Any]]
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        evals = [r for r in records if r.get("kind") == "evaluation"]
        # Champion numbers are derived from the chain's order, never trusted as stored: two
        # chains merged by sync, or a format-1 journal, may repeat a number.
        seen: dict[str, dict[str, Any]] = {}
        for r in records:
            if r.get("kind") == "champion" and isinstance(r.get("champion_id"), str):
                seen.setdefault(r["champion_id"], r)
        chain = sorted(seen.values(), key=lambda r: (int(r.get("seq_no", 0)), float(r.get("timestamp", 0)),
                                                     str(r["champion_id"])))
        champs = [{**r, "seq_no": i} for i, r in enumerate(chain, 1)]
        return evals, champs

    # --- store.json ----------------------------------------------------------------------

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


def _apply_edits(live: list[Artifact], records: list[dict[str, Any]]) -> list[Artifact]:
    # edit_artifact journals the resulting tags and metadata: the last edit of each artifact wins
    last: dict[str, dict[str, Any]] = {}
    for e in records:
        if e.get("kind") == "edit" and isinstance(e.get("artifact_id"), str):
            last[e["artifact_id"]] = e
    if not last:
        return live
    out = []
    for a in live:
        edit = last.get(a.id)
        if edit is not None:
            try:  # a journal from elsewhere (sync) is input like any other: validated
                a = dataclasses.replace(a, tags=check_tags(list(edit.get("tags") or ())),
                                        metadata=check_metadata(edit.get("metadata") or {}))
            except (InvalidInputError, InvalidMetadataError, TypeError) as exc:
                log.warning("reindex: ignoring an invalid edit record of %s: %s", a.id, exc)
        out.append(a)
    return out


def _dest_error(exc: OSError, out: Path, extra: int) -> OSError:
    # Name the user's destination, not the hidden temporary file beside it.
    why = f"{exc.strerror} (writing the temporary file beside it)"
    if exc.errno == errno.ENAMETOOLONG:
        why = f"{exc.strerror}: the temporary file beside it needs {extra} more characters; use a shorter name"
    return OSError(exc.errno, why, str(out))


class _CodecFailure(Exception):
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc
        super().__init__(str(exc))


# --- opening -----------------------------------------------------------------------------

_STORE_OPTIONS = ("default_codec", "workers")


def _sweep_scratch(backend: Backend) -> None:
    """At open: remove the scratch entries (temporary folders, spool files) that killed
    processes left (:mod:`artifactstore.scratch`); a failure to sweep never fails the open."""
    from .scratch import OPEN_GRACE_SECONDS, sweep

    try:
        n = sweep(backend, OPEN_GRACE_SECONDS)
    except OSError as exc:
        log.info("could not sweep the scratch folder of %s: %s", backend.url, exc)
        return
    if n:
        log.info("removed %d temporary file(s) or folder(s) left by killed processes", n)


def _scheme(url: str) -> str:
    if "://" in url:
        return url.split("://", 1)[0].lower()
    if len(url) > 2 and url[1] == ":" and url[0].isalpha():  # C:\ on Windows
        return "file"
    return "file"


def _default_catalog_url(backend: Backend, url: str) -> str:
    local = backend.local_path("catalog.db")
    if local is not None:
        return f"sqlite:///{local}"
    if url.startswith("memory://"):
        # Removed again when the store closes (see ArtifactStore.close).
        d = tempfile.mkdtemp(prefix="artifactstore-memcat-")
        return f"sqlite:///{d}/catalog.db"
    import platformdirs

    from .backends.cloud import location_key

    # The URL alone does not name a remote root: s3://bucket/store on two endpoints
    # (or az://c/store in two accounts) are two stores and must not share a catalog.
    where = location_key(getattr(getattr(backend, "fs", None), "storage_options", None) or {})
    digest = hashlib.sha256((backend.url + (f"\n{where}" if where else "")).encode()).hexdigest()[:16]
    cache = Path(platformdirs.user_cache_dir("artifactstore")) / "catalogs" / digest
    return f"sqlite:///{cache}/catalog.db"


def open_store(
    url: str | os.PathLike[str],
    catalog: str | os.PathLike[str] | None = None,
    *,
    registry: PluginRegistry | None = None,
    plugins: Sequence[object] = (),
    fsync: bool = False,
    default_codec: str = "auto",
    workers: int | None = None,
    catalog_options: Mapping[str, Any] | None = None,
    cache: Any = None,
    repair_catalog: bool = False,
    **storage_options: Any,
) -> ArtifactStore:
    """Open (creating if needed) the store at ``url``: a local path, ``file://``,
    ``memory://``, ``s3://``, ``gs://``, ``az://`` or any scheme a plugin registers.

    ``catalog`` is a database URL (``sqlite:///...``, ``postgresql://...``) or a
    file path; by default an SQLite file inside a local root, or in the user
    cache dir for a remote root. Remaining keyword arguments are storage
    options for the backend (endpoint, credentials, part size...). ``cache``
    controls the local read cache: ``None`` (on for remote stores), ``True``,
    ``False``, a folder, or a :class:`artifactstore.cache.BlobCache`.
    ``repair_catalog=True``: an SQLite catalog file found damaged is moved aside and
    rebuilt from the storage (what ``artifactstore reindex`` does); otherwise a damaged
    catalog raises :class:`~artifactstore.errors.CatalogError` saying to run reindex.
    """
    if repair_catalog:
        try:
            return open_store(url, catalog, registry=registry, plugins=plugins, fsync=fsync,
                              default_codec=default_codec, workers=workers, catalog_options=catalog_options,
                              cache=cache, **storage_options)
        except CatalogError as exc:
            bad = sqlite_file(getattr(exc, "catalog_url", ""))
            if bad is None or not is_damaged(exc):
                raise
            quarantine(bad, exc)
        # The new, empty catalog next to existing journals is rebuilt as it opens.
    from .plugins import build_registry

    if registry is None:
        registry = build_registry(plugins=plugins) if plugins else default_registry()
    url = os.fspath(url)
    scheme = _scheme(url)
    if "://" in url and scheme != "file":
        # Settings from the config file; explicit arguments win (see artifactstore.config).
        from .config import settings_for

        conf = settings_for(url)
        if catalog is None and conf.get("catalog"):
            catalog = str(conf["catalog"])
        if catalog_options is None and isinstance(conf.get("catalog_options"), dict):
            catalog_options = conf["catalog_options"]
        storage_options = {**{k: v for k, v in conf.items() if k not in ("catalog", "catalog_options")},
                           **storage_options}
    reg = registry.get("backend", scheme)
    if reg is None:
        from fsspec.registry import known_implementations

        hint = ""
        if scheme in known_implementations:
            hint = (f"fsspec supports {scheme!r}, but no artifactstore backend plugin registers it: "
                    "register FsspecBackend for it through artifactstore_register_backends")
        raise UnknownSchemeError(scheme, "backend", registry.names("backend"), hint)
    backend: Backend = reg.factory(url, fsync=fsync, **storage_options)
    cat_url = ""
    try:
        if catalog is None:
            cat_url = _default_catalog_url(backend, url)
        else:
            cat_url = os.fspath(catalog)
            if "://" not in cat_url:
                cat_url = f"sqlite:///{Path(cat_url).expanduser().resolve()}"
        cat_scheme = cat_url.split("://", 1)[0].split("+", 1)[0].lower()
        creg = registry.get("catalog", cat_scheme)
        if creg is None:
            raise UnknownSchemeError(cat_scheme, "catalog", registry.names("catalog"))
        cat = as_catalog(creg.factory(cat_url, fsync=fsync, **dict(catalog_options or {})), scheme=cat_scheme,
                         plugin=creg.plugin)
    except BaseException as exc:
        backend.close()
        if isinstance(exc, CatalogError) and cat_url:
            exc.catalog_url = cat_url
        raise
    store = ArtifactStore(backend, cat, registry, default_codec=default_codec, workers=workers, cache=cache)
    if catalog is None and url.startswith("memory://"):
        store.cleanup_dirs.append(str(Path(cat_url.split("sqlite:///", 1)[1]).parent))
    try:
        store.init_layout()
        # Commit markers a killed writer left unwritten (its catalog transaction committed).
        store.settle_pending()
        _sweep_scratch(store.backend)
        # A fresh catalog next to existing journals (another machine, a lost catalog
        # file): rebuild the index before anyone reads it, one worker at a time.
        store.reindex_if_fresh()
    except BaseException as exc:
        store.close()
        if isinstance(exc, CatalogError):
            exc.catalog_url = cat_url
        raise
    return store
