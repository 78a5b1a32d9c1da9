"""The ``zip`` codec: a zip archive holding the artifact as its single member.

Kept for compatibility with the archives the original ArtifactManager wrote.
Encoding never seeks (the destination may be an upload stream): zipfile then
writes the member with a data descriptor and zip64 sizes. Decoding reads the
central directory, so it needs a seekable source.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from typing import IO, BinaryIO

from ..errors import InvalidNameError
from .base import Codec, Encoder, StreamEncoder, Writable, guard_decoder

__all__ = ["DECODE_ERRORS", "ZipCodec", "ZipEncoder", "check_member_name"]

#: What zipfile, zlib and the member reader raise on a damaged zip archive.
DECODE_ERRORS: tuple[type[BaseException], ...] = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    zlib.error,
    EOFError,
    ValueError,
    NotImplementedError,  # a flipped compression-method field
    struct.error,
    OverflowError,
)
#: Fixed timestamp: the same input gives the same blob.
_DATE_TIME = (1980, 1, 1, 0, 0, 0)


def check_member_name(name: str) -> str:
    """Return ``name`` if it is a safe single path component for an archive member."""
    if not isinstance(name, str) or not name:
        raise InvalidNameError(str(name), "an archive member name must be a non-empty string")
    if "/" in name or "\\" in name or "\x00" in name or name in (".", ".."):
        raise InvalidNameError(name, "an archive member name must be a base name, without separators")
    return name


class _WriteOnlyDest:
    """Write-only, non-seekable view of ``dest`` that counts what it wrote.

    zipfile asks ``tell()`` for header offsets and tries ``seek()`` to patch
    sizes; a failing seek makes it use data descriptors instead.
    """

    def __init__(self, dest: Writable) -> None:
        self._dest = dest
        self._pos = 0

    def write(self, data: bytes, /) -> int:
        n = memoryview(data).nbytes
        self._dest.write(data)
        self._pos += n
        return n

    def tell(self) -> int:
        return self._pos

    def seekable(self) -> bool:
        return False

    def seek(self, offset: int, whence: int = 0, /) -> int:
        raise io.UnsupportedOperation("destination is not seekable")

    def flush(self) -> None:
        pass  # the destination is committed by the store, never flushed or closed here

    def close(self) -> None:
        pass


class ZipEncoder(StreamEncoder):
    """Streaming encoder writing a one-member deflated zip archive to ``dest``."""

    def __init__(self, dest: Writable, member_name: str) -> None:
        super().__init__()
        info = zipfile.ZipInfo(check_member_name(member_name), date_time=_DATE_TIME)
        info.compress_type = zipfile.ZIP_DEFLATED
        info.external_attr = 0o100644 << 16
        self._zip = zipfile.ZipFile(_WriteOnlyDest(dest), "w", compression=zipfile.ZIP_DEFLATED)
        # force_zip64: the size is unknown up front and may exceed 4 GiB.
        self._member = self._zip.open(info, "w", force_zip64=True)

    def encode(self, piece: memoryview) -> None:
        self._member.write(piece)

    def end(self) -> None:
        self._member.close()  # data descriptor
        self._zip.close()  # central directory; does not close dest


class _ZipMemberReader(io.RawIOBase):
    """Raw stream of the single member of the zip archive in ``src``.

    The archive is opened on the first read, so that a damaged blob raises
    where every other codec's does: when it is read, not when it is opened.
    """

    def __init__(self, src: BinaryIO) -> None:
        self._src = src
        self._archive: zipfile.ZipFile | None = None
        self._member: IO[bytes] | None = None

    def readable(self) -> bool:
        return True

    def _open(self) -> IO[bytes]:
        self._archive = zipfile.ZipFile(self._src, "r")
        infos = self._archive.infolist()
        if len(infos) != 1 or infos[0].is_dir():
            names = [i.filename for i in infos[:5]]
            raise ValueError(f"expected a zip archive with exactly one file member, found {names}")
        self._member = self._archive.open(infos[0], "r")
        return self._member

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        if not len(buffer):
            return 0
        member = self._member or self._open()
        data = member.read(len(buffer))  # ZipExtFile checks the CRC-32 at the end
        n = len(data)
        memoryview(buffer).cast("B")[:n] = data
        return n

    def close(self) -> None:
        if not self.closed:
            if self._member is not None:
                self._member.close()
            if self._archive is not None:
                self._archive.close()  # does not close the source it was given
        super().close()


class ZipCodec(Codec):
    """A zip archive with one deflated member named after the artifact."""

    name = "zip"
    suffix = ".zip"
    needs_seekable = True

    def encoder(self, dest: Writable, *, size: int | None, member_name: str) -> Encoder:
        return ZipEncoder(dest, member_name)

    def decoder(self, src: BinaryIO) -> BinaryIO:
        return guard_decoder(_ZipMemberReader(src), self.name, DECODE_ERRORS)
