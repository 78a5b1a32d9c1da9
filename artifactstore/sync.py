"""Incremental copy of one store into another, across any two backends.

What a store *is* lives in its backend: content-addressed blobs, and the
append-only journals ``manifests/`` and ``records/`` (see
:mod:`artifactstore.manifests`). :func:`sync` copies what the destination lacks
of both, at the level of stored bytes (a blob is copied as encoded, never
re-encoded), then reindexes the destination's catalog.

Order matters for a crash-safe copy: for each journal segment the destination
lacks (or holds a shorter copy of: a local append log that grew), the blobs its
new entries reference are copied and verified *first*; the segment itself comes
after. A destination that holds a segment therefore holds its blobs, and an
interrupted sync simply resumes. Records segments are written before manifest
segments (they reference no blob), so a deletion is never behind the artifact it
deletes, and manifests go in batches of at most 64 MiB, so memory stays bounded.
A segment the destination holds a *longer* copy of is left alone (a sync back
never clobbers a log its owner kept appending to); one whose copy is not a
prefix of the source's is reported as a conflict and left alone.

The destination's catalog is rebuilt with :meth:`ArtifactStore.reindex` when
segments were copied. If a sync is interrupted after copying segments but
before that, the next sync finds nothing to copy: pass ``reindex=True``
(``artifactstore sync --reindex``) once, or run ``artifactstore reindex``.

Verification (``verify=True``, the default) decodes each blob while it is being
copied and compares the SHA-256 of the decoded bytes with the one in its key;
a source blob that fails is not published in the destination and is reported.
A destination blob whose size differs from the source's is checked and repaired
on every sync (the listings give sizes for free); ``repair=True`` also re-hashes
every blob the destination's catalog references (a flipped byte keeps the size)
and re-copies the bad ones from the source.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from .catalog.base import JournalBatch
from .errors import InvalidInputError
from .faults import crash_point
from .manifests import MANIFESTS, RECORDS, Journal

if TYPE_CHECKING:
    from .store import ArtifactStore

__all__ = ["SyncReport", "sync"]

log = logging.getLogger("artifactstore.sync")
T = TypeVar("T")
R = TypeVar("R")


@dataclass
class SyncReport:
    """What :func:`sync` did. ``bytes_copied`` counts blob bytes as stored (encoded).

    ``corrupt_source`` / ``missing_source``: blob keys the source references but
    cannot provide intact; they are not copied (the destination then reports
    them as missing, as the source does). ``unrepairable``: destination blobs
    found bad that the source cannot replace. ``conflicts``: journal segments whose
    destination copy is not a prefix of the source's; left untouched.
    """

    blobs_copied: int = 0
    bytes_copied: int = 0
    segments_copied: int = 0
    segment_bytes: int = 0
    blobs_checked: int = 0
    repaired: list[str] = field(default_factory=list)
    corrupt_source: list[str] = field(default_factory=list)
    missing_source: list[str] = field(default_factory=list)
    unrepairable: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    reindexed: int | None = None

    @property
    def ok(self) -> bool:
        return not (self.corrupt_source or self.missing_source or self.unrepairable or self.conflicts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "blobs_copied": self.blobs_copied, "bytes_copied": self.bytes_copied,
            "segments_copied": self.segments_copied, "segment_bytes": self.segment_bytes,
            "blobs_checked": self.blobs_checked, "repaired": self.repaired,
            "corrupt_source": self.corrupt_source, "missing_source": self.missing_source,
            "unrepairable": self.unrepairable, "conflicts": self.conflicts, "reindexed": self.reindexed,
            "ok": self.ok,
        }


# --- copying blobs -------------------------------------------------------------------------


class _Copier:
    def __init__(self, src: ArtifactStore, dst: ArtifactStore, verify: bool,
                 progress: Callable[[int], None] | None) -> None:
        self.src = src
        self.dst = dst
        self.verify = verify
        self._lock = threading.Lock()
        self._progress = progress

    def progress(self, n: int) -> None:
        if self._progress is not None:
            with self._lock:
                self._progress(n)

    def check(self, store: ArtifactStore, key: str, codec_hint: str | None = None) -> bool:
        """Whether ``key`` in ``store`` decodes to the SHA-256 its key names."""
        return store.blobs.check_key(key, codec_hint)

    def copy(self, key: str, codec_hint: str | None = None) -> tuple[str, int]:
        """Copy one blob; return ("ok" | "corrupt" | "missing", stored bytes copied)."""
        return self.src.blobs.copy_to(self.dst.blobs, key, codec_hint, verify=self.verify, progress=self.progress)


# --- journals ------------------------------------------------------------------------------


def _segments(store: ArtifactStore) -> dict[str, int]:
    return {**store.records.segment_sizes(), **store.manifests.segment_sizes()}


def _journal(store: ArtifactStore, key: str) -> Journal:
    return store.records if key.startswith(RECORDS + "/") else store.manifests


def _entries(data: bytes) -> Iterable[dict[str, Any]]:
    for line in data.split(b"\n"):
        if not line.strip():
            continue
        try:
            e = json.loads(line)
        except ValueError:  # a torn last line (a write in flight): copied as is, as reindex skips it
            continue
        if isinstance(e, dict):
            yield e


def sync(
    src_store: ArtifactStore,
    dst_store: ArtifactStore,
    *,
    verify: bool = True,
    repair: bool = False,
    reindex: bool | None = None,
    workers: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> SyncReport:
    """Copy into ``dst_store`` the blobs, manifests and records of ``src_store`` it lacks.

    Incremental: a second sync with nothing new copies nothing (0 blobs,
    0 bytes). Deletions travel as records, so artifacts deleted in the source
    disappear from the destination, and artifacts deleted in the destination
    stay deleted. Artifacts the destination stored itself are kept.

    ``verify`` checks every copied blob by decoding it (see the module doc);
    ``repair`` also re-hashes every blob the destination references and
    re-copies the bad ones from the source. ``reindex`` rebuilds the
    destination's catalog: by default only when something was copied.
    ``progress(nbytes)`` is called as blob bytes are copied.
    """
    if src_store.url == dst_store.url:
        raise InvalidInputError(f"source and destination are the same store: {src_store.url}")
    report = SyncReport()
    copier = _Copier(src_store, dst_store, verify, progress)
    n_workers = workers or (8 if (src_store.blobs.is_remote or dst_store.blobs.is_remote) else 2)
    with ThreadPoolExecutor(max_workers=n_workers, thread_name_prefix="artifactstore-sync") as pool:
        _sync(src_store, dst_store, copier, pool, report, repair, reindex)
    report.repaired = sorted(set(report.repaired))
    return report


def _pmap(pool: ThreadPoolExecutor, fn: Callable[[T], R], items: Iterable[T]) -> list[R]:
    items = list(items)
    if len(items) <= 1:
        return [fn(i) for i in items]
    return list(pool.map(fn, items))


def _sync(src_store: ArtifactStore, dst_store: ArtifactStore, copier: _Copier, pool: ThreadPoolExecutor,
          report: SyncReport, repair: bool, reindex: bool | None) -> None:
    src_segs, dst_segs = _segments(src_store), _segments(dst_store)
    src_blobs = src_store.blobs.sizes()
    dst_blobs = dst_store.blobs.sizes()
    copied: set[str] = set()  # blob keys copied by this sync (and verified, with verify)

    # 1. The journal segments the destination lacks, or holds a shorter copy of (a local
    #    append log that grew). Records first: they reference no blob, and the deletions
    #    among them tell which new artifacts need no blob copied.
    todo = [k for k in sorted(src_segs) if dst_segs.get(k, -1) < src_segs[k]]
    # 0. Trust nothing: every line the destination would take is checked first, and the
    #    destination's own version numbers for the new artifacts are committed before any
    #    segment lands (so its refs never change meaning, and a resumed sync keeps them).
    if todo:
        arrivals = _validate(src_store, dst_store, pool, todo, src_segs, dst_segs)
        _assign_versions(src_store, dst_store, arrivals)
    deleted: set[str] = set()
    for batch in _batches([k for k in todo if k.startswith(RECORDS + "/")], src_segs):
        for key, data, fresh in _pmap(pool, lambda k: _read_segment(src_store, dst_store, k, dst_segs), batch):
            if _write_segment(dst_store, key, data, report):
                deleted.update(str(e.get("artifact_id")) for e in _entries(fresh) if e.get("kind") == "delete")

    # 2. Manifest segments, a batch at a time (bounded memory): first the blobs their new
    #    entries reference, verified, then the segments. A segment in the destination
    #    therefore always has its blobs there too, and an interrupted sync resumes.
    for batch in _batches([k for k in todo if k.startswith(MANIFESTS + "/")], src_segs):
        segs = _pmap(pool, lambda k: _read_segment(src_store, dst_store, k, dst_segs), batch)
        needed: dict[str, str | None] = {}
        for _key, data, fresh in segs:
            if data is None:
                continue
            for e in _entries(fresh):
                bkey = e.get("blob_key")
                if e.get("kind") == "artifact" and isinstance(bkey, str) and e.get("id") not in deleted:
                    needed.setdefault(bkey, e.get("codec"))
        _copy_all(copier, pool, {k: v for k, v in needed.items() if k not in dst_blobs and k not in copied},
                  src_blobs, report, copied)
        for key, data, _fresh in segs:
            _write_segment(dst_store, key, data, report)

    crash_point("sync-after-segments")

    # 3. A destination blob whose size differs from the source's is truncated or damaged,
    #    unless both are valid encodings of the same content (checked before replacing).
    differs = [k for k, size in dst_blobs.items() if k in src_blobs and src_blobs[k] != size and k not in copied]
    size_bad = {k for k, ok in zip(differs, _pmap(pool, lambda k: copier.check(dst_store, k), differs), strict=True)
                if not ok}
    fixed: set[str] = set()
    _copy_all(copier, pool, dict.fromkeys(size_bad), src_blobs, report, fixed)
    copied |= fixed
    report.repaired.extend(fixed)

    # 4. The destination's catalog.
    pending = dst_store.catalog.sync_pending()
    if reindex or (reindex is None and (report.segments_copied or pending is not None)):
        report.reindexed = dst_store.reindex()

    # 5. Blobs the destination's catalog references but lacks (cheap: one query and the
    #    listing) or, with repair, that fail their hash.
    referenced = dst_store.catalog.referenced_blob_keys()
    dst_now = set(dst_blobs) | copied
    bad = referenced - dst_now - set(report.missing_source) - set(report.corrupt_source)
    if repair:
        to_check = sorted(referenced & (dst_now - copied))
        report.blobs_checked += len(to_check)
        for key, ok in zip(to_check, _pmap(pool, lambda k: copier.check(dst_store, k), to_check), strict=True):
            if not ok:
                log.warning("sync: destination blob %s fails its SHA-256; repairing from the source", key)
                bad.add(key)
    if bad:
        unrepairable = bad - set(src_blobs)
        fixed = set()
        _copy_all(copier, pool, {k: None for k in bad if k in src_blobs}, src_blobs, report, fixed)
        report.repaired.extend(fixed)
        report.unrepairable.extend(sorted(unrepairable | (bad - fixed)))


_BATCH_BYTES = 64 << 20


def _lines(key: str, data: bytes, start: int) -> Iterable[tuple[int, dict[str, Any]]]:
    """(line number, entry) of every whole line of ``data`` from byte ``start`` (a line
    start); an unterminated last line is a write in flight and skipped if unreadable."""
    from .errors import HostileStoreError

    lines = data[start:].split(b"\n")
    first = data.count(b"\n", 0, start) + 1
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except (ValueError, UnicodeDecodeError):
            if i == len(lines) - 1:
                continue  # torn last line: reindex skips it too
            raise HostileStoreError(f"{key} line {first + i}", "not a JSON line") from None
        yield first + i, entry


def _validate(src: ArtifactStore, dst: ArtifactStore, pool: ThreadPoolExecutor, todo: list[str],
              src_segs: dict[str, int], dst_segs: dict[str, int]) -> list[tuple[str, int, str]]:
    """Check every entry of the segments to copy; return (name, version, id) of the artifact
    entries new to the destination. Raises :class:`HostileStoreError` before anything is written."""
    from .errors import HostileStoreError
    from .manifests import check_entry

    suffixes = dst.codec_suffixes()
    arrivals: list[tuple[str, int, str]] = []
    source_ids: set[str] = set()
    deletes: dict[str, str] = {}
    for batch in _batches(todo, src_segs):
        for key, data, _fresh in _pmap(pool, lambda k: _read_segment(src, dst, k, dst_segs), batch):
            if not data:
                continue
            folder = key.split("/", 1)[0]
            if key.count("/") != 1 or not key.endswith(".jsonl") or ".." in key:
                raise HostileStoreError(key, "not a journal segment name")
            old = min(dst_segs.get(key, 0), len(data))
            cut = data.rfind(b"\n", 0, old) + 1 if old else 0
            for n, e in _lines(key, data, 0):
                bad = check_entry(e, folder, suffixes)
                if bad is not None:
                    raise HostileStoreError(f"{key} line {n}", bad)
                if e["kind"] == "artifact":
                    source_ids.add(e["id"])
                elif e["kind"] == "delete":
                    deletes.setdefault(e["artifact_id"], f"{key} line {n}")
            if folder == MANIFESTS:
                arrivals += [(e["name"], e["version"], e["id"]) for _n, e in _lines(key, data, cut)
                             if e.get("kind") == "artifact"]
    unknown = set(deletes) - source_ids
    if unknown:  # a deletion may only name an artifact the source itself holds in its journals
        for e in src.manifests.read_all():
            unknown.discard(str(e.get("id")))
            if not unknown:
                break
    if unknown:
        aid = sorted(unknown)[0]
        raise HostileStoreError(deletes[aid], f"deletes artifact {aid}, which the source never stored")
    return arrivals


def _assign_versions(src: ArtifactStore, dst: ArtifactStore, arrivals: list[tuple[str, int, str]]) -> None:
    """Give every artifact new to ``dst`` the next version numbers of its name there (in the
    source's order), journalled in ``dst``'s own ``versions/`` (never synced onwards), and mark
    the destination's catalog as awaiting a reindex (finished by the next sync or open)."""
    by_id = {aid: (name, v) for name, v, aid in arrivals}
    have = dst.catalog.existing_ids(sorted(by_id))
    have |= {str(e.get("artifact_id")) for e in dst.version_log.read_committed() if e.get("kind") == "version"}
    new = sorted((name, v, aid) for aid, (name, v) in by_id.items() if aid not in have)
    state: dict[str, Any] = {}
    counts: dict[str, int] = {}
    for name, _v, _aid in new:
        counts[name] = counts.get(name, 0) + 1

    def record(first: dict[str, int]) -> JournalBatch | None:
        entries = []
        for name, _v, aid in new:
            entries.append({"kind": "version", "artifact_id": aid, "name": name, "version": first[name]})
            first[name] += 1
        return dst.journal_batch(dst.version_log, entries, state) if entries else None

    dst.catalog.reserve_versions(counts, sync_source=src.backend.url, before_commit=record)
    dst.seal(state)


def _batches(keys: list[str], sizes: dict[str, int]) -> Iterable[list[str]]:
    batch: list[str] = []
    total = 0
    for k in keys:
        batch.append(k)
        total += sizes[k]
        if total >= _BATCH_BYTES or len(batch) >= 10_000:
            yield batch
            batch, total = [], 0
    if batch:
        yield batch


def _read_segment(src: ArtifactStore, dst: ArtifactStore, key: str,
                  dst_segs: dict[str, int]) -> tuple[str, bytes | None, bytes]:
    """(key, the source's bytes or None when there is nothing to write, the bytes new to the destination)."""
    try:
        data = _journal(src, key).read_raw(key)
    except FileNotFoundError:
        return key, None, b""
    old = b""
    if key in dst_segs:
        try:
            old = _journal(dst, key).read_raw(key)
        except FileNotFoundError:
            old = b""
        if not data.startswith(old):
            # Never the case for journals (one writer per segment, append-only); do not
            # overwrite what we do not understand.
            log.warning("sync: %s differs between %s and %s; left as it is", key, src.url, dst.url)
            return key, b"", b""
    if len(data) <= len(old):
        return key, None, b""
    return key, data, data[len(old):]


def _write_segment(dst: ArtifactStore, key: str, data: bytes | None, report: SyncReport) -> bool:
    if data is None:
        return False
    if data == b"":  # a conflict (see _read_segment)
        report.conflicts.append(key)
        return False
    _journal(dst, key).write_raw(key, data)
    report.segments_copied += 1
    report.segment_bytes += len(data)
    return True


def _copy_all(copier: _Copier, pool: ThreadPoolExecutor, keys: dict[str, str | None], src_blobs: dict[str, int],
              report: SyncReport, copied: set[str]) -> None:
    if not keys:
        return
    for k in sorted(set(keys) - set(src_blobs)):
        report.missing_source.append(k)
    items = sorted((k, v) for k, v in keys.items() if k in src_blobs)
    for (key, _hint), (status, n) in zip(items, _pmap(pool, lambda i: copier.copy(*i), items), strict=True):
        if status == "ok":
            copied.add(key)
            report.blobs_copied += 1
            report.bytes_copied += n
        elif status == "corrupt":
            log.error("sync: source blob %s fails its SHA-256; not copied", key)
            report.corrupt_source.append(key)
        else:
            report.missing_source.append(key)
