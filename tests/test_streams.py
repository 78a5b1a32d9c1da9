"""Example-based unit tests of artifactstore.streams: pump, copy_and_hash and VerifyingReader."""

from __future__ import annotations

import hashlib
import io
import os
import random
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from artifactstore import streams
from artifactstore.errors import CorruptDataError, IntegrityError
from artifactstore.streams import CHUNK, COPY_CHUNK, VerifyingReader, copy_and_hash, pump

THREAD_MIN = streams._THREAD_MIN
SIZES = [0, 1, 1000, THREAD_MIN - 1, THREAD_MIN, THREAD_MIN + 1, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK + 7]


def _data(size: int, seed: int = 0) -> bytes:
    return random.Random(seed * 1_000_003 + size).randbytes(size)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(scope="module")
def pool() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(max_workers=2) as p:
        yield p


# --- pump --------------------------------------------------------------------------------------


@pytest.mark.parametrize("threaded", [True, False], ids=["pool", "no-pool"])
@pytest.mark.parametrize("size", SIZES)
def test_pump_hashes_counts_and_copies_exactly(size: int, threaded: bool, pool: ThreadPoolExecutor) -> None:
    data = _data(size)
    src, dst = io.BytesIO(data), io.BytesIO()
    sha, n = pump(src.read, dst.write, pool if threaded else None)
    assert (sha, n) == (_sha(data), size)
    assert dst.getvalue() == data


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK + 7])
def test_pump_progress_reports_every_chunk(size: int, pool: ThreadPoolExecutor) -> None:
    data = _data(size, seed=1)
    seen: list[int] = []
    _, n = pump(io.BytesIO(data).read, lambda b: None, pool, progress=seen.append)
    assert n == size
    assert sum(seen) == size
    assert all(0 < k <= CHUNK for k in seen)
    assert len(seen) == -(-size // CHUNK)  # ceil: one call per chunk, none for an empty source


def test_pump_reads_in_chunk_pieces(pool: ThreadPoolExecutor) -> None:
    asked: list[int] = []
    src = io.BytesIO(_data(CHUNK + 5))

    def read(k: int) -> bytes:
        asked.append(k)
        return src.read(k)

    pump(read, lambda b: None, pool)
    assert asked == [CHUNK, CHUNK, CHUNK]  # two chunks, then the empty read that ends the copy


def test_pump_with_first_bytes(pool: ThreadPoolExecutor) -> None:
    head, rest = b"HEAD" * 100_000, _data(CHUNK + 3, seed=2)
    out = io.BytesIO()
    seen: list[int] = []
    sha, n = pump(io.BytesIO(rest).read, out.write, pool, first=head, progress=seen.append)
    assert out.getvalue() == head + rest
    assert (sha, n) == (_sha(head + rest), len(head) + len(rest))
    assert seen[0] == len(head) and sum(seen) == n


def test_pump_with_only_first_bytes() -> None:
    out = io.BytesIO()
    sha, n = pump(lambda k: b"", out.write, None, first=b"abc")
    assert (sha, n, out.getvalue()) == (_sha(b"abc"), 3, b"abc")


def test_pump_keeps_order_when_chunks_alternate_between_threads_and_inline(pool: ThreadPoolExecutor) -> None:
    # Big chunks are hashed in the pool, small ones inline: the digest must still follow the stream order.
    pieces = [_data(s, seed=i) for i, s in enumerate([THREAD_MIN, 7, THREAD_MIN + 1, THREAD_MIN * 2, 1, 0])]
    it = iter(pieces)

    def read(k: int) -> bytes:
        return next(it, b"")

    out = bytearray()
    sha, n = pump(read, out.extend, pool)
    data = b"".join(pieces[:-1])  # the empty piece ends the copy
    assert bytes(out) == data
    assert (sha, n) == (_sha(data), len(data))


def test_pump_stops_at_the_first_empty_read(pool: ThreadPoolExecutor) -> None:
    pieces = iter([b"a" * 10, b"", b"never read"])
    sha, n = pump(lambda k: next(pieces), lambda b: None, pool)
    assert (sha, n) == (_sha(b"a" * 10), 10)


def test_pump_propagates_a_write_error(pool: ThreadPoolExecutor) -> None:
    def write(b: bytes) -> None:
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        pump(io.BytesIO(_data(THREAD_MIN)).read, write, pool)


def test_pump_propagates_a_read_error(pool: ThreadPoolExecutor) -> None:
    calls = iter([_data(THREAD_MIN)])

    def read(k: int) -> bytes:
        try:
            return next(calls)
        except StopIteration:
            raise ConnectionResetError("peer went away") from None

    with pytest.raises(ConnectionResetError, match="peer went away"):
        pump(read, lambda b: None, pool)


# --- copy_and_hash -----------------------------------------------------------------------------


def _fds(tmp_path: Path, data: bytes) -> tuple[int, int, Callable[[], bytes]]:
    src = tmp_path / "src.bin"
    src.write_bytes(data)
    dst = tmp_path / "dst.bin"
    s = os.open(src, os.O_RDONLY)
    d = os.open(dst, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
    return s, d, dst.read_bytes


@pytest.mark.parametrize(("size", "offset"), [
    (0, 0), (1, 0), (1, 1), (1000, 0), (1000, 10), (1000, 999), (1000, 1000), (1000, 5000),
    (COPY_CHUNK - 1, 0), (COPY_CHUNK, 0), (COPY_CHUNK + 1, 0), (2 * COPY_CHUNK + 5, 3), (COPY_CHUNK + 17, 17),
])
def test_copy_and_hash_between_files(tmp_path: Path, pool: ThreadPoolExecutor, size: int, offset: int) -> None:
    data = _data(size, seed=3)
    s, d, dst_bytes = _fds(tmp_path, data)
    seen: list[int] = []
    try:
        sha, n = copy_and_hash(s, d, pool, src_offset=offset, progress=seen.append)
    finally:
        os.close(s)
        os.close(d)
    expected = data[offset:]
    assert dst_bytes() == expected
    assert (sha, n) == (_sha(expected), len(expected))
    assert sum(seen) == n
    assert all(0 < k <= COPY_CHUNK for k in seen)


def test_copy_and_hash_writes_from_the_start_of_the_destination(tmp_path: Path, pool: ThreadPoolExecutor) -> None:
    data = _data(5000, seed=4)
    s, d, dst_bytes = _fds(tmp_path, data)
    try:
        os.write(d, b"x" * 100)  # the destination's file position does not matter
        sha, n = copy_and_hash(s, d, pool, src_offset=4000)
        assert os.lseek(s, 0, os.SEEK_CUR) == 0  # explicit offsets: the source's position is left alone
    finally:
        os.close(s)
        os.close(d)
    assert dst_bytes() == data[4000:]
    assert (sha, n) == (_sha(data[4000:]), 1000)


def test_copy_and_hash_raises_oserror_where_copy_file_range_cannot_be_used(tmp_path: Path,
                                                                          pool: ThreadPoolExecutor) -> None:
    r, w = os.pipe()
    d = os.open(tmp_path / "dst.bin", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        os.write(w, b"abc")
        os.close(w)
        with pytest.raises(OSError):
            copy_and_hash(r, d, pool)
    finally:
        os.close(r)
        os.close(d)


# --- VerifyingReader ---------------------------------------------------------------------------


def _reader(data: bytes, sha: str | None = None, size: int | None = None, inner: Any = None,
            closers: tuple[Any, ...] = ()) -> VerifyingReader:
    return VerifyingReader(inner if inner is not None else io.BytesIO(data), _sha(data) if sha is None else sha,
                           len(data) if size is None else size, "art-1", closers)


class _Unseekable(io.BytesIO):
    def seekable(self) -> bool:
        return False


class _Closer:
    def __init__(self) -> None:
        self.closed = 0

    def close(self) -> None:
        self.closed += 1


@pytest.mark.parametrize("size", [0, 1, 1000, CHUNK + 1])
def test_reader_reads_everything(size: int) -> None:
    data = _data(size, seed=5)
    r = _reader(data)
    assert r.readable()
    assert r.read() == data
    assert r.tell() == size
    assert r.read() == b""
    assert r.read(10) == b""


def test_reader_read_in_pieces_and_readinto() -> None:
    data = _data(1000, seed=6)
    r = _reader(data)
    assert r.read(0) == b""
    assert r.read(10) == data[:10]
    assert r.tell() == 10
    buf = bytearray(90)
    assert r.readinto(buf) == 90
    assert bytes(buf) == data[10:100]
    assert r.tell() == 100
    assert r.read(-1) == data[100:]
    assert r.readinto(bytearray(5)) == 0


def test_reader_readall_and_buffered_wrapper() -> None:
    data = _data(3000, seed=7)
    assert _reader(data).readall() == data
    with io.BufferedReader(_reader(data), buffer_size=256) as buffered:
        assert buffered.read(100) == data[:100]
        assert buffered.read() == data[100:]


@pytest.mark.parametrize("step", [1, 7, 100])
def test_wrong_digest_raises_only_at_the_end(step: int) -> None:
    data = _data(100, seed=8)
    wrong = _sha(b"something else")
    r = _reader(data, sha=wrong)
    got = b""
    while len(got) + step < len(data):
        got += r.read(step)  # no error before the last byte
    with pytest.raises(IntegrityError) as info:
        r.read(step)
    err = info.value
    assert err.artifact_id == "art-1"
    assert err.expected == wrong
    assert err.actual == _sha(data)
    assert str(err) == (f"integrity check failed for artifact art-1: expected sha256 {wrong}, got {_sha(data)} "
                        "(read 100 bytes, expected 100)")
    assert isinstance(err, OSError)


def test_wrong_digest_raises_from_readinto() -> None:
    data = b"hello world"
    r = _reader(data, sha="0" * 64)
    assert r.readinto(bytearray(5)) == 5
    with pytest.raises(IntegrityError):
        r.readinto(bytearray(100))


def test_wrong_digest_raises_from_read_all() -> None:
    with pytest.raises(IntegrityError):
        _reader(b"hello", sha="0" * 64).read()


def test_wrong_digest_of_an_empty_stream() -> None:
    r = _reader(b"", sha=_sha(b"x"))
    with pytest.raises(IntegrityError) as info:
        r.read(10)
    assert info.value.actual == _sha(b"")


def test_shorter_than_recorded_raises_at_eof() -> None:
    data = b"0123456789"
    r = _reader(data, size=20)  # the right digest, but the record says 20 bytes
    assert r.read(10) == data
    with pytest.raises(IntegrityError) as info:
        r.read(10)
    assert "read 10 bytes, expected 20" in str(info.value)


def test_longer_than_recorded_raises_as_soon_as_too_many_bytes_come_out() -> None:
    data = b"0123456789"
    r = _reader(data, sha=_sha(data[:4]), size=4)
    with pytest.raises(IntegrityError) as info:
        r.read(8)
    assert info.value.actual == "(longer than recorded)"
    assert "more than 4 bytes" in str(info.value)


def test_a_reader_that_stops_at_the_recorded_size_is_verified() -> None:
    data = b"0123456789"
    assert _reader(data).read(10) == data  # right digest: no error, no EOF read needed
    with pytest.raises(IntegrityError):
        _reader(data, sha="f" * 64).read(10)  # wrong digest: raised without reading on to EOF


def test_a_corrupt_codec_error_is_given_the_artifact() -> None:
    class Broken(io.RawIOBase):
        def __init__(self, err: CorruptDataError) -> None:
            self.err = err

        def readable(self) -> bool:
            return True

        def read(self, size: int = -1) -> bytes:
            raise self.err

    r = VerifyingReader(Broken(CorruptDataError("zstd", "bad frame")), "a" * 64, 10, "art-9")  # type: ignore[arg-type]
    with pytest.raises(CorruptDataError) as info:
        r.read(5)
    assert info.value.artifact_id == "art-9" and info.value.expected == "a" * 64
    assert info.value.codec == "zstd" and "artifact art-9" in str(info.value)

    named = CorruptDataError("zstd", "bad frame", artifact_id="other", expected="b" * 64)
    r2 = VerifyingReader(Broken(named), "a" * 64, 10, "art-9")  # type: ignore[arg-type]
    with pytest.raises(CorruptDataError) as info2:
        r2.read(5)
    assert info2.value is named


def test_seekable_follows_the_inner_stream() -> None:
    assert _reader(b"abc").seekable()
    r = _reader(b"abc", inner=_Unseekable(b"abc"))
    assert not r.seekable()
    with pytest.raises(io.UnsupportedOperation, match="does not allow seeking"):
        r.seek(1)
    assert r.read() == b"abc"  # still readable (and verified) sequentially


def test_seek_to_where_the_stream_stands_keeps_verifying() -> None:
    data = _data(100, seed=9)
    r = _reader(data, sha="0" * 64)
    assert r.seek(0) == 0
    assert r.read(40) == data[:40]
    assert r.seek(40) == 40
    assert r.seek(0, io.SEEK_CUR) == 40
    assert r.verifying
    with pytest.raises(IntegrityError):
        r.read()


def test_seek_away_reads_unverified() -> None:
    data = _data(100, seed=10)
    r = _reader(data, sha="0" * 64)  # a wrong digest that a ranged read cannot check
    assert r.seek(50) == 50
    assert not r.verifying
    assert r.tell() == 50
    assert r.read(10) == data[50:60]
    assert r.tell() == 60
    assert r.seek(-5, io.SEEK_END) == 95
    assert r.read() == data[95:]
    assert r.seek(0) == 0
    assert r.read() == data  # no error: the stream stopped verifying at the first seek
    assert not r.verifying


def test_close_closes_the_inner_stream_and_the_closers() -> None:
    inner = io.BytesIO(b"abc")
    c1, c2 = _Closer(), _Closer()
    r = _reader(b"abc", inner=inner, closers=(c1, c2))
    r.close()
    assert r.closed and inner.closed
    assert (c1.closed, c2.closed) == (1, 1)
    r.close()  # closing twice does nothing more
    assert (c1.closed, c2.closed) == (1, 1)
    with pytest.raises(ValueError):
        r.read(1)


def test_closers_run_even_if_the_inner_close_fails() -> None:
    class BadClose(io.BytesIO):
        failed = False

        def close(self) -> None:
            if not self.failed:  # once: the garbage collector closes it again later
                self.failed = True
                raise OSError("close failed")
            super().close()

    c = _Closer()
    r = _reader(b"abc", inner=BadClose(b"abc"), closers=(c,))
    with pytest.raises(OSError, match="close failed"):
        r.close()
    assert c.closed == 1
    assert r.closed


def test_context_manager_closes() -> None:
    inner = io.BytesIO(b"abc")
    with _reader(b"abc", inner=inner) as r:
        assert r.read() == b"abc"
    assert inner.closed
