"""A damaged SQLite catalog file: recognise it, move it aside, and say how to rebuild it.

The catalog is an index: everything in it can be rebuilt from the storage's journals
(``reindex``). So when an SQLite catalog file is damaged (garbage bytes, truncated, a
database of another program), ``store.reindex()``, ``artifactstore reindex`` and
``artifactstore.open(url, repair_catalog=True)`` move the file aside, with its ``-wal``
and ``-shm`` files, as ``catalog.db.corrupt-<UTC timestamp>`` (kept for a post-mortem,
never read again) and rebuild a new one. Without that, the error says to run reindex.

Only damage is handled so: a catalog that is locked, on a full disk, or written by a newer
artifactstore (:class:`~artifactstore.errors.SchemaVersionError`) is never moved.
"""

from __future__ import annotations

import datetime as _dt
import logging
import os
from pathlib import Path

__all__ = ["REINDEX_HINT", "is_damaged", "quarantine", "sqlite_file"]

log = logging.getLogger("artifactstore.catalog")

#: Appended to the error of a damaged catalog.
REINDEX_HINT = ("the catalog file looks damaged; it is only an index of the store: rebuild it from the storage "
                "with 'artifactstore reindex' (or store.reindex(), or artifactstore.open(..., repair_catalog=True)), "
                "which moves the damaged file aside")

#: SQLite messages that mean the file is not (or no longer) a catalog, not a passing condition.
_DAMAGE = ("file is not a database", "database disk image is malformed", "no such table", "no such column",
           "has no column named", "unsupported file format", "malformed database schema", "file is encrypted",
           "database corrupt", "datatype mismatch")


def _chain(exc: BaseException) -> list[BaseException]:
    out: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None and len(out) < 8 and cur not in out:
        out.append(cur)
        cur = cur.__cause__ or cur.__context__
    return out


def is_damaged(exc: BaseException) -> bool:
    """Whether ``exc`` (or its cause) says an SQLite file is damaged or not a catalog."""
    from ..errors import SchemaVersionError

    if isinstance(exc, SchemaVersionError):
        return False
    return any(m in str(e).lower() for e in _chain(exc) for m in _DAMAGE)


def sqlite_file(url: str) -> Path | None:
    """The file of an ``sqlite:///`` catalog URL, or ``None`` (another engine, in memory)."""
    if not url.startswith("sqlite:///"):
        return None
    path = url.split("sqlite:///", 1)[1].split("?", 1)[0]
    if not path or path == ":memory:":
        return None
    return Path(path)


def quarantine(path: Path, reason: BaseException | str) -> list[Path]:
    """Move the catalog file ``path`` and its ``-wal``/``-shm`` aside; return where they went.

    Logs a warning naming the files and the reason."""
    stamp = _dt.datetime.now(_dt.UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    moved: list[Path] = []
    for suffix in ("", "-wal", "-shm", "-journal"):
        src = path.with_name(path.name + suffix)
        if not src.exists():
            continue
        dest = path.with_name(f"{path.name}.corrupt-{stamp}{suffix}")
        os.replace(src, dest)
        moved.append(dest)
    log.warning("catalog %s is damaged (%s): moved it aside as %s; rebuilding it from the storage",
                path, reason, ", ".join(p.name for p in moved) or "(nothing to move)")
    return moved
