"""Time-sortable unique ids (UUIDv7, RFC 9562)."""

from __future__ import annotations

import os
import threading
import time
import uuid

__all__ = ["new_id", "id_timestamp"]

_lock = threading.Lock()
_last_ms = 0
_seq = 0


def new_id() -> str:
    """Return a UUIDv7 string; ids from one process are strictly increasing.

    48 bits of Unix milliseconds, a 12-bit counter (monotonic within a
    millisecond in this process) and 62 random bits, so ids from different
    processes and machines never collide in practice and sort by time.
    """
    global _last_ms, _seq
    with _lock:
        ms = time.time_ns() // 1_000_000
        if ms <= _last_ms:
            _seq += 1
            if _seq > 0xFFF:  # counter exhausted: borrow the next millisecond
                _last_ms += 1
                _seq = 0
            ms = _last_ms
        else:
            _last_ms = ms
            _seq = 0
        seq = _seq
    rand = int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1)
    value = (ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | seq << 64 | 0b10 << 62 | rand
    return str(uuid.UUID(int=value))


def id_timestamp(artifact_id: str) -> float:
    """Seconds since the epoch encoded in a UUIDv7 id."""
    return (uuid.UUID(artifact_id).int >> 80) / 1000.0
