"""``checkout``: the seed's browsable folder tree as a view over the store.

Materialises ``<dest>/<artifact type>/<model id>/<name>`` for the latest version of every
artifact (or every version, as ``<name>@v<N>``). A raw (uncompressed) blob on a local
filesystem that can share extents (btrfs, XFS, APFS-like reflinks through ``FICLONE``)
becomes a reflink: a copy-on-write clone, so a write to the view never reaches the blob.
Elsewhere the artifact is written with the store's verified ``get`` (a copy). Hard links
only with ``link=True``: they share the blob's inode, so a write through one (root ignores
the read-only mode) corrupts the store; ``artifactstore verify`` would report it.
Every file is checked against its SHA-256 before it appears in the view.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import re
import stat
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from .atomic import discard, replacing, temp_sibling
from .errors import IntegrityError
from .models import Artifact
from .store import ArtifactStore

__all__ = ["CheckoutReport", "checkout"]

_UNSAFE = re.compile(r"[^A-Za-z0-9._+=,-]+")
FICLONE = 0x40049409  # linux/fs.h _IOW(0x94, 9, int): clone all of a file's extents
_NO_CLONE = (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EINVAL, errno.ENOTTY,
             errno.ENOSYS, errno.EBADF)


@dataclass(frozen=True)
class CheckoutReport:
    dest: Path
    files: int
    linked: int
    copied: int
    bytes: int
    reflinked: int = 0

    def to_dict(self) -> dict[str, object]:
        return {"dest": str(self.dest), "files": self.files, "reflinked": self.reflinked, "linked": self.linked,
                "copied": self.copied, "bytes": self.bytes}


def _segment(text: str | None, default: str) -> str:
    # Types and model ids are free text: make each one safe as a single folder name.
    seg = _UNSAFE.sub("_", text or "").strip("._") or default
    return seg[:128]


def _latest(store: ArtifactStore) -> list[Artifact]:
    latest: dict[str, Artifact] = {}
    for a in store.catalog.iter_all():
        cur = latest.get(a.name)
        if cur is None or a.version > cur.version:
            latest[a.name] = a
    return sorted(latest.values(), key=lambda a: a.name)


def _hash_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(8 << 20):
            h.update(chunk)
    return h.hexdigest()


def checkout(
    store: ArtifactStore,
    dest: str | os.PathLike[str],
    *,
    artifacts: Iterable[Artifact] | None = None,
    all_versions: bool = False,
    link: bool = False,
    reflink: bool = True,
    progress: Callable[[int], None] | None = None,
) -> CheckoutReport:
    """Write the browsable tree under ``dest``; return what was done.

    ``reflink`` (default): clone raw local blobs where the filesystem can, else copy.
    ``link``: hard-link raw local blobs instead (writes through the view corrupt the store).
    ``reflink=False, link=False``: verified copies only.
    """
    root = Path(dest)
    root.mkdir(parents=True, exist_ok=True)
    arts = list(artifacts) if artifacts is not None else (
        sorted(store.catalog.iter_all(), key=lambda a: (a.name, a.version)) if all_versions else _latest(store)
    )
    linked = copied = cloned = total = 0
    for a in arts:
        name = f"{a.name}@v{a.version}" if all_versions else a.name  # names are validated safe paths
        target = root / _segment(a.artifact_type, "untyped") / _segment(a.model_id, "_no_model") / name
        target.parent.mkdir(parents=True, exist_ok=True)
        blob = store.blobs.local_path(a.blob_key) if (link or reflink) and a.codec == "none" else None
        if blob is not None and link and _link(a, blob, target, _hard_link):
            linked += 1
        elif blob is not None and not link and _link(a, blob, target, _clone):
            cloned += 1
        else:
            store.get(a.id, target)
            copied += 1
        total += a.size
        if progress is not None:
            progress(1)
    return CheckoutReport(root, len(arts), linked, copied, total, cloned)


def _hard_link(blob: Path, tmp: Path) -> None:
    os.link(blob, tmp)


def _clone(blob: Path, tmp: Path) -> None:
    # os.copy_file_range does not promise a reflink; FICLONE does, or fails.
    with open(blob, "rb") as src, open(tmp, "xb") as dst:
        try:
            fcntl.ioctl(dst.fileno(), FICLONE, src.fileno())
        except OSError:
            dst.close()
            discard(tmp)
            raise


def _link(a: Artifact, blob: Path, target: Path, make: Callable[[Path, Path], None]) -> bool:
    """Place ``blob`` at ``target`` with ``make`` (a hard link or a clone) after checking its hash,
    atomically replacing what was there; ``False`` when this filesystem cannot (then copy)."""
    if make is _hard_link and target.exists() and _same_file(blob, target):
        return True  # already this blob: rename() onto the same inode would keep both names
    tmp = temp_sibling(target, ".link")
    try:
        make(blob, tmp)
    except FileNotFoundError:
        return False  # let get() raise the store's BlobMissingError
    except OSError as exc:
        if exc.errno in _NO_CLONE:
            return False  # another filesystem, or no links / clones here: copy instead
        raise
    with replacing(target, tmp=tmp):  # removed if the check fails
        actual = _hash_file(tmp)
        if actual != a.sha256:
            raise IntegrityError(a.id, a.sha256, actual, "blob on disk does not match; not linked")
        mode = os.stat(tmp).st_mode
        os.chmod(tmp, mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))  # blobs are immutable
    discard(tmp)  # rename() of two links to one inode is a no-op: drop the temporary name
    return True


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False
