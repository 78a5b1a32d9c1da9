"""Manifests and records: the backend's own, append-only history of the store.

Each entry is one JSON object on its own line. ``manifests/`` holds one entry
per artifact version; ``records/`` holds deletions, aliases, evaluation
records and champion events. On a backend that supports appends (local disk)
each store object appends to its own log file (one ``write`` per batch, so
records never interleave); elsewhere each batch becomes one new object. The
catalog is rebuilt from these by ``reindex``; a torn last line left by a
killed process is skipped.

Commit markers (format 2). A batch is written inside the catalog transaction
that makes it visible: every entry carries ``"batch": <id>``. Once the catalog
transaction has committed, one more line, ``{"kind": "commit", "batch": <id>}``,
is appended (:meth:`Journal.commit`). Reindex honours an entry only if its
batch has a commit marker (:func:`committed_entries`), so a writer killed
between its append and its catalog commit leaves lines nothing ever reads: a
version or champion number it had taken is free again and the next writer's
number keeps its meaning. The window between the catalog commit and the marker
is closed by the catalog: the same transaction records the batch as pending
(:meth:`artifactstore.catalog.leases.LeaseTables.note_batch`) and the next open
of the store writes the marker of every pending batch. Entries without
``batch`` (format 1) count as committed.
"""

from __future__ import annotations

import json
import logging
import math
import re
import threading
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from .backends.base import Backend
from .ids import new_id

__all__ = ["COMMIT", "FORMAT", "KINDS", "VERSIONS", "Journal", "MANIFESTS", "RECORDS", "blob_key", "check_entry",
           "committed_entries"]

log = logging.getLogger("artifactstore.manifests")
MANIFESTS = "manifests"
RECORDS = "records"
#: The store's own version assignments for artifacts that came from another store (sync);
#: never copied by sync, so each store keeps its own numbering.
VERSIONS = "versions"
#: Entry format written: 2 = batch ids and commit markers (format 1 entries stay readable).
FORMAT = 2
#: ``kind`` of a commit marker line.
COMMIT = "commit"
_ROTATE_BYTES = 64 << 20
#: Every entry kind, per journal folder.
KINDS = {MANIFESTS: frozenset({"artifact", "commit"}),
         RECORDS: frozenset({"delete", "alias", "unalias", "edit", "evaluation", "champion", "commit"}),
         VERSIONS: frozenset({"version", "commit"})}
_HEX64 = re.compile(r"^[0-9a-f]{64}\Z")
_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z")
_BATCH = re.compile(r"^[0-9a-f-]{1,40}\Z")


def blob_key(sha256: str, suffix: str) -> str:
    """The backend key of the blob holding content ``sha256`` encoded with a codec of ``suffix``."""
    return f"blobs/sha256/{sha256[:2]}/{sha256}{suffix}"


def _dumps(entry: dict[str, Any]) -> bytes:
    return json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"


