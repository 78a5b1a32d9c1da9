"""Store-owned scratch space: temporary folders and spool files that a killed process cannot leak.

Everything a store's operations write to local temporary storage goes under its **scratch
folder**: ``<root>/tmp/`` for a local store (next to the staged ``*.part`` files, same
filesystem), and ``<system temp>/artifactstore-<hash of the store URL>/`` for a remote
one (the spool files of uploads, the folders of ``export_episode_data``). Each entry is
named ``<kind>-<pid>-<host>-<random>``, so that its owner can be told apart.

A process killed with ``SIGKILL`` runs no cleanup, so the entries are swept:

- when the store is opened (:func:`sweep` with ``grace`` = :data:`OPEN_GRACE_SECONDS`):
  entries of dead processes of this machine, and entries older than the grace;
- by ``gc --apply``, with gc's grace period.

An entry of a live process is kept until it is older than the grace, so a sweep never pulls
a folder from under a running export.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import tempfile
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .backends.base import Backend

__all__ = ["OPEN_GRACE_SECONDS", "entry_name", "make_dir", "scratch_dir", "sweep"]

#: Entries older than this are removed when a store is opened, whoever owns them.
OPEN_GRACE_SECONDS = 24 * 3600.0


def _host() -> str:
    return hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]


def scratch_dir(backend: Backend, create: bool = True) -> Path:
    """The scratch folder of the store on ``backend`` (see the module docs)."""
    local = backend.local_path("tmp")
    if local is not None:
        d = local
    else:
        digest = hashlib.sha256(backend.url.encode()).hexdigest()[:16]
        d = Path(tempfile.gettempdir()) / f"artifactstore-{digest}"
    if create:
        d.mkdir(parents=True, exist_ok=True)
    return d


def entry_name(kind: str) -> str:
    """A new entry name: ``<kind>-<pid>-<host>-<random>`` (``kind`` without ``-``)."""
    return f"{kind}-{os.getpid()}-{_host()}-{uuid.uuid4().hex[:12]}"


def make_dir(backend: Backend, kind: str) -> Path:
    """Create and return a new folder in the scratch folder of the store on ``backend``."""
    d = scratch_dir(backend) / entry_name(kind)
    d.mkdir()
    return d


def _owner_dead(name: str) -> bool:
    parts = name.split("-")
    if len(parts) < 4 or not parts[1].isdigit() or parts[2] != _host():
        return False  # not ours to judge (another machine, or not a scratch entry)
    pid = int(parts[1])
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def sweep(backend: Backend, grace: float, *, now: float | None = None, dead_owners: bool = True) -> int:
    """Remove the scratch entries of dead processes of this machine (``dead_owners``) and
    every entry older than ``grace`` seconds; return how many were removed."""
    d = scratch_dir(backend, create=False)
    if not d.is_dir():
        return 0
    now = time.time() if now is None else now
    n = 0
    for p in d.iterdir():
        try:
            st = p.lstat()
            if not (now - st.st_mtime >= grace or (dead_owners and _owner_dead(p.name))):
                continue
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p)
            else:
                p.unlink()
            n += 1
        except FileNotFoundError:
            continue
    return n
