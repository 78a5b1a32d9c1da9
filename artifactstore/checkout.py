"""``checkout``: the seed's browsable folder tree as a view over the store.

Materialises ``<dest>/<artifact type>/<model id>/<name>`` for the latest version of every
artifact (or every version, as ``<name>@v<N>``). On the same local filesystem a raw
(uncompressed) blob becomes a hard link, after its SHA-256 is checked; otherwise the
artifact is written with the store's verified ``get``. Hard-linked files share the blob's
inode and are made read-only: edit a copy (``link=False``), never a linked file
(``artifactstore verify`` would report the blob corrupt).
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import stat
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from .errors import IntegrityError
from .models import Artifact
from .store import ArtifactStore

__all__ = ["CheckoutReport", "checkout"]

_UNSAFE = re.compile(r"[^A-Za-z0-9._+=,-]+")


@dataclass(frozen=True)
class CheckoutReport:
    dest: Path
    files: int
    linked: int
    copied: int
    bytes: int

    def to_dict(self) -> dict[str, object]:
        return {"dest": str(self.dest), "files": self.files, "linked": self.linked, "copied": self.copied,
                "bytes": self.bytes}


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
    link: bool = True,
    progress: Callable[[int], None] | None = None,
) -> CheckoutReport:
    """Write the browsable tree under ``dest``; return what was done."""
    root = Path(dest)
    root.mkdir(parents=True, exist_ok=True)
    arts = list(artifacts) if artifacts is not None else (
        sorted(store.catalog.iter_all(), key=lambda a: (a.name, a.version)) if all_versions else _latest(store)
    )
    linked = copied = total = 0
    for a in arts:
        name = f"{a.name}@v{a.version}" if all_versions else a.name  # names are validated safe paths
        target = root / _segment(a.artifact_type, "untyped") / _segment(a.model_id, "_no_model") / name
        target.parent.mkdir(parents=True, exist_ok=True)
        blob = store.backend.local_path(a.blob_key) if link and a.codec == "none" else None
        if blob is not None and _link(a, blob, target):
            linked += 1
        else:
            store.get(a.id, target)
            copied += 1
        total += a.size
        if progress is not None:
            progress(1)
    return CheckoutReport(root, len(arts), linked, copied, total)


def _link(a: Artifact, blob: Path, target: Path) -> bool:
    """Hard-link ``blob`` at ``target`` (atomically replacing it) after checking its hash."""
    tmp = target.parent / f".{target.name}.{uuid.uuid4().hex[:12]}.link"
    try:
        os.link(blob, tmp)
    except FileNotFoundError:
        return False  # let get() raise the store's BlobMissingError
    except OSError as exc:
        if exc.errno in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP):
            return False  # another filesystem, or no hard links here: copy instead
        raise
    try:
        actual = _hash_file(tmp)
        if actual != a.sha256:
            raise IntegrityError(a.id, a.sha256, actual, "blob on disk does not match; not linked")
        mode = os.stat(tmp).st_mode
        os.chmod(tmp, mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))  # blobs are immutable
        os.replace(tmp, target)
        return True
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
