"""The pack format: many small blobs in one immutable file, read by offset.

A batch of small blobs (``put_many`` on local disk) costs one file creation instead of one
per blob. A pack is written once and never changed::

    <member bytes> <member bytes> ... <index: JSON> <index length: 8 bytes, big-endian> ASPACK1\\n

- **member bytes**: each blob's stored bytes (as its codec wrote them), back to back;
- **index**: ``{"format": 1, "members": [[blob key, offset, length], ...]}``, the blob keys
  being content addresses (:func:`artifactstore.manifests.blob_key`), so a pack describes
  itself (as restic's packs do, the header at the end): the catalog's pack index
  (``pack_members``) is rebuilt from these trailers by ``reindex``;
- the last 16 bytes: the index's length and the magic :data:`MAGIC`.

A pack lives at ``packs/<2 hex>/<32 hex>.pack`` (the pack id is random). It is staged as
``tmp/pack-<pid>-<host>-<random>.part`` (a scratch entry: swept once its writer is dead) and
published by rename, sealed. This module only reads and writes the format; which blobs go
into a pack, the locking and gc are the blob layer's (:mod:`artifactstore.blobs`).

Every trailer is input to validate (a store is hostile until checked): :func:`read_index`
raises :class:`~artifactstore.errors.CorruptDataError` for anything but a well-formed index
whose members lie inside the pack's data.
"""

from __future__ import annotations

import io
import json
import os
import re
import uuid
from pathlib import Path
from typing import Any

from .atomic import discard, open_creating, publish
from .errors import CorruptDataError

__all__ = ["MAGIC", "PACKS", "PACK_MAX", "MemberReader", "PackWriter", "pack_id_ok", "pack_key", "read_index",
           "read_index_file"]

#: The backend folder of packs.
PACKS = "packs/"
#: The last 8 bytes of every pack.
MAGIC = b"ASPACK1\n"
#: A pack is sealed once its members reach this many bytes (the next ones start a new pack).
PACK_MAX = 64 << 20
_TRAILER = 16
_INDEX_MAX = 64 << 20  # a pack of 64 MiB of 1-byte members has an index far below this
_ID = re.compile(r"^[0-9a-f]{32}\Z")
_MEMBER_KEY = re.compile(r"^blobs/sha256/([0-9a-f]{2})/\1[0-9a-f]{62}[A-Za-z0-9._-]{0,32}\Z")


def pack_id_ok(pack_id: str) -> bool:
    """Whether ``pack_id`` is a well-formed pack id (32 lowercase hex digits)."""
    return isinstance(pack_id, str) and _ID.match(pack_id) is not None


def pack_key(pack_id: str) -> str:
    """The backend key of pack ``pack_id``; ``ValueError`` for a malformed id."""
    if not pack_id_ok(pack_id):
        raise ValueError(f"not a pack id: {pack_id!r}")
    return f"{PACKS}{pack_id[:2]}/{pack_id}.pack"


