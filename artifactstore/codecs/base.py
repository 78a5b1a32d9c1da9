"""The contract a codec implements.

A codec turns the original bytes of an artifact into the bytes stored in a
blob and back, **streaming**: memory use must stay bounded whatever the size
of the artifact. The SHA-256 that names a blob is always that of the original
bytes, so a codec never changes an artifact's identity.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import BinaryIO, ClassVar, Protocol

__all__ = ["Codec", "Encoder", "Writable"]


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
