"""Streaming helpers: hash in a second thread while doing I/O, verify while reading."""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, BinaryIO

from .errors import CorruptDataError, IntegrityError

__all__ = ["CHUNK", "pump", "copy_and_hash", "VerifyingReader"]

CHUNK = 4 << 20
# Below this, handing a chunk to another thread costs more than hashing it here.
_THREAD_MIN = 256 << 10


def pump(
    read: Callable[[int], bytes],
    write: Callable[[bytes], Any],
    pool: ThreadPoolExecutor | None,
    first: bytes = b"",
    progress: Callable[[int], None] | None = None,
) -> tuple[str, int]:
    """Copy ``read`` -> ``write`` in CHUNK pieces, hashing in ``pool``; return (sha256, size).

    At most two chunks are alive at once (one hashing, one writing): memory
    stays bounded and hashing overlaps the I/O.
    """
    h = hashlib.sha256()
    size = 0
    pending: Future[None] | None = None
    chunk = first or read(CHUNK)
    while chunk:
        if pool is not None and len(chunk) >= _THREAD_MIN:
            if pending is not None:
                pending.result()
            pending = pool.submit(h.update, chunk)
        else:
            if pending is not None:
                pending.result()
                pending = None
            h.update(chunk)
        write(chunk)
        size += len(chunk)
        if progress is not None:
            progress(len(chunk))
        chunk = read(CHUNK)
    if pending is not None:
        pending.result()
    return h.hexdigest(), size


COPY_CHUNK = 8 << 20


def _hash_range(h: Any, fd: int, offset: int, length: int) -> None:
    while length > 0:
        data = os.pread(fd, min(length, COPY_CHUNK), offset)
        if not data:
            raise OSError(f"short read at offset {offset}")
        h.update(data)
        offset += len(data)
        length -= len(data)


def copy_and_hash(src_fd: int, dst_fd: int, pool: ThreadPoolExecutor, *, src_offset: int = 0,
                  progress: Callable[[int], None] | None = None) -> tuple[str, int]:
    """Copy ``src_fd`` (from ``src_offset`` to EOF) into ``dst_fd`` in the kernel and hash
    what landed in ``dst_fd`` in ``pool``, chunk by chunk; return (sha256, size).

    The hash of chunk *i* (read back from the page cache with ``pread``) overlaps the
    copy of chunk *i + 1*, and it covers the bytes actually stored. Raises ``OSError``
    (e.g. ``EXDEV``, ``ENOSYS``) where ``copy_file_range`` cannot be used; the caller
    falls back to :func:`pump` on a fresh destination.
    """
    h = hashlib.sha256()
    written = 0
    pending: Future[None] | None = None
    try:
        while True:
            n = os.copy_file_range(src_fd, dst_fd, COPY_CHUNK, src_offset + written, written)
            if n == 0:
                break
            if pending is not None:
                pending.result()
            pending = pool.submit(_hash_range, h, dst_fd, written, n)
            written += n
            if progress is not None:
                progress(n)
    finally:
        if pending is not None:
            pending.result()
    return h.hexdigest(), written


class VerifyingReader(io.RawIOBase):
    """Readable stream that hashes what passes through and checks it at EOF.

    Raises :class:`~artifactstore.errors.IntegrityError` from the read that
    reaches the end if the SHA-256 or the size differs from what was recorded,
    or as soon as more bytes than recorded come out, and already when exactly
    the recorded size has been read.

    Ranged reads: when the inner stream is seekable (raw blobs), so is this
    one. A read that starts anywhere but where the stream stands cannot be
    checked against the whole file's hash, so after such a seek the stream
    reads without verification (``verifying`` becomes ``False``); reading from
    the start to the end without seeking is always verified.
    """

    def __init__(self, inner: BinaryIO, expected_sha256: str, expected_size: int, artifact_id: str,
                 closers: tuple[Any, ...] = ()) -> None:
        super().__init__()
        self._inner = inner
        self._closers = closers
        self._h = hashlib.sha256()
        self._n = 0
        self._sha = expected_sha256
        self._size = expected_size
        self._id = artifact_id
        self._done = False
        self._pos = 0
        #: False once the stream has seeked away from sequential reading.
        self.verifying = True

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        try:
            return bool(self._inner.seekable())
        except (AttributeError, ValueError):
            return False

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if not self.seekable():
            raise io.UnsupportedOperation("this artifact's codec does not allow seeking; read it sequentially")
        pos = self._inner.seek(offset, whence)
        if pos != self._pos:
            self.verifying = False
        self._pos = pos
        return pos

    def _check(self) -> None:
        if self._done:
            return
        self._done = True
        actual = self._h.hexdigest()
        if actual != self._sha or self._n != self._size:
            raise IntegrityError(self._id, self._sha, actual, f"read {self._n} bytes, expected {self._size}")

    def _read_inner(self, n: int) -> bytes:
        try:
            return self._inner.read(n)
        except CorruptDataError as exc:  # raised by the codec, which does not know the artifact
            if exc.artifact_id:
                raise
            raise exc.with_artifact(self._id, self._sha) from None

    def readinto(self, b: Any) -> int:
        view = memoryview(b).cast("B")
        data = self._read_inner(len(view))
        if not data:
            if self.verifying:
                self._check()
            return 0
        n = len(data)
        view[:n] = data
        self._pos += n
        if self.verifying:
            self._account(data)
        return n

    def _account(self, data: bytes) -> None:
        self._h.update(data)
        self._n += len(data)
        if self._n > self._size:
            self._done = True
            raise IntegrityError(self._id, self._sha, "(longer than recorded)", f"more than {self._size} bytes")
        if self._n == self._size:
            # Check now, not only at EOF: a reader that stops at exactly the recorded
            # size (tarfile does) must still be verified.
            self._check()

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            return self.readall()
        data = self._read_inner(size) if size else b""
        if size and not data:
            if self.verifying:
                self._check()
            return b""
        self._pos += len(data)
        if self.verifying:
            self._account(data)
        return data

    def readall(self) -> bytes:
        parts = []
        while chunk := self.read(CHUNK):
            parts.append(chunk)
        return b"".join(parts)

    def close(self) -> None:
        if not self.closed:
            try:
                self._inner.close()
            finally:
                for c in self._closers:
                    c.close()
                super().close()
