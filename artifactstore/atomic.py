"""Atomic local file publishing: write a temporary file, make it durable, rename it into place.

The one place the temp-file + fsync + replace sequence is written. A reader of
``dest`` sees the old file or the whole new one, never a part; with
``fsync=True`` the new content and its name survive a power loss once
:func:`publish` returns. Used by the local-disk backend
(:mod:`artifactstore.backends.local`) and the read cache
(:mod:`artifactstore.cache`). A leaf: it imports nothing from the package.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeAlias

__all__ = ["discard", "fsync_path", "open_creating", "publish", "replacing", "temp_sibling"]

StrPath: TypeAlias = "str | os.PathLike[str]"


def discard(path: StrPath) -> bool:
    """Remove the file ``path``; whether it was there (an absent file is not an error)."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        return False
    return True


def fsync_path(path: StrPath) -> None:
    """Flush a closed file's content, or a folder's entries (a rename or creation in it), to stable storage."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def open_creating(path: StrPath, flags: int, mode: int = 0o644) -> int:
    """``os.open(path, flags, mode)``, creating the parent folders if they are missing
    (first created, or removed by someone meanwhile)."""
    try:
        return os.open(path, flags, mode)
    except FileNotFoundError:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        return os.open(path, flags, mode)


def temp_sibling(dest: StrPath, suffix: str = ".part") -> Path:
    """A fresh hidden name next to ``dest`` (same folder, so same filesystem: a rename is atomic)."""
    d = Path(dest)
    return d.parent / f".{d.name}.{uuid.uuid4().hex[:12]}{suffix}"


def publish(tmp: StrPath, dest: StrPath, *, fsync: bool = False, make_parents: bool = False) -> None:
    """Rename the complete, closed file ``tmp`` onto ``dest``, atomically replacing what was there.

    With ``fsync``, the file's content is flushed before the rename and ``dest``'s
    folder after it. With ``make_parents``, a missing destination folder is created.
    ``tmp`` is left in place if the rename fails (see :func:`replacing`).
    """
    if fsync:
        fsync_path(tmp)
    try:
        os.replace(tmp, dest)
    except FileNotFoundError:
        if not make_parents or not os.path.exists(tmp):
            raise
        Path(dest).parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, dest)
    if fsync:
        fsync_path(Path(dest).parent)


@contextmanager
def replacing(
    dest: StrPath, *, tmp: StrPath | None = None, suffix: str = ".part", fsync: bool = False
) -> Iterator[Path]:
    """Give a temporary path to fill; on success it replaces ``dest``, on any error it is removed.

    ::

        with replacing(out, fsync=True) as tmp:
            with open(tmp, "wb") as f:
                f.write(data)
            check(tmp)  # raising here leaves ``out`` as it was

    ``tmp`` defaults to :func:`temp_sibling` of ``dest``; pass one to reuse a
    name chosen earlier.
    """
    path = Path(tmp) if tmp is not None else temp_sibling(dest, suffix)
    try:
        yield path
        publish(path, dest, fsync=fsync)
    except BaseException:
        discard(path)
        raise
