"""The ``zstd`` codec (Zstandard via the ``zstandard`` package), the default for compressible data.

Blob format (written since the large-I/O work of issue 10): the original
bytes cut into **independent frames** of :data:`FRAME_SIZE` bytes, each with
its content size and a content checksum, followed (when there are two frames
or more) by a **seek table** in a skippable frame, as in Zstandard's
seekable format (``contrib/seekable_format`` of the zstd sources: magic
``0x184D2A5E``, entries of compressed and decompressed size, a footer with the
frame count and ``0x8F92EAB1``). Any zstd decoder (``zstd -d``,
``zstandard.ZstdDecompressor``) reads it as ordinary multi-frame zstd.

Why frames: each frame is compressed, and decoded, on its own, so both run
on several cores at once (``zstandard`` releases the GIL while it works) and
a read can start at any frame (:meth:`ZstdReader.seek`).

Blobs written before (one frame for the whole artifact, its content size in
the header or unknown) still read: the decoder looks at the first frame and
decodes such a blob as one stream, in the calling thread, as it always did.
The codec name stays ``zstd`` for both.

Damaged data raises: each frame's checksum and size are checked, the seek
table must agree with the frames it describes, and a stream cut inside a
frame (or inside the seek table) is reported as truncated, because
``ZstdDecompressor().stream_reader`` alone returns short data without error
when the source ends inside a frame.
"""

from __future__ import annotations

import io
import os
import struct
import sys
import threading
from array import array
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import IO, Any, BinaryIO, cast

import zstandard

from .base import CHUNK, Codec, Encoder, StreamEncoder, Writable, check_level, guard_decoder

__all__ = [
    "DECODE_ERRORS",
    "DEFAULT_LEVEL",
    "DEFAULT_THREADS",
    "FRAME_SIZE",
    "MAX_FRAME_SIZE",
    "ZstdCodec",
    "ZstdEncoder",
    "ZstdReader",
]

#: Chosen with ``benchmarks/bench_codecs.py`` (200 MB of episode CSV and JSON
#: lines, 2 cores, median of 5-7 interleaved reps): level 1 stores 0.945x
#: (CSV) and 0.92x (JSON lines) of gzip-6's bytes at 10-15x its speed; level 3
#: stores *more* than level 1 (1.05x, 1.07x of gzip-6) at under half the speed;
#: negative levels are faster but store 1.5-1.7x gzip-6's bytes. Re-measured
#: per 4 MiB frame on 512 MiB of episode CSV (``benchmarks/README.md``): level
#: 1 stores 0.30 of the bytes, level -1 0.52 (over the 0.4 target), level 3 0.34.
DEFAULT_LEVEL = 1
#: Worker threads that compress and decode frames (``0``: all in the calling
#: thread). Two keep both cores of the measuring machine busy.
DEFAULT_THREADS = 2
#: Original bytes per frame. 4 MiB: the level-1 window is far smaller, so the
#: ratio is that of one frame for the whole artifact; with 2 threads the
#: frames in flight stay near 20 MiB; a 512 MiB artifact makes 128 frames.
FRAME_SIZE = 4 << 20
#: Largest frame content the decoder decodes as a whole in a worker thread.
#: A blob whose first frame is larger (or has no content size: one written
#: before frames, or by another tool) is decoded as one stream instead.
MAX_FRAME_SIZE = 16 << 20

#: What zstandard and :class:`ZstdReader` raise on damaged zstd data.
DECODE_ERRORS: tuple[type[BaseException], ...] = (zstandard.ZstdError, EOFError, ValueError)

_FRAME_MAGIC = 0xFD2FB528
_SKIPPABLE_MASK, _SKIPPABLE_MAGIC = 0xFFFFFFF0, 0x184D2A50
_SEEK_TABLE_MAGIC = 0x184D2A5E  # the skippable frame holding the seek table
_SEEKABLE_MAGIC = 0x8F92EAB1  # last four bytes of the seek table
_FOOTER = struct.Struct("<IBI")  # number of frames, descriptor, seekable magic
_MAX_BLOCK = 128 << 10  # ZSTD_BLOCKSIZE_MAX
_MAX_SKIPPABLE = 64 << 20
_MIN_LEVEL = -(1 << 17)  # ZSTD_minCLevel(): negative levels trade ratio for speed

_pool_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None
_local = threading.local()


