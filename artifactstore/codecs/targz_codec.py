"""The ``tar.gz`` codec: a gzip-compressed tar stream holding the artifact as its single member.

Kept for compatibility with the archives the original ArtifactManager wrote.
A tar header states the member's size before its data, so the encoder needs
the exact size up front (``needs_size``) and checks that it got that many bytes.

Decoding reads the tar stream sequentially (``tarfile`` stream mode) over the
CRC-checking gzip reader of :mod:`.gzip_codec`, and after the member's last
byte reads on to the end of the gzip data so that its CRC-32 is verified
(``tarfile.open(mode="r|gz")`` never checks the gzip trailer).
"""

from __future__ import annotations

import io
import tarfile
from typing import IO, BinaryIO

from .base import CHUNK, Codec, Encoder, StreamEncoder, Writable, check_level, guard_decoder
from .gzip_codec import DECODE_ERRORS as GZIP_DECODE_ERRORS
from .gzip_codec import GzipEncoder, GzipReader
from .zip_codec import check_member_name

__all__ = ["DECODE_ERRORS", "TarGzCodec", "TarGzEncoder"]

_BLOCK = tarfile.BLOCKSIZE  # 512
_RECORD = tarfile.RECORDSIZE  # 10240: tarfile pads archives to whole records
#: What tarfile and the gzip layer raise on a damaged tar.gz stream.
DECODE_ERRORS: tuple[type[BaseException], ...] = (tarfile.TarError, UnicodeDecodeError, *GZIP_DECODE_ERRORS)


class TarGzEncoder(StreamEncoder):
    """Streaming encoder writing a one-member tar.gz to ``dest``."""

    chunk_size = 1 << 62  # the gzip encoder underneath bounds its pieces

    def __init__(self, dest: Writable, *, size: int, member_name: str, level: int = 6) -> None:
        super().__init__()
        info = tarfile.TarInfo(check_member_name(member_name))
        info.size = size
        info.mode = 0o644
        info.mtime = 0  # the same input gives the same blob
        info.type = tarfile.REGTYPE
        header = info.tobuf(format=tarfile.PAX_FORMAT, encoding="utf-8", errors="surrogateescape")
        self._gz = GzipEncoder(dest, level)
        self._gz.write(header)
        self._size = size
        self._remaining = size
        self._total = len(header)

    def encode(self, piece: memoryview) -> None:
        n = piece.nbytes
        if n > self._remaining:
            raise ValueError(f"tar.gz encoder got more than the {self._size} bytes declared")
        self._gz.write(piece)
        self._remaining -= n
        self._total += n

    def check_complete(self) -> None:
        if self._remaining:
            raise ValueError(f"tar.gz encoder got {self._size - self._remaining} bytes, {self._size} were declared")

    def end(self) -> None:
        tail = -self._total % _BLOCK + 2 * _BLOCK  # pad the member, then two zero blocks end the archive
        tail += -(self._total + tail) % _RECORD
        self._gz.write(bytes(tail))
        self._gz.finish()


class _TarMemberReader(io.RawIOBase):
    """Raw stream of the single regular-file member of the tar.gz data in ``src``.

    The tar stream is opened on the first read, so that a damaged blob raises
    where every other codec's does: when it is read, not when it is opened.
    """

    def __init__(self, src: BinaryIO) -> None:
        self._gz = io.BufferedReader(GzipReader(src), CHUNK)
        self._tar: tarfile.TarFile | None = None
        self._member: IO[bytes] | None = None
        self._done = False

    def readable(self) -> bool:
        return True

    def _open(self) -> IO[bytes]:
        self._tar = tarfile.open(fileobj=self._gz, mode="r|")  # noqa: SIM115 (closed in close())
        info = self._tar.next()
        if info is None:
            raise ValueError("tar archive has no member")
        if not info.isreg():
            raise ValueError(f"first tar member {info.name!r} is not a regular file")
        member = self._tar.extractfile(info)
        assert member is not None  # always a stream for a regular file
        self._member = member
        return member

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        if not len(buffer) or self._done:
            return 0
        member = self._member or self._open()
        data = member.read(len(buffer))
        if data:
            n = len(data)
            memoryview(buffer).cast("B")[:n] = data
            return n
        self._finish_archive()
        self._done = True
        return 0

    def _finish_archive(self) -> None:
        assert self._tar is not None
        if self._tar.next() is not None:
            raise ValueError("tar archive has more than one member")
        while self._gz.read(CHUNK):  # to the gzip trailer, which checks CRC-32 and size
            pass

    def close(self) -> None:
        if not self.closed:
            if self._member is not None:
                self._member.close()
            if self._tar is not None:
                self._tar.close()  # a tarfile given a fileobj does not close it
        super().close()


class TarGzCodec(Codec):
    """A gzip-compressed tar with one regular-file member named after the artifact."""

    name = "tar.gz"
    suffix = ".tar.gz"
    needs_size = True

    def __init__(self, level: int = 6) -> None:
        self.level = check_level("gzip", level, 0, 9)

    def encoder(self, dest: Writable, *, size: int | None, member_name: str) -> Encoder:
        if size is None:
            raise ValueError("the tar.gz codec needs the exact size up front (tar headers state it)")
        return TarGzEncoder(dest, size=size, member_name=member_name, level=self.level)

    def decoder(self, src: BinaryIO) -> BinaryIO:
        return guard_decoder(_TarMemberReader(src), self.name, DECODE_ERRORS)
