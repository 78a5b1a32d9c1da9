"""Conformance suite for codecs: subclass :class:`CodecTests` and supply a ``codec`` fixture.

Every built-in codec and every codec plugin runs the same tests::

    import pytest
    from artifactstore.testing.codecs import CodecTests

    from my_package import MyCodec


    class TestMyCodec(CodecTests):
        @pytest.fixture
        def codec(self):
            return MyCodec()

What the suite checks, against the contract in :mod:`artifactstore.codecs.base`:

- ``name`` is set (lower-case, as registered), ``suffix`` and the capability
  flags have the right types;
- round trips of empty, tiny, multi-MB, random and compressible data, with and
  without the size up front (unless ``needs_size``);
- writes of odd chunk sizes, empty writes, ``memoryview`` input over a buffer
  the caller reuses;
- the decoder read with ``read(1)``, ``read(7)``, ``read(-1)``, ``read()``,
  ``readinto``, and from a non-seekable source (unless ``needs_seekable``);
- the encoder writes to the destination as data comes, needs nothing of it
  but ``write``, and ``finish()`` does not close it;
- memory stays bounded (``tracemalloc`` peak) while a :attr:`CodecTests.stream_size`
  stream is encoded and decoded;
- corrupt (bit-flipped) or truncated encoded data raises
  :class:`~artifactstore.errors.CorruptDataError` on decode, never the
  compression library's own error (skipped, with the reason, when
  :attr:`CodecTests.detects_corruption` is ``False``);
- encoders and decoders of one codec instance work from several threads at once.

Class attributes tune the suite for a codec that needs it; lowering the
sizes weakens what the tests show.
"""

from __future__ import annotations

import hashlib
import io
import random
import tracemalloc
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, BinaryIO, ClassVar

import pytest

from artifactstore.codecs.base import Codec, Encoder
from artifactstore.errors import CorruptDataError, IntegrityError

__all__ = ["CodecTests", "WriteOnlySink", "compressible_bytes", "decode", "encode", "mixed_bytes", "random_bytes"]

KiB = 1 << 10
MiB = 1 << 20


# --- data ----------------------------------------------------------------------------------


def random_bytes(n: int, seed: int = 0) -> bytes:
    """``n`` incompressible bytes, the same for the same seed."""
    return random.Random(seed).randbytes(n)


def compressible_bytes(n: int, seed: int = 0) -> bytes:
    """``n`` bytes of CSV-like episode rows (compress about 3-5x)."""
    rng = random.Random(seed)
    maps = ("town01", "town02", "highway", "parking", "roundabout")
    rows = [b"episode_id,map,seed,steps,reward,success,collisions\n"]
    size = len(rows[0])
    i = 0
    while size < n:
        row = (
            f"ep-{seed:04d}-{i:08d},{rng.choice(maps)},{rng.randrange(1 << 31)},{rng.randrange(2000)},"
            f"{rng.uniform(-100, 500):.6f},{rng.random() < 0.7},{rng.randrange(4)}\n"
        ).encode()
        rows.append(row)
        size += len(row)
        i += 1
    return b"".join(rows)[:n]


