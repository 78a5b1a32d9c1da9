"""The ``zstd`` codec (Zstandard via the ``zstandard`` package), the default for compressible data.

Frames carry a content checksum, so corrupt data raises on decode. The
decoder also follows the frame structure of the bytes it consumes, because
``ZstdDecompressor().stream_reader`` returns short data without error when
the source ends inside a frame.
"""

from __future__ import annotations

import io
from typing import IO, Any, BinaryIO, cast

import zstandard

from .base import CHUNK, Codec, Encoder, StreamEncoder, Writable, guard_decoder

__all__ = ["DECODE_ERRORS", "DEFAULT_LEVEL", "DEFAULT_THREADS", "ZstdCodec", "ZstdEncoder", "ZstdReader"]

#: Chosen with ``benchmarks/bench_codecs.py`` (200 MB of episode CSV and JSON
#: lines, 2 cores, median of 5-7 interleaved reps): level 1 stores 0.945x
#: (CSV) and 0.92x (JSON lines) of gzip-6's bytes at 10-15x its speed; level 3
#: stores *more* than level 1 (1.05x, 1.07x of gzip-6) at under half the speed;
#: negative levels are faster but store 1.5-1.7x gzip-6's bytes.
DEFAULT_LEVEL = 1
#: Compression worker threads (``0``: compress in the calling thread). Two
#: workers cost the same CPU per MB as one thread and were faster in wall time
#: in most runs; zstd falls back to one thread for inputs smaller than a job.
DEFAULT_THREADS = 2

#: What zstandard and :class:`ZstdReader` raise on damaged zstd data.
DECODE_ERRORS: tuple[type[BaseException], ...] = (zstandard.ZstdError, EOFError, ValueError)

_FRAME_MAGIC = 0xFD2FB528
_SKIPPABLE_MASK, _SKIPPABLE_MAGIC = 0xFFFFFFF0, 0x184D2A50
_MIN_LEVEL = -(1 << 17)  # ZSTD_minCLevel(): negative levels trade ratio for speed


class ZstdEncoder(StreamEncoder):
    """Streaming encoder writing one zstd frame to ``dest``."""

    chunk_size = 1 << 62  # the zstd stream writer bounds its own output buffer (write_size)

    def __init__(self, dest: Writable, *, level: int, threads: int, size: int | None) -> None:
        super().__init__()
        cctx = zstandard.ZstdCompressor(level=level, threads=threads, write_checksum=True, write_content_size=True)
        self._writer: Any = cctx.stream_writer(
            cast(IO[bytes], dest), size=-1 if size is None else size, write_size=CHUNK, closefd=False
        )

    def encode(self, piece: memoryview) -> None:
        self._writer.write(piece)

    def end(self) -> None:
        # Ends the frame (and checks a pledged size); closefd=False keeps dest open.
        self._writer.close()


class _FrameTracker:
    """A source wrapper that follows the zstd frame structure of what passes through.

    It only reads frame and block headers and skips block contents, so it
    costs a few Python steps per 128 KiB block. At the end it can tell a
    stream that stops between frames from one cut inside a frame.
    """

    def __init__(self, src: BinaryIO) -> None:
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
        data = self._src.read(n)
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


class ZstdReader(io.RawIOBase):
    """Raw stream of the bytes decompressed from zstd data read from ``src``."""

    def __init__(self, src: BinaryIO, read_size: int = CHUNK) -> None:
        self._tracker = _FrameTracker(src)
        self._reader: Any = zstandard.ZstdDecompressor().stream_reader(
            cast(IO[bytes], self._tracker), read_size=read_size, read_across_frames=True, closefd=False
        )
        self._checked = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        if not len(buffer):
            return 0
        n: int = self._reader.readinto(buffer)
        if n == 0 and not self._checked:
            self._tracker.check_complete()
            self._checked = True
        return n

    def close(self) -> None:
        if not self.closed:
            self._reader.close()
        super().close()


class ZstdCodec(Codec):
    """Zstandard, multi-threaded; level and threads default to the measured best."""

    name = "zstd"
    suffix = ".zst"

    def __init__(self, level: int = DEFAULT_LEVEL, threads: int = DEFAULT_THREADS) -> None:
        if not _MIN_LEVEL <= level <= zstandard.MAX_COMPRESSION_LEVEL:
            raise ValueError(f"zstd level must be in [{_MIN_LEVEL}, {zstandard.MAX_COMPRESSION_LEVEL}], got {level}")
        if threads < 0:
            raise ValueError(f"zstd threads must be >= 0, got {threads}")
        self.level = level
        self.threads = threads

    def encoder(self, dest: Writable, *, size: int | None, member_name: str) -> Encoder:
        return ZstdEncoder(dest, level=self.level, threads=self.threads, size=size)

    def decoder(self, src: BinaryIO) -> BinaryIO:
        return guard_decoder(ZstdReader(src), self.name, DECODE_ERRORS)

    def __repr__(self) -> str:
        return f"<codec zstd level={self.level} threads={self.threads}>"
