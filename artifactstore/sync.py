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
segments, so a deletion is never behind the artifact it deletes.

Verification (``verify=True``, the default) decodes each blob while it is being
copied and compares the SHA-256 of the decoded bytes with the one in its key;
a source blob that fails is not published in the destination and is reported.
A destination blob whose size differs from the source's is checked and repaired
on every sync (the listings give sizes for free); ``repair=True`` also re-hashes
every blob the destination's catalog references (a flipped byte keeps the size)
and re-copies the bad ones from the source.
"""

from __future__ import annotations

import io
import json
import logging
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, BinaryIO

from .codecs.base import Codec
from .errors import InvalidInputError, UnknownCodecError
from .manifests import MANIFESTS, RECORDS
from .streams import CHUNK, pump

if TYPE_CHECKING:
    from .backends.base import BlobWriter
    from .store import ArtifactStore

__all__ = ["SyncReport", "sync"]

log = logging.getLogger("artifactstore.sync")
BLOBS = "blobs/"


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


# --- reading blobs -------------------------------------------------------------------------


class _Tee(io.RawIOBase):
    """Reads the raw source blob and writes every byte read to the destination writer.

    Codec decoders read from it; closing it does nothing (the caller drains it
    to the end and closes the source itself).
    """

    def __init__(self, src: BinaryIO, dest: BlobWriter, progress: Callable[[int], None] | None) -> None:
        super().__init__()
        self._src = src
        self._dest = dest
        self._progress = progress
        self.n = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        view = memoryview(b).cast("B")
        data = self._src.read(len(view))
        if not data:
            return 0
        n = len(data)
        view[:n] = data
        self._dest.write(data)
        self.n += n
        if self._progress is not None:
            self._progress(n)
        return n

    def drain(self) -> None:
        while self.readinto(bytearray(CHUNK)):
            pass

    def close(self) -> None:  # the decoder may close its source; the caller owns it
        pass


def _decode_sha(codec: Codec, raw: BinaryIO) -> str | None:
    """SHA-256 of the decoded content of ``raw``, or ``None`` if it cannot be decoded."""
    try:
        dec = codec.decoder(raw)
        try:
            sha, _size = pump(dec.read, lambda _b: None, None)
        finally:
            if dec is not raw:
                dec.close()
        return sha
    except Exception as exc:  # zlib/zstd/tar/zip raise their own types on damaged data
        log.debug("decoding failed: %s", exc)
        return None


class _Copier:
    def __init__(self, src: ArtifactStore, dst: ArtifactStore, verify: bool,
                 progress: Callable[[int], None] | None) -> None:
        self.src = src
        self.dst = dst
        self.verify = verify
        self._lock = threading.Lock()
        self._progress = progress
        self._suffixes = sorted(
            ((src._codec(n).suffix, n) for n in src.registry.names("codec")), key=lambda t: -len(t[0])
        )

    def progress(self, n: int) -> None:
        if self._progress is not None:
            with self._lock:
                self._progress(n)

    def codec_of(self, key: str, hint: str | None = None) -> tuple[str, Codec]:
        """(sha256, codec) of a blob key ``blobs/sha256/ab/<sha><suffix>``."""
        base = key.rsplit("/", 1)[-1]
        sha = base[:64]
        suffix = base[64:]
        if hint is not None:
            try:
                codec = self.src._codec(hint)  # private, cached codec lookup (same package)
                if codec.suffix == suffix:
                    return sha, codec
            except UnknownCodecError:
                pass
        for suf, name in self._suffixes:
            if suf == suffix:
                return sha, self.src._codec(name)
        raise UnknownCodecError(f"(suffix {suffix!r} of {key})", self.src.registry.names("codec"))

    def check(self, store: ArtifactStore, key: str, codec_hint: str | None = None) -> bool:
        """Whether ``key`` in ``store`` decodes to the SHA-256 its key names."""
        sha, codec = self.codec_of(key, codec_hint)
        try:
            raw = store.backend.open_read(key)
        except FileNotFoundError:
            return False
        try:
            return _decode_sha(codec, raw) == sha
        finally:
            raw.close()

    def copy(self, key: str, codec_hint: str | None = None) -> tuple[str, int]:
        """Copy one blob; return ("ok" | "corrupt" | "missing", stored bytes copied)."""
        sha, codec = self.codec_of(key, codec_hint)
        try:
            raw = self.src.backend.open_read(key)
        except FileNotFoundError:
            return "missing", 0
        writer = self.dst.backend.writer()
        try:
            tee = _Tee(raw, writer, self.progress)
            if self.verify and not codec.needs_seekable and _decode_sha(codec, tee) != sha:  # type: ignore[arg-type]
                writer.abort()
                return "corrupt", 0
            tee.drain()  # a decoder may stop before the end of the raw bytes (trailers, padding)
            writer.commit(key)
        except BaseException:
            writer.abort()
            raise
        finally:
            raw.close()
        if self.verify and codec.needs_seekable and not self.check(self.dst, key, codec.name):
            # zip needs a seekable source: checked after the copy, from the destination.
            self.dst.backend.delete(key)
            return "corrupt", 0
        return "ok", tee.n


# --- journals ------------------------------------------------------------------------------


def _segments(store: ArtifactStore) -> dict[str, int]:
    out: dict[str, int] = {}
    for folder in (RECORDS, MANIFESTS):
        for o in store.backend.list(folder + "/"):
            if o.key.endswith(".jsonl"):
                out[o.key] = o.size
    return out


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
    if src_store.backend.url == dst_store.backend.url:
        raise InvalidInputError(f"source and destination are the same store: {src_store.backend.url}")
    report = SyncReport()
    copier = _Copier(src_store, dst_store, verify, progress)

    # 1. The journal segments the destination lacks, or holds a shorter copy of.
    src_segs, dst_segs = _segments(src_store), _segments(dst_store)
    new_data: dict[str, bytes] = {}  # segment key -> its full source bytes
    fresh: dict[str, bytes] = {}  # segment key -> the bytes the destination has not seen
    for key in sorted(src_segs):
        have = dst_segs.get(key)
        if have is not None and have >= src_segs[key]:
            continue  # equal, or a copy of ours that the source has not caught up with
        try:
            data = src_store.backend.read_bytes(key)
        except FileNotFoundError:
            continue
        old = b""
        if have is not None:
            old = dst_store.backend.read_bytes(key)
            if not data.startswith(old):
                log.warning("sync: %s differs between %s and %s; left as it is", key, src_store.url, dst_store.url)
                report.conflicts.append(key)
                continue
        if len(data) > len(old):
            new_data[key] = data
            fresh[key] = data[len(old):]

    # 2. Blobs referenced by the new manifest entries (unless deleted in the same new records).
    deleted = {str(e.get("artifact_id")) for k, d in fresh.items() if k.startswith(RECORDS + "/")
               for e in _entries(d) if e.get("kind") == "delete"}
    needed: dict[str, str | None] = {}
    for k, d in fresh.items():
        if not k.startswith(MANIFESTS + "/"):
            continue
        for e in _entries(d):
            if e.get("kind") == "artifact" and isinstance(e.get("blob_key"), str) and e.get("id") not in deleted:
                needed.setdefault(e["blob_key"], e.get("codec"))

    src_blobs = {o.key: o.size for o in src_store.backend.list(BLOBS)}
    dst_blobs = {o.key: o.size for o in dst_store.backend.list(BLOBS)}
    to_copy: dict[str, str | None] = {}
    for key, hint in needed.items():
        if key not in dst_blobs:
            to_copy[key] = hint
    # A destination blob whose size differs from the source's: truncated or damaged,
    # unless both are valid encodings of the same content (checked before replacing).
    size_bad = {key for key, size in dst_blobs.items()
                if key in src_blobs and src_blobs[key] != size and key not in to_copy
                and not copier.check(dst_store, key)}
    to_copy.update({key: None for key in size_bad})

    copied: set[str] = set()  # blob keys copied by this sync (and verified, with verify)
    n_workers = workers or (8 if (src_store.backend.is_remote or dst_store.backend.is_remote) else 2)
    _copy_all(copier, to_copy, src_blobs, report, copied, n_workers)
    report.repaired.extend(sorted(size_bad & copied))

    # 3. The segments themselves: records first, so a deletion never trails its artifact.
    for key in sorted(new_data, key=lambda k: (not k.startswith(RECORDS + "/"), k)):
        dst_store.backend.write_bytes(key, new_data[key])
        report.segments_copied += 1
        report.segment_bytes += len(new_data[key])

    # 4. The destination's catalog.
    if reindex or (reindex is None and new_data):
        report.reindexed = dst_store.reindex()

    # 5. Blobs the destination's catalog references but lacks (cheap: one query and
    #    the listing) or, with repair, that fail their hash.
    referenced = dst_store.catalog.referenced_blob_keys()
    dst_now = set(dst_blobs) | copied
    bad = referenced - dst_now - set(report.missing_source) - set(report.corrupt_source)
    if repair:
        for key in sorted(referenced & (dst_now - copied)):
            report.blobs_checked += 1
            if not copier.check(dst_store, key):
                log.warning("sync: destination blob %s fails its SHA-256; repairing from the source", key)
                bad.add(key)
    if bad:
        report.unrepairable.extend(sorted(bad - set(src_blobs)))
        fixed: set[str] = set()
        _copy_all(copier, {k: None for k in bad if k in src_blobs}, src_blobs, report, fixed, n_workers)
        report.repaired.extend(sorted(fixed))
        report.unrepairable.extend(sorted(bad - fixed - set(report.unrepairable)))
    report.repaired = sorted(set(report.repaired))
    return report


def _copy_all(copier: _Copier, keys: dict[str, str | None], src_blobs: dict[str, int], report: SyncReport,
              copied: set[str], workers: int) -> None:
    if not keys:
        return
    present = {k: v for k, v in keys.items() if k in src_blobs}
    for k in sorted(set(keys) - set(present)):
        report.missing_source.append(k)

    def one(item: tuple[str, str | None]) -> tuple[str, str, int]:
        status, n = copier.copy(*item)
        return item[0], status, n

    items = sorted(present.items())
    if workers <= 1 or len(items) <= 1:
        results = [one(i) for i in items]
    else:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="artifactstore-sync") as pool:
            results = list(pool.map(one, items))
    for key, status, n in results:
        if status == "ok":
            copied.add(key)
            report.blobs_copied += 1
            report.bytes_copied += n
        elif status == "corrupt":
            log.error("sync: source blob %s fails its SHA-256; not copied", key)
            report.corrupt_source.append(key)
        else:
            report.missing_source.append(key)
