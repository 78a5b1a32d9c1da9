"""Crash points: the one hook the kill harness uses to stop a writer at a chosen instant.

The code calls :func:`crash_point` with a fixed name at each instant that matters
for crash safety (after a journal append, before a commit marker...). It is a
no-op unless the environment variable ``ARTIFACTSTORE_CRASH_POINT`` names that
point (optionally ``name@N`` to crash on its N-th hit in this process), in
which case the process kills itself with ``SIGKILL``: no ``finally`` block, no
atexit handler, exactly what a power cut or the OOM killer does to a writer.
"""

from __future__ import annotations

import os
import signal
import threading

__all__ = ["CRASH_POINTS", "ENV", "crash_point"]

#: The environment variable naming the crash point (``name`` or ``name@N``).
ENV = "ARTIFACTSTORE_CRASH_POINT"

#: Every crash point the code checks, in write order.
CRASH_POINTS = (
    "after-blob-publish",       # blob in place, nothing journalled
    "after-manifest-append",    # manifest lines durable, catalog transaction not committed
    "before-manifest-commit",   # catalog committed, commit marker not written
    "after-records-append",     # record lines durable, catalog transaction not committed
    "before-records-commit",    # catalog committed, commit marker not written
    "after-versions-append",    # sync's destination version numbers written, catalog not committed
    "before-versions-commit",   # ... committed, commit marker not written
    "sync-after-segments",      # sync copied journals, destination catalog not updated
    "pack-before-seal",         # a batch's pack staged (tmp/pack-*.part), not sealed
    "pack-after-seal",          # pack published, not in the pack index
    "pack-after-index",         # pack indexed, artifacts not journalled
    "pack-gc-after-unindex",    # gc: a dead pack's index rows dropped, the file not yet deleted
    "pack-repack-after-seal",   # gc: the repacked copy published, rows not moved
    "pack-repack-after-move",   # gc: rows moved to the new pack, the old one not deleted
)

_hits: dict[str, int] = {}
_lock = threading.Lock()


def crash_point(name: str) -> None:
    """Kill this process with SIGKILL if ``ARTIFACTSTORE_CRASH_POINT`` names ``name``; else nothing."""
    want = os.environ.get(ENV)
    if not want:
        return
    point, _, nth = want.partition("@")
    if point != name:
        return
    with _lock:
        _hits[name] = _hits.get(name, 0) + 1
        hit = _hits[name]
    if hit >= (int(nth) if nth.isdigit() else 1):
        os.kill(os.getpid(), signal.SIGKILL)
