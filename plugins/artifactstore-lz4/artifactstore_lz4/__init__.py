"""artifactstore-lz4: an LZ4 frame codec for artifactstore.

LZ4 compresses less than zstd but decompresses several times faster, for
artifacts that are read far more often than written. Installing this package
is all it takes: artifactstore finds it through the ``artifactstore``
entry-point group, and ``store.put(path, codec="lz4", ...)`` uses it.

The codec writes standard LZ4 frames (``lz4 -d`` reads them) with a content
checksum, so a damaged blob raises on decode instead of returning garbage.
"""

from __future__ import annotations

from typing import BinaryIO

import lz4.frame

from artifactstore import Codec, Encoder, hookimpl
from artifactstore.codecs.base import StreamEncoder, Writable, guard_decoder
from artifactstore.hookspecs import Registrar

__all__ = ["DECODE_ERRORS", "Lz4Codec", "Lz4Encoder", "artifactstore_register_codecs"]
__version__ = "0.1.0"

# What lz4.frame raises on damaged data: RuntimeError (bad magic, block or
# checksum), EOFError (a frame cut short).
DECODE_ERRORS: tuple[type[BaseException], ...] = (RuntimeError, EOFError, ValueError)


class Lz4Encoder(StreamEncoder):
    """Writes one LZ4 frame to ``dest`` as data comes (StreamEncoder feeds it 1 MiB pieces)."""

    def __init__(self, dest: Writable, *, level: int, size: int | None) -> None:
        super().__init__()
        self._dest = dest
        self._compressor = lz4.frame.LZ4FrameCompressor(
            compression_level=level,
            content_checksum=True,  # lets the decoder detect damage
            auto_flush=False,  # buffer up to one block: better ratio, fewer writes
        )
        # The frame header records the size when the store knows it.
        self._dest.write(self._compressor.begin(source_size=size or 0))

    def encode(self, piece: memoryview) -> None:
        out = self._compressor.compress(piece)
        if out:
            self._dest.write(out)

    def end(self) -> None:
        # End mark and checksum. The store, not the codec, closes dest.
        self._dest.write(self._compressor.flush())


class Lz4Codec(Codec):
    """LZ4 frames: fast to decode, a lower ratio than zstd."""

    name = "lz4"
    suffix = ".lz4"

    def __init__(self, level: int = 0) -> None:
        if not 0 <= level <= 16:
            raise ValueError(f"lz4 level must be between 0 and 16, got {level}")
        self.level = level

    def encoder(self, dest: Writable, *, size: int | None, member_name: str) -> Encoder:
        return Lz4Encoder(dest, level=self.level, size=size)

    def decoder(self, src: BinaryIO) -> BinaryIO:
        # LZ4FrameFile streams (bounded memory), checks the content checksum,
        # raises EOFError on a truncated frame, and leaves src open on close();
        # guard_decoder turns its errors on damaged data into CorruptDataError.
        return guard_decoder(lz4.frame.LZ4FrameFile(src, mode="rb"), self.name, DECODE_ERRORS)


@hookimpl
def artifactstore_register_codecs(register: Registrar) -> None:
    register("lz4", Lz4Codec, description="LZ4 frames: fast decoding, lower ratio than zstd")
