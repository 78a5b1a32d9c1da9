"""The ``gzip`` codec: one RFC 1952 gzip member, deflate level 6 by default.

Encoding and decoding use :mod:`zlib` directly rather than :class:`gzip.GzipFile`:
the header carries no file name and a zero mtime (the same input always gives
the same blob), and the decoder raises on a truncated or empty stream where
``GzipFile`` returns short data without complaint.
"""

from __future__ import annotations

import io
import zlib
from typing import BinaryIO

from .base import CHUNK, Codec, Encoder, StreamEncoder, Writable, check_level, guard_decoder

__all__ = ["CHUNK", "DECODE_ERRORS", "GzipCodec", "GzipEncoder", "GzipReader"]

_GZIP_WBITS = 16 + zlib.MAX_WBITS  # zlib writes and checks the gzip header and CRC-32/size trailer
#: What zlib and :class:`GzipReader` raise on damaged gzip data.
DECODE_ERRORS: tuple[type[BaseException], ...] = (zlib.error, EOFError, ValueError)


class GzipEncoder(StreamEncoder):
    """Streaming gzip encoder writing one member to ``dest``."""

    def __init__(self, dest: Writable, level: int = 6) -> None:
        super().__init__()
        self._dest = dest
        self._z = zlib.compressobj(level, zlib.DEFLATED, _GZIP_WBITS)

    def encode(self, piece: memoryview) -> None:
        out = self._z.compress(piece)
        if out:
            self._dest.write(out)

    def end(self) -> None:
        self._dest.write(self._z.flush(zlib.Z_FINISH))


class GzipReader(io.RawIOBase):
    """Raw stream of the bytes decompressed from gzip data read from ``src``.

    Handles concatenated members; verifies each member's CRC-32 and size
    (zlib does, in gzip mode); raises :class:`EOFError` if the data ends inside
    a member, including a source with no member at all.
    """

    def __init__(self, src: BinaryIO, read_size: int = CHUNK) -> None:
        self._src = src
        self._read_size = read_size
        self._d = zlib.decompressobj(_GZIP_WBITS)
        self._pending = b""
        self._done = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        view = memoryview(buffer).cast("B")
        if not len(view) or self._done:
            return 0
        while True:
            if self._d.eof:
                # End of a member: either the end of the data or another member.
                self._pending = self._d.unused_data or self._src.read(self._read_size)
                if not self._pending:
                    self._done = True
                    return 0
                self._d = zlib.decompressobj(_GZIP_WBITS)
            if not self._pending:
                self._pending = self._src.read(self._read_size)
                if not self._pending:
                    raise EOFError("gzip data ended before the end of its member (truncated?)")
            out = self._d.decompress(self._pending, len(view))
            self._pending = self._d.unconsumed_tail
            if out:
                view[: len(out)] = out
                return len(out)


class GzipCodec(Codec):
    """gzip, the interoperable baseline: ``gunzip`` reads its blobs."""

    name = "gzip"
    suffix = ".gz"

    def __init__(self, level: int = 6) -> None:
        self.level = check_level("gzip", level, 0, 9)

    def encoder(self, dest: Writable, *, size: int | None, member_name: str) -> Encoder:
        return GzipEncoder(dest, self.level)

    def decoder(self, src: BinaryIO) -> BinaryIO:
        return guard_decoder(GzipReader(src), self.name, DECODE_ERRORS)
