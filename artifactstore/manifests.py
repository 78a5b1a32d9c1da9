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
import threading
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from .backends.base import Backend
from .ids import new_id

__all__ = ["COMMIT", "FORMAT", "Journal", "MANIFESTS", "RECORDS", "blob_key", "committed_entries"]

log = logging.getLogger("artifactstore.manifests")
MANIFESTS = "manifests"
RECORDS = "records"
#: Entry format written: 2 = batch ids and commit markers (format 1 entries stay readable).
FORMAT = 2
#: ``kind`` of a commit marker line.
COMMIT = "commit"
_ROTATE_BYTES = 64 << 20


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
            self.backend.append_bytes(key, data)
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
    return [e for e in kept if "batch" not in e or e["batch"] in done]