class Journal:
    """Append-only log of JSON entries under one folder of a backend."""

    def __init__(self, backend: Backend, folder: str) -> None:
        self.backend = backend
        self.folder = folder
        self._lock = threading.Lock()
        self._segment = new_id()
        self._written = 0

    def append(self, entries: list[dict[str, Any]], batch: str | None = None) -> str:
        """Write ``entries`` as one unit (tagged with ``batch`` when given); return the key written to.

        A batch's entries count only once :meth:`commit` wrote its marker.
        """
        for e in entries:
            e.setdefault("format", FORMAT)
            e.setdefault("seq", new_id())
            if batch is not None:
                e["batch"] = batch
        data = b"".join(_dumps(e) for e in entries)
        if self.backend.supports_append:
            with self._lock:
                if self._written > _ROTATE_BYTES:
                    self._segment, self._written = new_id(), 0
                key = f"{self.folder}/{self._segment}.jsonl"
                self._written += len(data)
            try:
                self.backend.append_bytes(key, data)
            except BaseException:
                # A failed append may have left a torn line at the end of the segment (a full
                # disk, an I/O error): never append after it, or the next line would be glued
                # to it and lost. The next append starts a new segment.
                with self._lock:
                    if key == f"{self.folder}/{self._segment}.jsonl":
                        self._segment, self._written = new_id(), 0
                raise
            return key
        key = f"{self.folder}/{new_id()}.jsonl"
        self.backend.write_bytes(key, data)
        return key

    def commit(self, batches: list[str]) -> None:
        """Append the commit markers of ``batches`` (idempotent: a marker written twice is harmless)."""
        if batches:
            self.append([{"kind": COMMIT, "batch": b} for b in batches])

    def segments(self) -> list[str]:
        return sorted(o.key for o in self.backend.list(self.folder + "/") if o.key.endswith(".jsonl"))

    def segment_sizes(self) -> dict[str, int]:
        """Size in bytes of every segment, by key (one listing)."""
        return {o.key: o.size for o in self.backend.list(self.folder + "/") if o.key.endswith(".jsonl")}

    def read_raw(self, key: str) -> bytes:
        """The bytes of segment ``key`` as stored; ``FileNotFoundError`` when absent."""
        return self.backend.read_bytes(key)

    def write_raw(self, key: str, data: bytes) -> None:
        """Replace segment ``key`` with ``data``, atomically (sync: a copy of another store's
        segment, of which the old content is a prefix)."""
        self.backend.write_bytes(key, data)

    def read_segment(self, key: str) -> list[dict[str, Any]]:
        try:
            raw = self.backend.read_bytes(key)
        except FileNotFoundError:
            return []
        out = []
        for n, line in enumerate(raw.split(b"\n")):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
            except ValueError:
                log.warning("skipping unreadable line %d of %s (torn write?)", n + 1, key)
                continue
            if isinstance(entry, dict):
                out.append(entry)
        return out

    def read_committed(self, also: Iterable[str] = ()) -> list[dict[str, Any]]:
        """Every committed entry (see :func:`committed_entries`), markers left out.

        ``also`` names batches to count as committed without a marker (pending in the catalog)."""
        return committed_entries(self.read_all(), also)

    def read_all(self, workers: int = 8) -> Iterator[dict[str, Any]]:
        """Every entry of every segment (segments read concurrently on remote backends)."""
        keys = self.segments()
        if not self.backend.is_remote or len(keys) < 2:
            for k in keys:
                yield from self.read_segment(k)
            return
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for entries in pool.map(self.read_segment, keys):
                yield from entries


def committed_entries(entries: Iterable[dict[str, Any]], also: Iterable[str] = ()) -> list[dict[str, Any]]:
    """The entries of ``entries`` that count: format-1 entries (no ``batch``) and entries
    of batches with a commit marker among ``entries`` or named in ``also``. Markers are
    left out; the order is kept."""
    done = set(also)
    kept: list[dict[str, Any]] = []
    for e in entries:
        if e.get("kind") == COMMIT:
            b = e.get("batch")
            if isinstance(b, str):
                done.add(b)
        else:
            kept.append(e)
    return [e for e in kept if "batch" not in e or (isinstance(e["batch"], str) and e["batch"] in done)]


def _num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _when(v: Any) -> bool:
    """Whether ``v`` is a timestamp the catalog can hold: an ISO 8601 string or finite epoch
    seconds, within the years datetime can represent."""
    import datetime as dt

    try:
        if isinstance(v, str):
            t = dt.datetime.fromisoformat(v.replace("Z", "+00:00"))
            ts = (t if t.tzinfo else t.replace(tzinfo=dt.UTC)).timestamp()
        elif _num(v):
            ts = float(v)
        else:
            return False
        dt.datetime.fromtimestamp(ts, dt.UTC)
    except (ValueError, OverflowError, OSError):
        return False
    return True


def _short_str(v: Any, limit: int = 255) -> bool:
    return isinstance(v, str) and 0 < len(v) <= limit and not any(ord(c) < 32 for c in v)


