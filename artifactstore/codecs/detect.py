"""Choose between ``zstd`` and ``none`` for the ``auto`` codec, from a sample of the data.

Two tests, both on the first :data:`SNIFF_BYTES` of the data only:

1. **Magic bytes** of formats that are compressed already (video, images,
   audio, compressed archives, Parquet): store as they are.
2. **Content**: compress the sample with zstd level 1; if that saves less
   than :data:`MIN_SAVING`, the data is random or compressed in a way we do not
   know, and compressing it all would cost time for nothing.

The file name is never trusted over the content: ``report.json`` full of random
bytes is stored as is, and a CSV named ``video.mp4`` is compressed.

Containers that may or may not be compressed inside are left to the content
test: a zip (or ``.npz``) whose first member is *stored* (``numpy.savez``),
tar, PDF (text objects mixed with deflated streams), TIFF, WAV, HDF5.
"""

from __future__ import annotations

import zstandard

__all__ = ["MIN_SAVING", "SNIFF_BYTES", "choose_auto_codec", "sniff_format"]

#: How much of the data the choice looks at.
SNIFF_BYTES = 64 * 1024
#: Compress only if zstd level 1 saves at least this fraction of the sample.
MIN_SAVING = 0.05

# (offset, magic, format). Formats whose payload is always compressed.
_MAGIC: tuple[tuple[int, bytes, str], ...] = (
    (4, b"ftyp", "mp4/mov/heic"),  # ISO base media: mp4, mov, m4a, heic, avif
    (0, b"\x1a\x45\xdf\xa3", "webm/mkv"),
    (0, b"\x89PNG\r\n\x1a\n", "png"),
    (0, b"\xff\xd8\xff", "jpeg"),
    (0, b"GIF87a", "gif"),
    (0, b"GIF89a", "gif"),
    (0, b"\x1f\x8b\x08", "gzip"),
    (0, b"\x28\xb5\x2f\xfd", "zstd"),
    (0, b"\xfd7zXZ\x00", "xz"),
    (0, b"7z\xbc\xaf\x27\x1c", "7z"),
    (0, b"\x04\x22\x4d\x18", "lz4"),
    (0, b"\x02\x21\x4c\x18", "lz4"),  # legacy lz4 frame
    (0, b"Rar!\x1a\x07", "rar"),
    (0, b"PAR1", "parquet"),
    (0, b"OggS", "ogg"),
    (0, b"fLaC", "flac"),
    (0, b"ID3", "mp3"),
)
_RIFF_COMPRESSED = {b"AVI ": "avi", b"WEBP": "webp"}
_ZIP_LOCAL_HEADER = b"PK\x03\x04"


def sniff_format(sample: bytes) -> str | None:
    """Name of the already-compressed format ``sample`` starts with, or ``None``."""
    head = bytes(sample[:16])
    for offset, magic, fmt in _MAGIC:
        if head[offset : offset + len(magic)] == magic:
            return fmt
    if head[:4] == b"RIFF" and head[8:12] in _RIFF_COMPRESSED:
        return _RIFF_COMPRESSED[head[8:12]]
    if head[:3] == b"BZh" and head[3:4].isdigit() and head[4:10] == b"1AY&SY":
        return "bz2"
    # Compression method of a zip's first member: 0 is stored (numpy.savez),
    # anything else (deflate, bzip2, lzma, zstd) is compressed already.
    if head[:4] == _ZIP_LOCAL_HEADER and len(head) >= 10 and int.from_bytes(head[8:10], "little") != 0:
        return "zip"
    return None


def compresses(sample: bytes, min_saving: float = MIN_SAVING) -> bool:
    """Whether zstd level 1 saves at least ``min_saving`` of ``sample[:SNIFF_BYTES]``."""
    data = bytes(sample[:SNIFF_BYTES])
    if not data:
        return False
    # A compressor per call: zstd contexts are not safe to share between threads.
    packed = zstandard.ZstdCompressor(level=1).compress(data)
    return len(packed) <= len(data) * (1.0 - min_saving)


def choose_auto_codec(sample: bytes, name: str | None = None) -> str:
    """Return ``"zstd"`` or ``"none"`` for data starting with ``sample``.

    ``sample`` should be the first :data:`SNIFF_BYTES` of the data (more is
    ignored; the whole data if shorter). ``name`` is accepted for callers that
    have one but does not decide anything: extensions lie.
    """
    if sniff_format(sample) is not None:
        return "none"
    return "zstd" if compresses(sample) else "none"