def mixed_bytes(n: int, seed: int = 0, block: int = 64 * KiB) -> bytes:
    """``n`` bytes alternating compressible and random blocks."""
    text = compressible_bytes(n // 2 + block, seed)
    noise = random_bytes(n // 2 + block, seed)
    parts: list[bytes] = []
    for i, start in enumerate(range(0, n, block)):
        src = noise if i % 2 else text
        parts.append(src[start // 2 : start // 2 + block])
    return b"".join(parts)[:n]


# --- destinations and sources --------------------------------------------------------------


class WriteOnlySink:
    """A destination with nothing but ``write``, like a backend's BlobWriter.

    No ``seek``, ``tell``, ``flush`` or ``close``: an encoder that needs them
    fails every test of the suite.
    """

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.writes = 0

    def write(self, data: bytes | memoryview, /) -> int:
        n = memoryview(data).nbytes
        self.buffer += data
        self.writes += 1
        return n

    def getvalue(self) -> bytes:
        return bytes(self.buffer)


class _ClosableSink(WriteOnlySink):
    def __init__(self) -> None:
        super().__init__()
        self.closed = False

    def write(self, data: bytes | memoryview, /) -> int:
        if self.closed:
            raise ValueError("write to a closed destination")
        return super().write(data)

    def close(self) -> None:
        self.closed = True


class _FileSink:
    """Writes to a file and counts what it wrote; holds nothing in memory."""

    def __init__(self, f: BinaryIO) -> None:
        self._f = f
        self.size = 0

    def write(self, data: bytes | memoryview, /) -> int:
        n = self._f.write(data)
        self.size += n
        return n


class _NonSeekableSource(io.RawIOBase):
    """A read-only source that cannot seek or tell, like a network stream."""

    def __init__(self, data: bytes) -> None:
        self._f = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        return self._f.readinto(buffer)


# --- helpers -------------------------------------------------------------------------------


def _chunks(data: bytes, sizes: Iterable[int]) -> Iterator[bytes]:
    """Slices of ``data`` whose sizes cycle through ``sizes``."""
    pattern = list(sizes)
    pos, i = 0, 0
    while pos < len(data):
        n = pattern[i % len(pattern)]
        yield data[pos : pos + n]
        pos += n
        i += 1


def encode(
    codec: Codec,
    data: bytes,
    *,
    chunk_sizes: Iterable[int] = (256 * KiB,),
    with_size: bool = True,
    member_name: str = "episodes.csv",
) -> bytes:
    """Encode ``data`` with ``codec`` into a :class:`WriteOnlySink`; return the encoded bytes."""
    sink = WriteOnlySink()
    enc = codec.encoder(sink, size=len(data) if with_size else None, member_name=member_name)
    for piece in _chunks(data, chunk_sizes):
        enc.write(piece)
    enc.finish()
    return sink.getvalue()


def decode(codec: Codec, encoded: bytes, read_size: int = -1) -> bytes:
    """Decode ``encoded`` with ``codec``, reading ``read_size`` bytes at a time."""
    with codec.decoder(io.BytesIO(encoded)) as reader:
        if read_size < 0:
            return reader.read()
        parts = []
        while piece := reader.read(read_size):
            parts.append(piece)
        return b"".join(parts)


def _first_exception(fn: Callable[[], object]) -> BaseException | None:
    try:
        fn()
    except Exception as exc:
        return exc
    return None


_PAYLOADS: dict[str, Callable[[int], bytes]] = {
    "empty": lambda large: b"",
    "one-byte": lambda large: b"\x00",
    "small-text": lambda large: b"episode_id,reward\nep-1,0.5\n",
    "small-random": lambda large: random_bytes(1000, seed=1),
    "large-compressible": lambda large: compressible_bytes(large, seed=2),
    "large-random": lambda large: random_bytes(large, seed=3),
    "large-mixed": lambda large: mixed_bytes(large, seed=4),
    "zeros": lambda large: bytes(large),
}


# --- the suite -----------------------------------------------------------------------------


class CodecTests:
    """Tests every codec must pass. Subclass it and provide a ``codec`` fixture."""

    #: Whether damaged encoded data (a flipped byte, a cut tail) must make
    #: decoding raise. ``False`` only for a format with no checksum or framing
    #: (the ``none`` codec): the corruption tests are then skipped, with that reason.
    detects_corruption: ClassVar[bool] = True
    #: Size of the "multi-MB" payloads.
    large_size: ClassVar[int] = 3 * MiB + 17
    #: Size of the stream in the bounded-memory test.
    stream_size: ClassVar[int] = 64 * MiB
    #: Highest tracemalloc peak allowed while encoding or decoding that stream.
    memory_limit: ClassVar[int] = 32 * MiB
    #: Member name passed to the encoder (container formats store it).
    member_name: ClassVar[str] = "episodes.csv"

    @pytest.fixture
    def codec(self) -> Codec:
        raise NotImplementedError("subclass CodecTests and define a `codec` fixture returning the codec to test")

    # --- identity -----------------------------------------------------------------------

    def test_is_a_codec(self, codec: Codec) -> None:
        assert isinstance(codec, Codec)

    def test_name_is_set(self, codec: Codec) -> None:
        name = getattr(codec, "name", None)
        assert isinstance(name, str) and name, "codec.name must be a non-empty string"
        assert name == name.lower(), "codec names are registered lower-case"
        assert name == type(codec).name, "name is a class attribute: manifests look the codec up by it"
        assert name in repr(codec)

    def test_suffix_and_flags(self, codec: Codec) -> None:
        assert isinstance(codec.suffix, str)
        assert codec.suffix == "" or (codec.suffix.startswith(".") and "/" not in codec.suffix)
        assert isinstance(codec.needs_size, bool)
        assert isinstance(codec.needs_seekable, bool)

    # --- round trips ----------------------------------------------------------------------

    @pytest.mark.parametrize("payload", list(_PAYLOADS))
    def test_round_trip(self, codec: Codec, payload: str) -> None:
        data = _PAYLOADS[payload](self.large_size)
        encoded = encode(codec, data, member_name=self.member_name)
        assert isinstance(encoded, bytes)
        assert decode(codec, encoded) == data

    def test_round_trip_without_size(self, codec: Codec) -> None:
        if codec.needs_size:
            pytest.skip(f"{codec.name} declares needs_size: the store always passes the size")
        data = mixed_bytes(1 * MiB + 3, seed=5)
        assert decode(codec, encode(codec, data, with_size=False)) == data

    def test_compressible_data_is_not_inflated_much(self, codec: Codec) -> None:
        # A codec may choose not to compress, but must not blow data up.
        data = compressible_bytes(1 * MiB, seed=6)
        assert len(encode(codec, data)) <= len(data) + 64 * KiB

    @pytest.mark.parametrize(
        ("sizes", "total"),
        [
            ((1,), 20_000),
            ((7,), 150_000),
            ((4093, 0, 1, 65537), 1 * MiB + 5),
            ((MiB + 3, 11), 3 * MiB),
        ],
        ids=["1", "7", "4093-0-1-65537", "1MiB+3-11"],
    )
    def test_chunked_writes(self, codec: Codec, sizes: tuple[int, ...], total: int) -> None:
        data = mixed_bytes(total, seed=7, block=10_000)
        sink = WriteOnlySink()
        enc = codec.encoder(sink, size=len(data), member_name=self.member_name)
        pattern = [s for s in sizes if s] or [1]
        for piece in _chunks(data, pattern):
            enc.write(piece)
            if 0 in sizes:
                enc.write(b"")  # empty writes are legal and change nothing
        enc.finish()
        assert decode(codec, sink.getvalue()) == data

    def test_write_accepts_memoryviews_of_mutable_buffers(self, codec: Codec) -> None:
        data = compressible_bytes(300_000, seed=8)
        sink = WriteOnlySink()
        enc = codec.encoder(sink, size=len(data), member_name=self.member_name)
        buf = bytearray(data)
        view = memoryview(buf)
        enc.write(memoryview(bytearray(data[:1000])))
        enc.write(view[1000:200_000])
        enc.write(view[200_000:])
        enc.finish()
        # The encoder must not keep references into the caller's buffer.
        buf[:] = bytes(len(buf))
        assert decode(codec, sink.getvalue()) == data

    # --- the decoder ----------------------------------------------------------------------

    @pytest.mark.parametrize("read_size", [1, 7, 4096 + 3, MiB, -1], ids=["1", "7", "4099", "1MiB", "-1"])
    def test_decoder_read_sizes(self, codec: Codec, read_size: int) -> None:
        data = mixed_bytes(200_000 if read_size < 100 else 2 * MiB + 1, seed=9, block=3000)
        encoded = encode(codec, data)
        with codec.decoder(io.BytesIO(encoded)) as reader:
            assert reader.readable()
            parts = []
            while True:
                piece = reader.read(read_size)
                assert isinstance(piece, bytes)
                if not piece:
                    break
                assert read_size < 0 or len(piece) <= read_size
                parts.append(piece)
            assert reader.read(read_size) == b"", "reads after the end return b''"
        assert b"".join(parts) == data

    def test_decoder_read_without_argument(self, codec: Codec) -> None:
        data = compressible_bytes(500_000, seed=10)
        with codec.decoder(io.BytesIO(encode(codec, data))) as reader:
            assert reader.read() == data
            assert reader.read() == b""

    def test_decoder_readinto(self, codec: Codec) -> None:
        data = mixed_bytes(1 * MiB + 11, seed=11)
        out = bytearray()
        buf = bytearray(65_537)
        with codec.decoder(io.BytesIO(encode(codec, data))) as reader:
            readinto = getattr(reader, "readinto", None)
            if readinto is None:
                pytest.skip(f"the {codec.name} decoder has no readinto (optional in the contract)")
            while n := readinto(buf):
                out += buf[:n]
        assert out == data

    def test_decoder_mixed_read_sizes(self, codec: Codec) -> None:
        data = mixed_bytes(300_000, seed=12, block=5000)
        rng = random.Random(12)
        out = bytearray()
        with codec.decoder(io.BytesIO(encode(codec, data))) as reader:
            while piece := reader.read(rng.choice([1, 2, 7, 100, 4096, 70_000])):
                out += piece
        assert out == data

    def test_decoder_close(self, codec: Codec) -> None:
        reader = codec.decoder(io.BytesIO(encode(codec, b"abc" * 1000)))
        assert reader.read(3) == b"abc"
        reader.close()
        assert reader.closed
        reader.close()  # closing twice is harmless

    def test_decoder_from_non_seekable_source(self, codec: Codec) -> None:
        if codec.needs_seekable:
            pytest.skip(f"{codec.name} declares needs_seekable: the store gives it a seekable source")
        data = mixed_bytes(2 * MiB, seed=13)
        source = _NonSeekableSource(encode(codec, data))
        with codec.decoder(io.BufferedReader(source)) as reader:
            assert reader.read() == data

    # --- the encoder and its destination --------------------------------------------------

    def test_finish_does_not_close_destination(self, codec: Codec) -> None:
        data = compressible_bytes(100_000, seed=14)
        sink = _ClosableSink()
        enc = codec.encoder(sink, size=len(data), member_name=self.member_name)
        enc.write(data)
        enc.finish()
        assert not sink.closed, "finish() closed the destination; the store commits or aborts it"
        assert decode(codec, sink.getvalue()) == data

    def test_finish_does_not_close_a_file(self, codec: Codec, tmp_path: Path) -> None:
        data = compressible_bytes(100_000, seed=15)
        with open(tmp_path / "blob", "wb") as f:
            enc = codec.encoder(f, size=len(data), member_name=self.member_name)
            enc.write(data)
            enc.finish()
            assert not f.closed
            f.write(b"")  # still usable by the store
        assert decode(codec, (tmp_path / "blob").read_bytes()) == data

    def test_encoder_writes_as_data_comes(self, codec: Codec) -> None:
        # Streaming: the encoded bytes of the start reach the destination
        # before the end is written, not all at finish().
        data = random_bytes(24 * MiB, seed=16)
        sink = WriteOnlySink()
        enc = codec.encoder(sink, size=len(data), member_name=self.member_name)
        view = memoryview(data)
        for start in range(0, len(data), MiB):
            enc.write(view[start : start + MiB])
        before_finish = len(sink.buffer)
        enc.finish()
        assert before_finish >= len(data) // 4, (
            f"only {before_finish} encoded bytes reached the destination before finish(), "
            f"for {len(data)} bytes written: the encoder buffers instead of streaming"
        )
        assert decode(codec, sink.getvalue(), read_size=MiB) == data

    def test_encoder_returns_an_encoder(self, codec: Codec) -> None:
        enc = codec.encoder(WriteOnlySink(), size=0, member_name=self.member_name)
        assert isinstance(enc, Encoder)
        enc.finish()

    def test_needs_size_is_enforced(self, codec: Codec) -> None:
        if not codec.needs_size:
            pytest.skip(f"{codec.name} does not need the size up front")
        data = compressible_bytes(10_000, seed=17)

        def too_much() -> None:
            enc = codec.encoder(WriteOnlySink(), size=len(data) - 1, member_name=self.member_name)
            enc.write(data)
            enc.finish()

        def too_little() -> None:
            enc = codec.encoder(WriteOnlySink(), size=len(data) + 1, member_name=self.member_name)
            enc.write(data)
            enc.finish()

        assert _first_exception(too_much) is not None, "more bytes than the declared size went unnoticed"
        assert _first_exception(too_little) is not None, "fewer bytes than the declared size went unnoticed"

    # --- bounded memory -------------------------------------------------------------------

    def _stream_chunks(self) -> tuple[list[bytes], Callable[[int], bytes]]:
        # Pools built before tracing starts; each chunk is a fresh 1 MiB slice
        # stamped with its index, alternating compressible and random.
        text = compressible_bytes(MiB + 4 * KiB, seed=18)
        noise = random_bytes(4 * MiB, seed=19)

        def chunk(i: int) -> bytes:
            stamp = i.to_bytes(8, "little")
            if i % 2:
                off = (i * 7919) % (3 * MiB)
                return stamp + noise[off : off + MiB - 8]
            return stamp + text[(i % 13) * 64 : (i % 13) * 64 + MiB - 8]

        return [text, noise], chunk

    def test_streaming_memory_is_bounded(self, codec: Codec, tmp_path: Path) -> None:
        n_chunks = self.stream_size // MiB
        _pools, chunk = self._stream_chunks()
        expected = hashlib.sha256()
        path = tmp_path / "stream.blob"

        with open(path, "wb") as f:
            sink = _FileSink(f)
            tracemalloc.start()
            try:
                enc = codec.encoder(sink, size=n_chunks * MiB, member_name=self.member_name)
                for i in range(n_chunks):
                    piece = chunk(i)
                    expected.update(piece)
                    enc.write(piece)
                    del piece
                enc.finish()
                _, encode_peak = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
        assert encode_peak < self.memory_limit, f"encoding peaked at {encode_peak / MiB:.1f} MiB"

        got = hashlib.sha256()
        total = 0
        with open(path, "rb") as f:
            tracemalloc.start()
            try:
                with codec.decoder(f) as reader:
                    while piece := reader.read(MiB):
                        got.update(piece)
                        total += len(piece)
                        del piece
                _, decode_peak = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
        assert decode_peak < self.memory_limit, f"decoding peaked at {decode_peak / MiB:.1f} MiB"
        assert total == n_chunks * MiB
        assert got.hexdigest() == expected.hexdigest()

    # --- corruption -----------------------------------------------------------------------

    _DAMAGE: ClassVar[tuple[str, ...]] = (
        "flip-middle",
        "flip-bit-first-byte",
        "flip-bit-middle",
        "flip-bit-three-quarters",
        "cut-last-byte",
        "cut-half",
        "cut-to-header",
        "empty",
    )

    def _damage(self, encoded: bytes, how: str) -> bytes:
        mid = len(encoded) // 2
        if how == "flip-middle":
            return encoded[:mid] + bytes(b ^ 0xFF for b in encoded[mid : mid + 16]) + encoded[mid + 16 :]
        if how.startswith("flip-bit-"):
            where = {"first-byte": 0, "middle": mid, "three-quarters": 3 * len(encoded) // 4}
            at = where[how.removeprefix("flip-bit-")]
            return encoded[:at] + bytes([encoded[at] ^ 0x10]) + encoded[at + 1 :]
        if how == "cut-last-byte":
            return encoded[:-1]
        if how == "cut-half":
            return encoded[:mid]
        if how == "cut-to-header":
            return encoded[:12]
        if how == "empty":
            return b""
        raise AssertionError(how)

    @pytest.mark.parametrize("how", _DAMAGE)
    def test_corrupt_data_raises_corrupt_data_error(self, codec: Codec, how: str) -> None:
        """Damaged input raises :class:`~artifactstore.errors.CorruptDataError`, nothing else.

        A decoder may also return bytes that differ from the original (the
        store's SHA-256 check then catches them), but it must never return the
        original bytes from damaged input without noticing, nor raise the
        compression library's own exception type.
        """
        if not self.detects_corruption:
            pytest.skip(f"{codec.name} has no checksum or framing to detect damage (detects_corruption = False)")
        data = mixed_bytes(1 * MiB, seed=20)
        encoded = encode(codec, data)
        damaged = self._damage(encoded, how)
        assert damaged != encoded
        result: list[bytes] = []
        exc = _first_exception(lambda: result.append(decode(codec, damaged, read_size=64 * KiB)))
        assert exc is not None, (
            f"decoding {how} data gave {len(result[0])} bytes "
            f"({'identical to' if result[0] == data else 'different from'} the original) without an error"
        )
        assert isinstance(exc, CorruptDataError), (
            f"decoding {how} {codec.name} data raised {type(exc).__name__}: {exc}; the codec contract "
            "says CorruptDataError (wrap the decoding stream with artifactstore.codecs.base.guard_decoder)"
        )
        assert isinstance(exc, IntegrityError)

    @pytest.mark.parametrize("cut", [1, 2, 3, 5, 8, 17, 33, 64, 100, 511])
    def test_truncated_data_raises_corrupt_data_error(self, codec: Codec, cut: int) -> None:
        if not self.detects_corruption:
            pytest.skip(f"{codec.name} has no checksum or framing to detect damage (detects_corruption = False)")
        encoded = encode(codec, mixed_bytes(100 * KiB, seed=21))
        if cut >= len(encoded):
            pytest.skip(f"{codec.name} encodes the sample in {len(encoded)} bytes")
        with pytest.raises(CorruptDataError):
            decode(codec, encoded[:-cut], read_size=16 * KiB)

    # --- threads --------------------------------------------------------------------------

    def test_concurrent_use(self, codec: Codec) -> None:
        # One codec instance (the store caches one per name), many encoders
        # and decoders at once.
        def work(seed: int) -> bool:
            data = mixed_bytes(512 * KiB + seed, seed=seed, block=20_000)
            ok = True
            for _ in range(3):
                ok &= decode(codec, encode(codec, data, chunk_sizes=(65_536 + seed,)), read_size=10_000 + seed) == data
            return ok

        with ThreadPoolExecutor(max_workers=6) as pool:
            results: list[Any] = list(pool.map(work, range(12)))
        assert all(results)