def _forget_pool_in_child() -> None:
    # A forked child has none of the parent's threads: a pool inherited from the parent would
    # accept work that no thread ever runs (and its lock may be held). Start afresh.
    global _pool, _pool_lock
    _pool, _pool_lock = None, threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool_in_child)


def _workers() -> ThreadPoolExecutor:
    """The shared pool the frames are compressed and decoded in (created on first use)."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max(2, os.cpu_count() or 2), thread_name_prefix="artifactstore-zstd")
        return _pool


def _compress(level: int, parts: tuple[bytes | memoryview, ...]) -> bytes:
    """One frame of the bytes ``parts`` hold, back to back (no copy to join them first)."""
    # One compressor per thread and level: zstd contexts are not thread-safe,
    # and building one per frame costs more than compressing a small frame.
    cache: dict[int, Any] | None = getattr(_local, "compressors", None)
    if cache is None:
        cache = _local.compressors = {}
    cctx = cache.get(level)
    if cctx is None:
        cctx = cache[level] = zstandard.ZstdCompressor(level=level, write_checksum=True, write_content_size=True)
    if len(parts) == 1:
        return cast(bytes, cctx.compress(parts[0]))
    # The same frame as one compress() of the joined bytes: the size is pledged, so the
    # header carries it.
    cobj = cctx.compressobj(size=sum(len(p) for p in parts))
    out = [cobj.compress(p) for p in parts]
    out.append(cobj.flush())
    return b"".join(out)


def _decompress(frame: bytes, content_size: int) -> bytes:
    dctx = getattr(_local, "decompressor", None)
    if dctx is None:
        dctx = _local.decompressor = zstandard.ZstdDecompressor()
    data = cast(bytes, dctx.decompress(frame))  # checks the frame's content checksum
    if len(data) != content_size:
        raise ValueError(f"zstd frame decoded to {len(data)} bytes, its header says {content_size}")
    return data


def _seek_table(sizes: array[int]) -> bytes:
    """The seek table (a skippable frame) for frames of (compressed, decompressed) ``sizes``."""
    entries = array("I", sizes)
    if sys.byteorder == "big":
        entries.byteswap()
    body = entries.tobytes() + _FOOTER.pack(len(sizes) // 2, 0, _SEEKABLE_MAGIC)
    return struct.pack("<II", _SEEK_TABLE_MAGIC, len(body)) + body


class ZstdEncoder(StreamEncoder):
    """Streaming encoder writing independent frames of :data:`FRAME_SIZE` bytes, then a seek table.

    With ``threads`` > 0, up to that many frames are compressed at once in
    worker threads; frames reach ``dest`` in order as they are done.
    """

    chunk_size = 1 << 62  # encode() cuts frames itself

    def __init__(self, dest: Writable, *, level: int, threads: int, size: int | None,
                 frame_size: int = FRAME_SIZE) -> None:
        super().__init__()
        if frame_size <= 0 or frame_size > MAX_FRAME_SIZE:
            raise ValueError(f"zstd frame size must be in [1, {MAX_FRAME_SIZE}], got {frame_size}")
        self._dest = dest
        self._level = level
        self._threads = threads
        self._size = size
        self._frame_size = frame_size
        self._parts: list[bytes | memoryview] = []  # the frame being gathered
        self._held = 0  # bytes in _parts
        self._pending: deque[tuple[Future[bytes], int]] = deque()
        self._sizes: array[int] = array("I")  # compressed, decompressed size of each frame written
        self._total = 0

    def encode(self, piece: memoryview) -> None:
        self._total += len(piece)
        # A piece of an immutable bytes object (what a file's read() returns) is kept as a
        # view: the caller cannot change it, so the frame needs no copy of its own. Any other
        # buffer may be reused by the caller once this returns: copied.
        if not isinstance(piece.obj, bytes):
            piece = memoryview(bytes(piece))
        fs = self._frame_size
        pos = 0
        while len(piece) - pos > 0:
            take = min(fs - self._held, len(piece) - pos)
            self._parts.append(piece[pos : pos + take])
            self._held += take
            pos += take
            if self._held == fs:
                self._submit(tuple(self._parts))

    def _submit(self, parts: tuple[bytes | memoryview, ...]) -> None:
        n = self._held
        self._parts, self._held = [], 0
        if self._threads == 0:
            self._emit(_compress(self._level, parts), n)
            return
        # Frames queued beyond one per worker: a worker that finishes picks up the next frame
        # at once instead of idling while this thread writes, reads and hashes (with exactly one
        # per worker, a 512 MiB CSV put kept the workers busy about half the time).
        while len(self._pending) >= 2 * self._threads:
            self._drain_one()
        self._pending.append((_workers().submit(_compress, self._level, parts), n))

    def _drain_one(self) -> None:
        future, n = self._pending.popleft()
        self._emit(future.result(), n)

    def _emit(self, frame: bytes, n: int) -> None:
        self._dest.write(frame)
        self._sizes.append(len(frame))
        self._sizes.append(n)

    def check_complete(self) -> None:
        if self._size is not None and self._total != self._size:
            raise ValueError(f"zstd encoder was promised {self._size} bytes, got {self._total}")

    def end(self) -> None:
        if self._held or not (self._sizes or self._pending):
            if self._pending:
                self._submit(tuple(self._parts))
            else:  # the last frame, none in flight (a small artifact): a hand-off would only add a wait
                n, parts = self._held, tuple(self._parts) or (b"",)
                self._parts, self._held = [], 0
                self._emit(_compress(self._level, parts), n)
        while self._pending:
            self._drain_one()
        if len(self._sizes) >= 4:
            self._dest.write(_seek_table(self._sizes))


class _FrameTracker:
    """A source wrapper that follows the zstd frame structure of what passes through.

    It only reads frame and block headers and skips block contents, so it
    costs a few Python steps per 128 KiB block. At the end it can tell a
    stream that stops between frames from one cut inside a frame.
    """

    def __init__(self, src: Any) -> None:
        self._src = src
        self._state = "magic"
        self._need = 4  # bytes of the next header to collect
        self._header = bytearray()
        self._skip = 0  # bytes of content to pass over
        self._checksum = False
        self._frames = 0
        self._invalid = False
        self.eof = False

    def read(self, n: int = -1) -> bytes:
        data: bytes = self._src.read(n)
        if not data:
            self.eof = True
            return b""
        if not self._invalid:
            self._feed(memoryview(data))
        return data

    def _feed(self, view: memoryview) -> None:
        pos, end = 0, len(view)
        while pos < end and not self._invalid:
            if self._skip:
                step = min(self._skip, end - pos)
                self._skip -= step
                pos += step
                continue
            take = min(self._need - len(self._header), end - pos)
            self._header += view[pos : pos + take]
            pos += take
            if len(self._header) == self._need:
                header = bytes(self._header)
                self._header.clear()
                self._advance(header)

    def _advance(self, header: bytes) -> None:
        if self._state == "magic":
            magic = int.from_bytes(header, "little")
            if magic == _FRAME_MAGIC:
                self._state, self._need = "descriptor", 1
            elif magic & _SKIPPABLE_MASK == _SKIPPABLE_MAGIC:
                self._state, self._need = "skippable", 4
            else:
                self._invalid = True  # the decompressor reports it
        elif self._state == "skippable":
            self._skip = int.from_bytes(header, "little")
            self._state, self._need = "magic", 4
        elif self._state == "descriptor":
            fhd = header[0]
            single_segment = (fhd >> 5) & 1
            self._checksum = bool(fhd & 0b100)
            window = 0 if single_segment else 1
            dict_id = (0, 1, 2, 4)[fhd & 0b11]
            content_size = (single_segment, 2, 4, 8)[fhd >> 6]
            self._skip = window + dict_id + content_size
            self._state, self._need = "block", 3
        else:  # block header: last-block bit, 2-bit type, 21-bit size
            value = int.from_bytes(header, "little")
            block_type, block_size = (value >> 1) & 0b11, value >> 3
            if block_type == 3:
                self._invalid = True
                return
            self._skip = 1 if block_type == 1 else block_size  # an RLE block stores one byte
            if value & 1:
                self._skip += 4 if self._checksum else 0
                self._frames += 1
                self._state, self._need = "magic", 4

    def check_complete(self) -> None:
        """Raise unless the source ended cleanly after at least one whole frame."""
        if self._invalid:
            raise ValueError("data is not a valid zstd stream")
        if not self.eof and self._src.read(1):
            raise ValueError("unexpected data after the end of the zstd stream")
        if self._frames == 0 or self._state != "magic" or self._header or self._skip:
            raise EOFError("zstd data ended before the end of its frame (truncated?)")


class _Prefixed:
    """``src`` with ``head`` (bytes already read from it) put back in front."""

    def __init__(self, head: bytes, src: BinaryIO) -> None:
        self._head = head
        self._src = src

    def read(self, n: int = -1) -> bytes:
        if self._head:
            if n < 0 or n >= len(self._head):
                head, self._head = self._head, b""
                return head
            head, self._head = self._head[:n], self._head[n:]
            return head
        return self._src.read(n)


def _frame_header(data: bytes | bytearray | memoryview, pos: int) -> tuple[int, int | None, bool] | None:
    """(header length, content size or None, has checksum) of the frame at ``pos``; None if cut short."""
    if len(data) - pos < 5:
        return None
    fhd = data[pos + 4]
    if fhd & 0b1000:
        raise ValueError("zstd frame header has its reserved bit set")
    single_segment = (fhd >> 5) & 1
    fcs_len = (single_segment, 2, 4, 8)[fhd >> 6]
    length = 5 + (0 if single_segment else 1) + (0, 1, 2, 4)[fhd & 0b11] + fcs_len
    if len(data) - pos < length:
        return None
    if not fcs_len:
        return length, None, bool(fhd & 0b100)
    size = int.from_bytes(data[pos + length - fcs_len : pos + length], "little")
    return length, size + (256 if fcs_len == 2 else 0), bool(fhd & 0b100)


class _FrameSplitter:
    """Cuts a zstd stream read sequentially from ``src`` into whole frames.

    Reads only frame and block headers; holds at most one frame plus a read
    chunk. Checks the seek table, if one comes, against the frames before it.
    """

    def __init__(self, src: Any, head: bytes, before: array[int] | None = None) -> None:
        self._src = src
        self._buf = bytearray(head)
        self._pos = 0
        self._eof = False
        #: (compressed, decompressed) sizes of the frames so far; ``before``: of
        #: the frames in front of where ``src`` stands (a ranged read).
        self._sizes: array[int] = array("I") if before is None else before
        self._table_seen = False
        self.frames = len(self._sizes) // 2

    def _fill(self, need: int) -> bool:
        """Make ``need`` bytes available from ``_pos``; False if the source ends first."""
        while len(self._buf) - self._pos < need:
            if self._eof:
                return False
            data = self._src.read(max(CHUNK, need - (len(self._buf) - self._pos)))
            if not data:
                self._eof = True
                return False
            self._buf += data
        return True

    def next_frame(self) -> tuple[bytes, int] | None:
        """The next data frame and its content size; ``None`` at a clean end of the stream."""
        while True:
            if self._pos:
                del self._buf[: self._pos]
                self._pos = 0
            if not self._fill(4):
                if self._buf:
                    raise EOFError("zstd data ends inside a frame header (truncated?)")
                if self.frames == 0:
                    raise EOFError("no zstd frame in the data (empty or truncated)")
                return None
            if self._table_seen:
                raise ValueError("unexpected data after the zstd seek table")
            magic = int.from_bytes(self._buf[0:4], "little")
            if magic & _SKIPPABLE_MASK == _SKIPPABLE_MAGIC:
                self._skippable(magic)
                continue
            if magic != _FRAME_MAGIC:
                raise ValueError("data is not a valid zstd stream")
            return self._frame()

    def _skippable(self, magic: int) -> None:
        if not self._fill(8):
            raise EOFError("zstd skippable frame cut short (truncated?)")
        size = int.from_bytes(self._buf[4:8], "little")
        if size > _MAX_SKIPPABLE:
            raise ValueError(f"zstd skippable frame of {size} bytes is larger than this decoder accepts")
        if not self._fill(8 + size):
            raise EOFError("zstd skippable frame cut short (truncated?)")
        body = bytes(self._buf[8 : 8 + size])
        self._pos = 8 + size
        if magic == _SEEK_TABLE_MAGIC and len(body) >= _FOOTER.size and body.endswith(
            _SEEKABLE_MAGIC.to_bytes(4, "little")
        ):
            self._check_table(body)

    def _check_table(self, body: bytes) -> None:
        count, descriptor, _ = _FOOTER.unpack(body[-_FOOTER.size :])
        entry = 12 if descriptor & 0x80 else 8
        if descriptor & 0x7F or len(body) != count * entry + _FOOTER.size:
            raise ValueError("zstd seek table is malformed")
        got = array("I")
        for i in range(count):
            got.extend(struct.unpack_from("<II", body, i * entry))
        if got != self._sizes:
            raise ValueError("zstd seek table does not match the frames it describes")
        self._table_seen = True

    def _frame(self) -> tuple[bytes, int]:
        while (header := _frame_header(self._buf, 0)) is None:
            if not self._fill(len(self._buf) + 1):
                raise EOFError("zstd data ends inside a frame header (truncated?)")
        length, content_size, checksum = header
        if content_size is None or content_size > MAX_FRAME_SIZE:
            raise ValueError("zstd frame without a content size small enough to decode as a whole")
        limit = length + content_size + (content_size >> 7) + 3 * (content_size // _MAX_BLOCK + 1) + 4
        p = length
        while True:
            if not self._fill(p + 3):
                raise EOFError("zstd data ended before the end of its frame (truncated?)")
            value = int.from_bytes(self._buf[p : p + 3], "little")
            block_type, block_size = (value >> 1) & 0b11, value >> 3
            if block_type == 3 or block_size > _MAX_BLOCK:
                raise ValueError("zstd block header is invalid")
            p += 3 + (1 if block_type == 1 else block_size)
            if value & 1:
                p += 4 if checksum else 0
                break
            if p > limit:
                raise ValueError("zstd frame is longer than its content size allows")
        if not self._fill(p):
            raise EOFError("zstd data ended before the end of its frame (truncated?)")
        frame = bytes(self._buf[:p])
        self._pos = p
        self._sizes.append(p)
        self._sizes.append(content_size)
        self.frames += 1
        return frame, content_size


class ZstdReader(io.RawIOBase):
    """Raw stream of the bytes decompressed from zstd data read from ``src``.

    Framed blobs (the current format) are decoded frame by frame, up to
    ``threads`` frames at once in worker threads, in order; a blob of one big
    frame (the format before) streams through one decompressor. When ``src``
    is seekable and the blob has a seek table, the reader is seekable too:
    :meth:`seek` jumps to the frame holding the offset and decodes from there.
    """

    def __init__(self, src: BinaryIO, read_size: int = CHUNK, threads: int = DEFAULT_THREADS) -> None:
        self._src = src
        self._threads = threads
        self._read_size = read_size
        head = src.read(read_size) or b""
        self._streaming: Any = None
        self._tracker: _FrameTracker | None = None
        self._splitter: _FrameSplitter | None = None
        self._pending: deque[Future[bytes]] = deque()
        self._current = memoryview(b"")
        self._done = False
        self._checked = False
        self._pos = 0
        self._index: list[tuple[int, int, int, int]] | None = None  # (offset, stored offset, size, stored size)
        if self._framed(head):
            self._splitter = _FrameSplitter(src, head)
        else:
            self._tracker = _FrameTracker(_Prefixed(head, src))
            self._streaming = zstandard.ZstdDecompressor().stream_reader(
                cast(IO[bytes], self._tracker), read_size=read_size, read_across_frames=True, closefd=False
            )

    @staticmethod
    def _framed(head: bytes) -> bool:
        if len(head) < 4 or int.from_bytes(head[:4], "little") != _FRAME_MAGIC:
            return False
        header = _frame_header(head, 0)
        return header is not None and header[1] is not None and header[1] <= MAX_FRAME_SIZE

    def readable(self) -> bool:
        return True

    def _next_piece(self) -> bool:
        """Move the next decoded frame into ``_current``; False at the end."""
        splitter = self._splitter
        assert splitter is not None
        ahead = max(1, self._threads)
        while not self._done and len(self._pending) < ahead:
            item = splitter.next_frame()
            if item is None:
                self._done = True
                break
            if self._threads == 0:
                done: Future[bytes] = Future()
                done.set_result(_decompress(*item))
                self._pending.append(done)
            else:
                self._pending.append(_workers().submit(_decompress, *item))
        if not self._pending:
            return False
        self._current = memoryview(self._pending.popleft().result())
        return True

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        if not len(buffer):
            return 0
        if self._streaming is not None:
            n: int = self._streaming.readinto(buffer)
            if n == 0 and not self._checked and self._tracker is not None:
                self._tracker.check_complete()
                self._checked = True
            self._pos += n
            return n
        while not len(self._current):
            if not self._next_piece():
                return 0
        n = min(len(buffer), len(self._current))
        memoryview(buffer).cast("B")[:n] = self._current[:n]
        self._current = self._current[n:]
        self._pos += n
        return n

    # --- ranged reads ---------------------------------------------------------------------

    def _load_index(self) -> list[tuple[int, int, int, int]] | None:
        """The frames' offsets, from the seek table at the end of a seekable source."""
        if self._index is not None:
            return self._index
        try:
            if self._splitter is None or not self._src.seekable():
                return None
            here = self._src.tell()
            try:
                end = self._src.seek(0, io.SEEK_END)
                if end < _FOOTER.size + 8:
                    return None
                self._src.seek(end - _FOOTER.size)
                count, descriptor, magic = _FOOTER.unpack(self._src.read(_FOOTER.size))
                entry = 12 if descriptor & 0x80 else 8
                table = count * entry + _FOOTER.size
                if magic != _SEEKABLE_MAGIC or descriptor & 0x7F or table + 8 > end:
                    return None
                self._src.seek(end - table - 8)
                raw = self._src.read(table + 8)
            finally:
                self._src.seek(here)
        except (AttributeError, OSError, ValueError):
            return None
        skippable, body_size = struct.unpack_from("<II", raw, 0)
        if skippable != _SEEK_TABLE_MAGIC or body_size != table:
            raise ValueError("zstd seek table is malformed")
        index = []
        offset = stored = 0
        for i in range(count):
            c, d = struct.unpack_from("<II", raw, 8 + i * entry)
            index.append((offset, stored, d, c))
            offset += d
            stored += c
        if stored != end - table - 8:
            raise ValueError("zstd seek table does not match the size of the data")
        self._index = index
        return index

    def seekable(self) -> bool:
        try:
            return self._load_index() is not None
        except ValueError:
            return False

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        index = self._load_index()
        if index is None:
            raise io.UnsupportedOperation("this zstd blob has no seek table, or its source cannot seek")
        total = index[-1][0] + index[-1][2] if index else 0
        target = {io.SEEK_SET: offset, io.SEEK_CUR: self._pos + offset, io.SEEK_END: total + offset}[whence]
        if target < 0:
            raise ValueError(f"negative seek position {target}")
        self._pending.clear()  # decodes in flight finish in the background and are dropped
        self._current = memoryview(b"")
        self._done = False
        self._pos = target
        if target >= total:
            self._done = True
            return target
        lo, hi = 0, len(index) - 1
        while lo < hi:  # the last frame starting at or before target
            mid = (lo + hi + 1) // 2
            if index[mid][0] <= target:
                lo = mid
            else:
                hi = mid - 1
        start, stored, _, _ = index[lo]
        self._src.seek(stored)
        before = array("I", [v for row in index[:lo] for v in (row[3], row[2])])
        self._splitter = _FrameSplitter(self._src, b"", before)
        if not self._next_piece():
            raise EOFError("zstd data ended before the frame the seek table points to")
        self._current = self._current[target - start :]
        return target

    def close(self) -> None:
        if not self.closed:
            self._pending.clear()
            if self._streaming is not None:
                self._streaming.close()
        super().close()


class ZstdCodec(Codec):
    """Zstandard in independent frames, compressed and decoded in ``threads`` worker threads."""

    name = "zstd"
    suffix = ".zst"

    def __init__(self, level: int = DEFAULT_LEVEL, threads: int = DEFAULT_THREADS) -> None:
        self.level = check_level("zstd", level, _MIN_LEVEL, zstandard.MAX_COMPRESSION_LEVEL)
        if threads < 0:
            raise ValueError(f"zstd threads must be >= 0, got {threads}")
        self.threads = threads

    def encoder(self, dest: Writable, *, size: int | None, member_name: str) -> Encoder:
        return ZstdEncoder(dest, level=self.level, threads=self.threads, size=size)

    def decoder(self, src: BinaryIO) -> BinaryIO:
        return guard_decoder(ZstdReader(src, threads=self.threads), self.name, DECODE_ERRORS)

    def __repr__(self) -> str:
        return f"<codec zstd level={self.level} threads={self.threads}>"
