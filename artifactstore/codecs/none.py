"""The ``none`` codec: stores the original bytes as they are."""

from __future__ import annotations

from typing import BinaryIO

from .base import Codec, Encoder, StreamEncoder, Writable

__all__ = ["NoneCodec", "NoneEncoder"]


class NoneEncoder(StreamEncoder):
    """Passes every write straight to the destination."""

    chunk_size = 1 << 62  # nothing to bound: each write goes through whole

    def __init__(self, dest: Writable) -> None:
        super().__init__()
        self._dest = dest

    def encode(self, piece: memoryview) -> None:
        self._dest.write(piece)

    def end(self) -> None:
        pass


class NoneCodec(Codec):
    """Identity codec, for data that does not compress (video, archives, random bytes)."""

    name = "none"
    suffix = ""

    def encoder(self, dest: Writable, *, size: int | None, member_name: str) -> Encoder:
        return NoneEncoder(dest)

    def decoder(self, src: BinaryIO) -> BinaryIO:
        # The stored bytes are the original bytes: hand the source back rather
        # than copying every read through a wrapper. Nothing here can tell
        # damaged bytes from good ones: the store's SHA-256 check does.
        return src
