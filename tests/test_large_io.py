"""Large-data paths: zstd written as independent frames with a seek table (issue 10).

Frame boundaries are tested with small frames (the encoder's ``frame_size``)
so the data stays small; one store-level test uses the default frame size.
"""

from __future__ import annotations

import io
import struct
from pathlib import Path
from typing import Any, BinaryIO, cast

import pytest
import zstandard

from artifactstore import ArtifactStore
from artifactstore.codecs.zstd_codec import FRAME_SIZE, MAX_FRAME_SIZE, ZstdCodec, ZstdEncoder, ZstdReader
from artifactstore.errors import CorruptDataError, IntegrityError
from artifactstore.testing.codecs import WriteOnlySink, compressible_bytes, mixed_bytes

FS = 4096  # frame size of the boundary tests
_SEEK_TABLE_MAGIC = 0x184D2A5E


def _encode(data: bytes, *, threads: int = 2, frame_size: int = FS, piece: int = 1000,
            with_size: bool = True) -> bytes:
    sink = WriteOnlySink()
    enc = ZstdEncoder(sink, level=1, threads=threads, size=len(data) if with_size else None, frame_size=frame_size)
    for start in range(0, len(data), piece):
        enc.write(data[start : start + piece])
    enc.finish()
    return sink.getvalue()


def _decode(encoded: bytes, *, threads: int = 2, read_size: int = 777) -> bytes:
    with ZstdCodec(threads=threads).decoder(io.BytesIO(encoded)) as reader:
        parts = []
        while piece := reader.read(read_size):
            parts.append(piece)
        return b"".join(parts)


def _frames(encoded: bytes) -> list[tuple[int, int]]:
    """(offset, length) of every data frame, walked with zstandard's own frame size."""
    out, pos = [], 0
    while pos < len(encoded):
        magic = int.from_bytes(encoded[pos : pos + 4], "little")
        if magic & 0xFFFFFFF0 == 0x184D2A50:
            pos += 8 + int.from_bytes(encoded[pos + 4 : pos + 8], "little")
            continue
        length = _frame_length(encoded, pos)
        out.append((pos, length))
        pos += length
    return out


def _frame_length(encoded: bytes, pos: int) -> int:
    obj = zstandard.ZstdDecompressor().decompressobj()
    obj.decompress(encoded[pos:])
    return len(encoded) - pos - len(obj.unused_data)


@pytest.mark.parametrize("threads", [0, 2])
@pytest.mark.parametrize("size", [0, 1, FS - 1, FS, FS + 1, 3 * FS - 1, 3 * FS, 3 * FS + 1, 10 * FS + 123])
def test_round_trip_at_frame_boundaries(size: int, threads: int) -> None:
    data = mixed_bytes(size, seed=size, block=1500)
    for piece in (1, 1000, FS, 3 * FS + 7):
        if piece == 1 and size > 2 * FS:
            continue
        encoded = _encode(data, threads=threads, piece=piece)
        assert _decode(encoded, threads=threads) == data
        assert _decode(encoded, threads=2 - threads, read_size=FS + 1) == data
        # Standard zstd: any decoder reads all frames and skips the seek table.
        std = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(encoded), read_across_frames=True).read()
        assert std == data


@pytest.mark.parametrize("threads", [0, 2])
def test_a_buffer_the_caller_reuses_is_copied(threads: int) -> None:
    # The encoder keeps views of immutable bytes until their frame is compressed; a
    # bytearray (or any other writable buffer) is overwritten by its owner after write().
    data = mixed_bytes(12 * FS + 5, seed=3, block=700)
    sink = WriteOnlySink()
    enc = ZstdEncoder(sink, level=1, threads=threads, size=len(data), frame_size=FS)
    buf = bytearray(FS + 333)
    for start in range(0, len(data), len(buf)):
        n = len(data[start : start + len(buf)])
        buf[:n] = data[start : start + n]
        enc.write(memoryview(buf)[:n])
        buf[:] = b"\xff" * len(buf)  # the caller reuses its buffer at once
    enc.finish()
    assert _decode(sink.getvalue()) == data
    assert len(_frames(sink.getvalue())) == 13


