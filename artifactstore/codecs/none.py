"""The ``none`` codec: stores the original bytes as they are."""

from __future__ import annotations

from typing import BinaryIO

from .base import Codec, Encoder, Writable

__all__ = ["NoneCodec", "NoneEncoder"]


class NoneEncoder(Encoder):
    """Passes every write straight to the destination."""

    def __init__(self, dest: Writable) -> None:
        self._dest = dest
        self._finished = False

    def write(self, data: bytes | memoryview) -> None:
        if self._finished:
            raise ValueError("write() after finish()")
        if len(data):
            self._dest.write(data)

    def finish(self) -> None:
        self._finished = True


class NoneCodec(Codec):
    """Identity codec, for data that does not compress (video, archives, random bytes)."""

    name = "none"
    suffix = ""

    def encoder(self, dest: Writable, *, size: int | None, member_name: str) -> Encoder:
        return NoneEncoder(dest)

    def decoder(self, src: BinaryIO) -> BinaryIO:
        # The stored bytes are the original bytes: hand the source back rather
        # than copying every read through a wrapper.
        return src