class PackWriter:
    """Stage one pack in a scratch file of the store: :meth:`append` members, then :meth:`seal`.

    ``lock`` is called with the staged file's descriptor before anything is written (the blob
    layer takes a shared ``flock`` there: the lock stays with the file through the rename,
    so gc cannot delete the pack between its publication and the catalog commit that
    references its members). The descriptor stays open until :meth:`close`.
    """

    def __init__(self, scratch: Path, name: str, *, fsync: bool = False) -> None:
        self.pack_id = uuid.uuid4().hex
        self.tmp = scratch / f"{name}.part"
        self.fd = open_creating(self.tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
        self.fsync = fsync
        self.size = 0
        self.members: list[tuple[str, int, int]] = []
        self.sealed = False

    def append(self, key: str, data: bytes) -> int:
        """Append one member's stored bytes; return its offset."""
        offset = self.size
        view = memoryview(data)
        while view:
            n = os.write(self.fd, view)
            view = view[n:]
        self.size += len(data)
        self.members.append((key, offset, len(data)))
        return offset

    def seal(self, dest: Path) -> None:
        """Write the index and trailer, then publish the pack at ``dest`` (atomic rename)."""
        index = json.dumps({"format": 1, "members": self.members}, separators=(",", ":")).encode()
        tail = index + len(index).to_bytes(8, "big") + MAGIC
        view = memoryview(tail)
        while view:
            n = os.write(self.fd, view)
            view = view[n:]
        if self.fsync:
            os.fsync(self.fd)
        publish(self.tmp, dest, fsync=self.fsync, make_parents=True)
        self.sealed = True

    def close(self) -> None:
        """Close the descriptor (dropping its lock); an unsealed staged file is removed."""
        if self.fd >= 0:
            fd, self.fd = self.fd, -1
            os.close(fd)
        if not self.sealed:
            discard(self.tmp)


def read_index(f: Any, size: int) -> list[tuple[str, int, int]]:
    """The members ``(blob key, offset, length)`` of the pack open as ``f`` (``size`` bytes),
    validated: :class:`CorruptDataError` unless the trailer is well formed and every member
    lies inside the data part with a well-formed blob key."""
    if size < _TRAILER:
        raise CorruptDataError("pack", f"not a pack ({size} bytes)")
    f.seek(size - _TRAILER)
    tail = f.read(_TRAILER)
    if len(tail) != _TRAILER or tail[8:] != MAGIC:
        raise CorruptDataError("pack", "not a pack (no trailer)")
    n = int.from_bytes(tail[:8], "big")
    if n > _INDEX_MAX or n > size - _TRAILER:
        raise CorruptDataError("pack", f"pack index of {n} bytes does not fit")
    data_end = size - _TRAILER - n
    f.seek(data_end)
    raw = f.read(n)
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise CorruptDataError("pack", f"pack index is not JSON: {exc}") from None
    if not isinstance(doc, dict) or doc.get("format") != 1 or not isinstance(doc.get("members"), list):
        raise CorruptDataError("pack", "pack index: unknown format")
    out: list[tuple[str, int, int]] = []
    for m in doc["members"]:
        if not (isinstance(m, list) and len(m) == 3 and isinstance(m[0], str) and _MEMBER_KEY.match(m[0])
                and all(type(v) is int for v in m[1:])):
            raise CorruptDataError("pack", f"pack index: bad member {str(m)[:100]!r}")
        key, off, length = m
        if off < 0 or length < 0 or off + length > data_end:
            raise CorruptDataError("pack", f"pack index: member {key} at {off}+{length} lies outside the data")
        out.append((key, off, length))
    return out


def read_index_file(path: Path) -> list[tuple[str, int, int]]:
    """:func:`read_index` of the pack file at ``path``."""
    with open(path, "rb") as f:
        return read_index(f, os.fstat(f.fileno()).st_size)


class MemberReader(io.RawIOBase):
    """The bytes ``[offset, offset + length)`` of an open file, read with ``pread`` (seekable).

    Owns ``fd`` and closes it. A member cut short (the pack truncated) reads short: the
    decoder or the hash check that follows reports it.
    """

    def __init__(self, fd: int, offset: int, length: int) -> None:
        super().__init__()
        self._fd = fd
        self._start = offset
        self._len = length
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        left = self._len - self._pos
        if left <= 0:
            return 0
        view = memoryview(b).cast("B")
        n = min(len(view), left)
        data = os.pread(self._fd, n, self._start + self._pos)
        view[: len(data)] = data
        self._pos += len(data)
        return len(data)

    def seek(self, pos: int, whence: int = 0) -> int:
        base = {0: 0, 1: self._pos, 2: self._len}[whence]
        self._pos = max(0, base + pos)
        return self._pos

    def tell(self) -> int:
        return self._pos

    def close(self) -> None:
        if not self.closed:
            try:
                os.close(self._fd)
            finally:
                super().close()