def test_frames_and_seek_table_follow_the_seekable_format() -> None:
    data = compressible_bytes(5 * FS + 10, seed=1)
    encoded = _encode(data)
    frames = _frames(encoded)
    assert len(frames) == 6
    for offset, _length in frames:
        params = zstandard.get_frame_parameters(encoded[offset:])
        assert params.has_checksum
        assert params.content_size in (FS, 10)
    # Seek table: skippable frame, 8-byte entries (compressed, decompressed), footer.
    end = frames[-1][0] + frames[-1][1]
    magic, body_size = struct.unpack_from("<II", encoded, end)
    assert magic == _SEEK_TABLE_MAGIC and end + 8 + body_size == len(encoded)
    count, descriptor, seekable = struct.unpack_from("<IBI", encoded, len(encoded) - 9)
    assert (count, descriptor, seekable) == (6, 0, 0x8F92EAB1)
    entries = [struct.unpack_from("<II", encoded, end + 8 + 8 * i) for i in range(count)]
    assert entries == [(length, FS if i < 5 else 10) for i, (_, length) in enumerate(frames)]


def test_a_single_frame_has_no_seek_table() -> None:
    encoded = _encode(b"x" * 100)
    assert len(_frames(encoded)) == 1 and _frame_length(encoded, 0) == len(encoded)