def check_entry(e: Any, folder: str, suffixes: dict[str, str]) -> str | None:
    """Why journal entry ``e`` of ``folder`` is malformed or unsafe, or ``None`` if it is fine.

    ``suffixes`` maps every known codec name to its blob-key suffix: an artifact's
    ``blob_key`` must be exactly ``blob_key(sha256, suffix of its codec)`` (so it lies
    inside the store's ``blobs/``). Names and aliases go through the store's own checks.
    """
    from .errors import InvalidInputError
    from .refs import validate_alias, validate_name

    if not isinstance(e, dict):
        return "not a JSON object"
    kind = e.get("kind")
    if not isinstance(kind, str) or kind not in KINDS.get(folder, ()):
        return f"unknown entry kind {kind!r} in {folder}/"
    if "batch" in e and not (isinstance(e["batch"], str) and _BATCH.match(e["batch"])):
        return "bad batch id"
    try:
        if kind == "commit":
            return None if isinstance(e.get("batch"), str) and _BATCH.match(e["batch"]) else "bad commit marker"
        if kind == "artifact":
            if not (isinstance(e.get("id"), str) and _ID.match(e["id"])):
                return f"bad artifact id {e.get('id')!r}"
            validate_name(e.get("name"))  # type: ignore[arg-type]
            if not isinstance(e.get("version"), int) or isinstance(e["version"], bool) or e["version"] < 1:
                return f"bad version {e.get('version')!r}"
            sha = e.get("sha256")
            if not (isinstance(sha, str) and _HEX64.match(sha)):
                return f"bad sha256 {sha!r}"
            codec = e.get("codec")
            if not isinstance(codec, str) or codec not in suffixes:
                return f"unknown codec {codec!r}"
            if e.get("blob_key") != blob_key(sha, suffixes[codec]):
                return f"blob key {e.get('blob_key')!r} is not the content address of {sha[:12]}... ({codec})"
            for f in ("size", "stored_size"):
                if not isinstance(e.get(f), int) or isinstance(e[f], bool) or e[f] < 0:
                    return f"bad {f} {e.get(f)!r}"
            if not _short_str(e.get("artifact_type"), 128):
                return "bad artifact_type"
            if not _when(e.get("created_at")):
                return "bad created_at"
            if not isinstance(e.get("metadata", {}), dict) or not isinstance(e.get("tags", []), list):
                return "bad metadata or tags"
            for f in ("model_id", "evaluation_id", "suite_name", "map_name", "episode_id"):
                if e.get(f) is not None and not _short_str(e[f]):
                    return f"bad {f}"
            return None
        if kind in ("delete", "version"):
            if not (isinstance(e.get("artifact_id"), str) and _ID.match(e["artifact_id"])):
                return f"bad artifact id {e.get('artifact_id')!r}"
            v = e.get("version")
            if kind == "version" and (not isinstance(v, int) or isinstance(v, bool) or v < 1):
                return "bad version"
            if kind == "version":
                validate_name(e.get("name"))  # type: ignore[arg-type]
            return None
        if kind == "edit":  # store.edit_artifact: the resulting tags and metadata
            if not (isinstance(e.get("artifact_id"), str) and _ID.match(e["artifact_id"])):
                return "bad artifact id"
            if not isinstance(e.get("metadata", {}), dict) or not isinstance(e.get("tags", []), list):
                return "bad metadata or tags"
            return None
        if kind in ("alias", "unalias"):
            validate_name(e.get("name"))  # type: ignore[arg-type]
            validate_alias(e.get("alias"))  # type: ignore[arg-type]
            if not (isinstance(e.get("artifact_id"), str) and _ID.match(e["artifact_id"])):
                return "bad artifact id"
            return None
        if kind == "evaluation":
            if not (_short_str(e.get("evaluation_id")) and _short_str(e.get("model_id"))):
                return "bad evaluation or model id"
            if not all(_num(e.get(f)) for f in ("global_score", "success_rate")) or not _when(e.get("timestamp")):
                return "bad scores"
            return None
        # champion
        if not (isinstance(e.get("champion_id"), str) and _ID.match(e["champion_id"])):
            return "bad champion id"
        if not isinstance(e.get("seq_no"), int) or isinstance(e["seq_no"], bool) or not _short_str(e.get("model_id")):
            return "bad champion number or model id"
        if not all(_num(e.get(f)) for f in ("global_score", "success_rate")) or not _when(e.get("timestamp")):
            return "bad scores"
        return None
    except InvalidInputError as exc:
        return str(exc)
