"""``verify --repair``: restore blobs found corrupt or missing, from a replica store or not at all.

:meth:`ArtifactStore.verify` with ``repair=True`` hands the broken blobs it found to
:func:`repair_blobs`. For each, a replica (``replica=``, ``artifactstore verify --repair
--from URL``: any store holding the same content, e.g. one kept in sync) is asked for a live
blob with the same SHA-256. Its bytes are decoded and hashed first; only content that hashes
to the recorded SHA-256 and size is used:

- a replica blob under the same key (the same codec) is copied as it is;
- otherwise the content is re-encoded with the broken blob's codec;

and published under the broken blob's key (atomically, through the blob layer's staged writer),
then checked again. Artifacts no replica can restore are reported as needing a re-put: a put
of the original bytes heals the blob (healing dedup, see docs/architecture.md).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .errors import ArtifactStoreError
from .models import Artifact

if TYPE_CHECKING:
    from .store import ArtifactStore

__all__ = ["RepairOutcome", "repair_blobs"]

log = logging.getLogger("artifactstore.repair")
_CHUNK = 4 << 20


@dataclass
class RepairOutcome:
    """Artifact ids restored, and those that need a re-put (no replica holds their content)."""

    repaired: list[str] = field(default_factory=list)
    needs_reput: list[str] = field(default_factory=list)


def _content_of(replica: ArtifactStore, sha256: str, size: int) -> tuple[str, str] | None:
    """(blob key, codec) of a replica blob whose decoded bytes hash to ``sha256``/``size``."""
    found = replica.catalog.blob_of(sha256)
    if found is None:
        return None
    key, codec, _stored = found
    h = hashlib.sha256()
    n = 0
    try:
        with replica.blobs.layout.open_read(key) as raw, replica.codec(codec).decoder(raw) as dec:
            while chunk := dec.read(_CHUNK):
                h.update(chunk)
                n += len(chunk)
    except (OSError, ValueError) as exc:  # CorruptDataError, BackendError, a missing blob
        log.warning("replica %s: blob %s unreadable (%s)", replica.url, key, exc)
        return None
    if h.hexdigest() != sha256 or n != size:
        log.warning("replica %s: blob %s does not hold the recorded content", replica.url, key)
        return None
    return key, codec


def _restore(store: ArtifactStore, art: Artifact, replica: ArtifactStore, rkey: str, rcodec: str) -> None:
    """Publish the replica's content under ``art.blob_key`` in ``store``'s encoding."""
    writer = store.blobs.layout.writer()
    try:
        h = hashlib.sha256()
        with replica.blobs.layout.open_read(rkey) as raw:
            if rkey == art.blob_key and rcodec == art.codec:  # same encoding: copy the bytes as they are
                with replica.blobs.layout.open_read(rkey) as again, replica.codec(rcodec).decoder(again) as check:
                    while chunk := check.read(_CHUNK):
                        h.update(chunk)
                while chunk := raw.read(_CHUNK):
                    writer.write(chunk)
            else:
                enc = store.codec(art.codec).encoder(writer, size=art.size, member_name=art.name)
                with replica.codec(rcodec).decoder(raw) as dec:
                    while chunk := dec.read(_CHUNK):
                        h.update(chunk)
                        enc.write(chunk)
                enc.finish()
        if h.hexdigest() != art.sha256:
            raise ArtifactStoreError(f"replica content of {art.blob_key} changed while it was copied")
        writer.commit(art.blob_key)
    except BaseException:
        writer.abort()
        raise


def repair_blobs(store: ArtifactStore, broken: Sequence[Artifact], replica: ArtifactStore | None) -> RepairOutcome:
    """Restore the blobs of ``broken`` (artifacts whose blob is corrupt or missing) from ``replica``."""
    out = RepairOutcome()
    by_key: dict[str, list[Artifact]] = {}
    for a in broken:
        by_key.setdefault(a.blob_key, []).append(a)
    for key, arts in sorted(by_key.items()):
        first = arts[0]
        ids = [a.id for a in arts]
        source = _content_of(replica, first.sha256, first.size) if replica is not None else None
        if replica is None or source is None:
            log.warning("blob %s (%s) cannot be restored%s: re-put its original bytes to heal it", key,
                        first.ref, f" from {replica.url}" if replica is not None else " (no replica given)")
            out.needs_reput += ids
            continue
        try:
            _restore(store, first, replica, *source)
        except (OSError, ValueError) as exc:
            log.warning("could not restore blob %s from %s: %s", key, replica.url, exc)
            out.needs_reput += ids
            continue
        log.warning("restored blob %s (%s) from %s", key, first.ref, replica.url)
        out.repaired += ids
    return out
