"""Manifests and records: the backend's own, append-only history of the store.

Each entry is one JSON object on its own line. ``manifests/`` holds one entry
per artifact version; ``records/`` holds deletions, aliases, evaluation
records and champion events. On a backend that supports appends (local disk)
each store object appends to its own log file (one ``write`` per batch, so
records never interleave); elsewhere each batch becomes one new object. The
catalog is rebuilt from these by ``reindex``; a torn last line left by a
killed process is skipped.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from .backends.base import Backend
from .ids import new_id

__all__ = ["Journal", "MANIFESTS", "RECORDS", "FORMAT", "blob_key"]

log = logging.getLogger("artifactstore.manifests")
MANIFESTS = "manifests"
RECORDS = "records"
FORMAT = 1
_ROTATE_BYTES = 64 << 20


def blob_key(sha256: str, suffix: str) -> str:
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

    def append(self, entries: list[dict[str, Any]]) -> str:
        """Write ``entries`` as one unit; return the key written to."""
        for e in entries:
            e.setdefault("format", FORMAT)
            e.setdefault("seq", new_id())
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