@pytest.mark.parametrize("kind", ["sized", "unknown-size", "threaded", "larger-than-max-frame"])
def test_single_frame_blobs_of_the_old_encoder_still_read(kind: str) -> None:
    data = compressible_bytes(3 * FS + 5, seed=2)
    if kind == "larger-than-max-frame":
        data = b"episode,reward\n" * (MAX_FRAME_SIZE // 15 + 1000)
    sink = io.BytesIO()
    cctx = zstandard.ZstdCompressor(level=1, write_checksum=True, threads=2 if kind == "threaded" else 0)
    with cctx.stream_writer(sink, size=-1 if kind == "unknown-size" else len(data), closefd=False) as w:
        w.write(data)
    assert _decode(sink.getvalue(), read_size=1 << 20) == data
    with pytest.raises(CorruptDataError):
        _decode(sink.getvalue()[:-3], read_size=1 << 20)


@pytest.mark.parametrize("frame", [0, 1, 2, 3])
def test_corruption_in_any_frame_is_detected(frame: int) -> None:
    data = compressible_bytes(4 * FS, seed=3)
    encoded = bytearray(_encode(data))
    offset, length = _frames(bytes(encoded))[frame]
    for where in (offset + length // 2, offset + length - 2):  # inside the blocks, in the checksum
        damaged = bytearray(encoded)
        damaged[where] ^= 0x10
        with pytest.raises(CorruptDataError):
            _decode(bytes(damaged))


@pytest.mark.parametrize("damage", ["entry", "count", "cut-table", "cut-last-frame", "junk-after-table"])
def test_damaged_seek_table_or_tail_is_detected(damage: str) -> None:
    data = compressible_bytes(3 * FS, seed=4)
    encoded = bytearray(_encode(data))
    frames = _frames(bytes(encoded))
    table = frames[-1][0] + frames[-1][1]
    if damage == "entry":
        encoded[table + 8] ^= 0x01
    elif damage == "count":
        encoded[-9] ^= 0x01
    elif damage == "cut-table":
        del encoded[-5:]
    elif damage == "cut-last-frame":
        del encoded[table - 3 :]
    else:
        encoded += _encode(b"more")
    with pytest.raises(CorruptDataError):
        _decode(bytes(encoded))


@pytest.mark.parametrize("threads", [0, 2])
def test_ranged_reads_start_at_any_offset(threads: int) -> None:
    data = mixed_bytes(7 * FS + 99, seed=5, block=700)
    encoded = _encode(data, threads=threads)
    reader = io.BufferedReader(ZstdReader(io.BytesIO(encoded), threads=threads), 1000)
    assert reader.seekable()
    for offset in (0, 1, FS - 1, FS, FS + 1, 5 * FS + 3, len(data) - 1, len(data), len(data) + 5, 17):
        assert reader.seek(offset) == offset
        assert reader.read(2 * FS) == data[offset : offset + 2 * FS], offset
    reader.seek(-10, io.SEEK_END)
    assert reader.read() == data[-10:]
    reader.seek(3 * FS - 1)
    assert reader.read() == data[3 * FS - 1 :]


def test_ranged_reads_check_the_frames_they_decode() -> None:
    data = compressible_bytes(4 * FS, seed=6)
    encoded = bytearray(_encode(data))
    offset, length = _frames(bytes(encoded))[2]
    encoded[offset + length // 2] ^= 0x10
    raw = ZstdReader(io.BytesIO(bytes(encoded)))
    raw.seek(FS)
    assert raw.read(FS) == data[FS : 2 * FS]  # frame 1 is intact
    with pytest.raises(zstandard.ZstdError):
        raw.seek(2 * FS + 5)
    with pytest.raises(CorruptDataError):
        ZstdCodec().decoder(io.BytesIO(bytes(encoded))).read()


def test_no_seek_without_a_seek_table_or_on_a_stream() -> None:
    one_frame = _encode(b"abc" * 100)
    assert not ZstdReader(io.BytesIO(one_frame)).seekable()

    class Stream(io.RawIOBase):
        def __init__(self, data: bytes) -> None:
            self._f = io.BytesIO(data)

        def readable(self) -> bool:
            return True

        def readinto(self, b: Any) -> int:
            return self._f.readinto(b)

    data = compressible_bytes(3 * FS, seed=7)
    # a buffered raw stream is a binary file object; ZstdReader's parameter type spells that BinaryIO
    reader = ZstdReader(cast(BinaryIO, io.BufferedReader(Stream(_encode(data)))))
    assert not reader.seekable()
    with pytest.raises(io.UnsupportedOperation):
        reader.seek(5)
    assert io.BufferedReader(reader).read() == data


def test_store_reads_and_verifies_a_many_frame_blob(store: ArtifactStore, tmp_path: Path) -> None:
    data = compressible_bytes(2 * FRAME_SIZE + 12345, seed=8)
    art = store.put(data, name="episodes.csv", artifact_type="episode_data", codec="zstd")
    blob = store.backend.local_path(art.blob_key)
    assert blob is not None
    encoded = blob.read_bytes()
    assert len(_frames(encoded)) == 3 and art.stored_size == len(encoded) < len(data) // 2
    assert store.read_bytes(art.id) == data
    out = store.get(art.id, tmp_path / "out.csv")
    assert out.read_bytes() == data
    assert store.verify().ok
    # Damage the middle frame: every read path and verify report it.
    offset, length = _frames(encoded)[1]
    damaged = bytearray(encoded)
    damaged[offset + length // 2] ^= 0x01
    blob.write_bytes(bytes(damaged))
    with pytest.raises(IntegrityError):
        store.read_bytes(art.id)
    with pytest.raises(IntegrityError):
        store.get(art.id, tmp_path / "again.csv")
    assert not (tmp_path / "again.csv").exists()
    assert store.verify().corrupt == [art.id]


def test_a_forked_child_gets_its_own_worker_pool() -> None:
    # The kill harness forks writers from a process that already used the pool: the child
    # has none of its threads, so an inherited pool would take work and never run it.
    import os

    data = mixed_bytes(3 * FS + 5, seed=3, block=1500)
    encoded = _encode(data, threads=2, piece=FS)
    assert _decode(encoded, threads=2) == data  # the parent's pool exists now
    pid = os.fork()
    if pid == 0:  # the child: exit 0 only if both directions finish and round-trip
        try:
            ok = _decode(_encode(data, threads=2, piece=FS), threads=2) == data
        finally:
            os._exit(0 if ok else 1)
    deadline = 60.0
    import time

    t0 = time.monotonic()
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() - t0 > deadline:  # a hang, not a slow machine: 60 s for 12 MiB
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            pytest.fail("the forked child hung on the inherited zstd worker pool")
        time.sleep(0.05)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
