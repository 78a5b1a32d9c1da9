"""The contract a codec implements.

A codec turns the original bytes of an artifact into the bytes stored in a
blob and back, **streaming**: memory use must stay bounded whatever the size
of the artifact. The SHA-256 that names a blob is always that of the original
bytes, so a codec never changes an artifact's identity.

On damaged input (truncated, bit-flipped, not the codec's format) a decoder
raises :class:`~artifactstore.errors.CorruptDataError`, never the compression
library's own exception type: wrap the raw decoding stream with
:func:`guard_decoder`, naming the exceptions that library raises on bad data.
:class:`artifactstore.testing.CodecTests` checks this for every codec.
"""

from __future__ import annotations

import io
from abc import ABC, abstractmethod
from typing import Any, BinaryIO, ClassVar, Protocol

from ..errors import CorruptDataError

__all__ = ["CHUNK", "Codec", "Encoder", "StreamEncoder", "Writable", "check_level", "guard_decoder"]

#: Default piece size: encoders feed large writes to the compressor in pieces
#: of this size and decoders buffer this much, so memory stays bounded.
CHUNK = 1 << 20


class Writable(Protocol):
    """Anything with ``write(bytes)``: a file, or a :class:`~artifactstore.backends.base.BlobWriter`."""

    def write(self, data: bytes | memoryview, /) -> int: ...


class Encoder(ABC):
    """Streaming encoder returned by :meth:`Codec.encoder`."""

    @abstractmethod
    def write(self, data: bytes | memoryview) -> None:
        """Encode ``data`` and write what is ready to the destination."""

    @abstractmethod
    def finish(self) -> None:
        """Flush all remaining encoded bytes (trailers, footers) to the destination.

        Must not close the destination: the store commits or aborts it.
        """


class StreamEncoder(Encoder):
    """An :class:`Encoder` with the bookkeeping every encoder repeats written once.

    ``write()`` after ``finish()`` raises ``ValueError``; a second ``finish()``
    does nothing; one large ``write()`` reaches :meth:`encode` in pieces of at
    most :attr:`chunk_size` bytes (so the compressor never holds the output of
    a whole large write at once); empty writes are dropped. Subclasses call
    ``super().__init__()`` and implement :meth:`encode` and :meth:`end`, and
    may override :meth:`check_complete`.
    """

    #: Largest piece :meth:`encode` is given.
    chunk_size: ClassVar[int] = CHUNK

    def __init__(self) -> None:
        self.finished = False

    @abstractmethod
    def encode(self, piece: memoryview) -> None:
        """Encode one piece (at most :attr:`chunk_size` bytes, never empty)."""

    @abstractmethod
    def end(self) -> None:
        """Write the trailing encoded bytes; called once, by the first ``finish()``."""

    def check_complete(self) -> None:
        """Raise if the input is incomplete (before :meth:`end`; ``finish()`` may then be retried)."""

    def write(self, data: bytes | memoryview) -> None:
        if self.finished:
            raise ValueError("write() after finish()")
        view = memoryview(data).cast("B")
        step = self.chunk_size
        for start in range(0, len(view), step):
            self.encode(view[start : start + step])

    def finish(self) -> None:
        if self.finished:
            return
        self.check_complete()
        self.finished = True
        self.end()


class _GuardedReader(io.RawIOBase):
    """Raw stream over a decoding stream that turns its decode errors into CorruptDataError."""

    def __init__(self, raw: Any, codec: str, errors: tuple[type[BaseException], ...]) -> None:
        self._raw = raw
        self._codec = codec
        self._errors = errors

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        try:
            if hasattr(self._raw, "readinto"):
                n = self._raw.readinto(buffer)
                return 0 if n is None else int(n)
            data = self._raw.read(len(buffer))
            memoryview(buffer).cast("B")[: len(data)] = data
            return len(data)
        except CorruptDataError:
            raise
        except self._errors as exc:
            if self.closed:
                raise
            raise CorruptDataError(self._codec, f"{type(exc).__name__}: {exc}") from exc

    def close(self) -> None:
        if not self.closed:
            self._raw.close()
        super().close()


def guard_decoder(raw: Any, codec: str, errors: tuple[type[BaseException], ...]) -> BinaryIO:
    """Return a buffered stream reading ``raw`` that raises CorruptDataError on damaged data.

    ``raw`` is the decoding stream (anything with ``readinto`` or ``read``);
    ``errors`` are the exception types its library raises on bad input, such
    as ``(zlib.error, EOFError)``. Errors of other types (the source's own
    ``OSError`` from a failing disk or network, say) pass through unchanged.
    """
    return io.BufferedReader(_GuardedReader(raw, codec, errors), CHUNK)  # type: ignore[return-value]


def check_level(codec: str, level: int, low: int, high: int) -> int:
    """Return ``level`` if it is in ``[low, high]``, else raise ``ValueError`` naming the codec and the range."""
    if not low <= level <= high:
        raise ValueError(f"{codec} level must be between {low} and {high}, got {level}")
    return level


class Codec(ABC):
    """Abstract codec, registered by name through ``artifactstore_register_codecs``."""

    #: Registered name, e.g. ``"zstd"``; stored in manifests and the catalog.
    name: ClassVar[str]
    #: Suffix of blob keys encoded with this codec (``".zst"``; ``""`` for none).
    suffix: ClassVar[str] = ""
    #: Whether :meth:`encoder` needs the exact original size up front (tar
    #: headers do). The store spools a source of unknown size to a temporary
    #: file first for such codecs.
    needs_size: ClassVar[bool] = False
    #: Whether decoding needs a seekable source (zip reads its central directory).
    needs_seekable: ClassVar[bool] = False

    @abstractmethod
    def encoder(self, dest: Writable, *, size: int | None, member_name: str) -> Encoder:
        """Return an encoder writing encoded bytes to ``dest``.

        ``size`` is the exact original size when known; ``member_name`` is the
        base name to use inside container formats (zip, tar).
        """

    @abstractmethod
    def decoder(self, src: BinaryIO) -> BinaryIO:
        """Return a readable binary stream of the original bytes read from ``src``.

        Closing the returned stream need not close ``src``; the store closes both.
        """

    def __repr__(self) -> str:
        return f"<codec {self.name}>"
