"""Built-in codecs: the conformance suite for each, property tests, interoperability, auto detection."""

from __future__ import annotations

import gzip
import io
import itertools
import os
import random
import subprocess
import sys
import tarfile
import threading
import zipfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import artifactstore
from artifactstore import hookimpl
from artifactstore.codecs import (
    SNIFF_BYTES,
    Codec,
    GzipCodec,
    NoneCodec,
    TarGzCodec,
    ZipCodec,
    ZstdCodec,
    choose_auto_codec,
    sniff_format,
)
from artifactstore.codecs.zstd_codec import DEFAULT_LEVEL, DEFAULT_THREADS
from artifactstore.errors import CorruptDataError, IntegrityError, InvalidNameError, PluginError, UnknownCodecError
from artifactstore.hookspecs import Registrar
from artifactstore.plugins import PluginRegistry, build_registry
from artifactstore.testing.codecs import CodecTests, WriteOnlySink, compressible_bytes, decode, encode, random_bytes

# --- the conformance suite, once per built-in codec ------------------------------------------


class TestNoneCodec(CodecTests):
    detects_corruption = False  # the identity has no checksum; the store's SHA-256 catches damage

    @pytest.fixture
    def codec(self) -> Codec:
        return NoneCodec()


class TestGzipCodec(CodecTests):
    @pytest.fixture
    def codec(self) -> Codec:
        return GzipCodec()


class TestZstdCodec(CodecTests):
    @pytest.fixture
    def codec(self) -> Codec:
        return ZstdCodec()


class TestZstdCodecSingleThreaded(CodecTests):
    @pytest.fixture
    def codec(self) -> Codec:
        return ZstdCodec(level=3, threads=0)


class TestZipCodec(CodecTests):
    @pytest.fixture
    def codec(self) -> Codec:
        return ZipCodec()


class TestTarGzCodec(CodecTests):
    @pytest.fixture
    def codec(self) -> Codec:
        return TarGzCodec()


# --- registration -----------------------------------------------------------------------------

BUILTIN: dict[str, type[Codec]] = {
    "none": NoneCodec,
    "gzip": GzipCodec,
    "zstd": ZstdCodec,
    "zip": ZipCodec,
    "tar.gz": TarGzCodec,
}


def _registry() -> PluginRegistry:
    return build_registry(defaults=("artifactstore.default_plugins.codecs",), autoload=False)


def test_builtin_codecs_register_through_the_hook() -> None:
    reg = _registry()
    assert set(BUILTIN) <= set(reg.names("codec"))
    for name, cls in BUILTIN.items():
        r = reg.get("codec", name)
        assert r is not None
        assert r.plugin == "artifactstore.default_plugins.codecs"
        assert r.distribution == "artifactstore"
        assert r.description
        codec = r.factory()
        assert isinstance(codec, cls)
        assert codec.name == name, "the registered name is the codec's name"


def test_suffixes_and_flags() -> None:
    assert [BUILTIN[n].suffix for n in BUILTIN] == ["", ".gz", ".zst", ".zip", ".tar.gz"]
    assert TarGzCodec.needs_size and not TarGzCodec.needs_seekable
    assert ZipCodec.needs_seekable and not ZipCodec.needs_size
    for cls in (NoneCodec, GzipCodec, ZstdCodec):
        assert not cls.needs_size and not cls.needs_seekable


def test_default_zstd_parameters() -> None:
    codec = ZstdCodec()
    assert (codec.level, codec.threads) == (DEFAULT_LEVEL, DEFAULT_THREADS)
    assert f"level={DEFAULT_LEVEL}" in repr(codec)


@pytest.mark.parametrize(
    ("factory", "kwargs"),
    [(GzipCodec, {"level": 10}), (TarGzCodec, {"level": -1}), (ZstdCodec, {"level": 23}), (ZstdCodec, {"threads": -1})],
)
def test_invalid_parameters(factory: type[Codec], kwargs: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        factory(**kwargs)


# --- property test: any bytes, any chunking, any read size ----------------------------------


@pytest.mark.parametrize("name", list(BUILTIN))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.one_of(st.binary(max_size=5000), st.binary(max_size=40).map(lambda b: b * 500)),
    cuts=st.lists(st.integers(min_value=0, max_value=25_000), max_size=12),
    read_size=st.one_of(st.just(-1), st.integers(min_value=1, max_value=9000)),
)
def test_round_trip_property(name: str, data: bytes, cuts: list[int], read_size: int) -> None:
    codec = BUILTIN[name]()
    sink = WriteOnlySink()
    enc = codec.encoder(sink, size=len(data), member_name="x.bin")
    bounds = [0, *sorted(c for c in cuts if c <= len(data)), len(data)]
    for a, b in itertools.pairwise(bounds):
        enc.write(data[a:b])  # includes empty writes where cuts repeat
    enc.finish()
    assert decode(codec, sink.getvalue(), read_size=read_size) == data


# --- interoperability: standard tools read our blobs ---------------------------------------


DATA = compressible_bytes(300_000, seed=1) + random_bytes(50_000, seed=2)


def test_gzip_blob_is_standard_gzip() -> None:
    encoded = encode(GzipCodec(), DATA)
    assert gzip.decompress(encoded) == DATA
    assert encoded[4:8] == b"\0\0\0\0", "mtime 0: the same input gives the same blob"
    assert encoded == encode(GzipCodec(), DATA, chunk_sizes=(777,))


def test_gzip_decoder_reads_concatenated_members_and_stdlib_output() -> None:
    stdlib = gzip.compress(DATA[:1000], mtime=0) + gzip.compress(DATA[1000:], compresslevel=1)
    assert decode(GzipCodec(), stdlib) == DATA


def test_zstd_blob_is_standard_zstd_with_checksum_and_size() -> None:
    encoded = encode(ZstdCodec(), DATA)
    params = zstandard.get_frame_parameters(encoded)
    assert params.has_checksum
    assert params.content_size == len(DATA)
    assert zstandard.ZstdDecompressor().decompress(encoded) == DATA
    # Each frame is compressed whole, so its header has its size even when the store does not know it.
    sized = zstandard.get_frame_parameters(encode(ZstdCodec(), DATA, with_size=False))
    assert sized.content_size == len(DATA)


def test_zstd_decoder_reads_concatenated_and_skippable_frames() -> None:
    c = zstandard.ZstdCompressor(write_checksum=True)
    skippable = (0x184D2A53).to_bytes(4, "little") + (5).to_bytes(4, "little") + b"hello"
    stream = c.compress(DATA[:1000]) + skippable + c.compress(DATA[1000:])
    assert decode(ZstdCodec(), stream, read_size=4096) == DATA


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda e: b"", id="empty"),
        pytest.param(lambda e: e + b"junk", id="trailing-junk"),
        pytest.param(lambda e: e[:-4], id="no-checksum"),
        pytest.param(lambda e: b"\x00" * 16 + e, id="bad-magic"),
    ],
)
@pytest.mark.parametrize("codec", [GzipCodec(), ZstdCodec()], ids=["gzip", "zstd"])
def test_damaged_stream_raises(codec: Codec, damage: Callable[[bytes], bytes]) -> None:
    bad = damage(encode(codec, DATA))
    with pytest.raises(CorruptDataError) as ei:
        decode(codec, bad)
    assert ei.value.codec == codec.name and isinstance(ei.value, IntegrityError)


def test_zip_blob_is_a_standard_one_member_archive() -> None:
    encoded = encode(ZipCodec(), DATA, member_name="episodes.csv")
    with zipfile.ZipFile(io.BytesIO(encoded)) as zf:
        assert zf.testzip() is None
        (info,) = zf.infolist()
        assert info.filename == "episodes.csv"
        assert info.compress_type == zipfile.ZIP_DEFLATED
        assert info.flag_bits & 0x08, "written with a data descriptor: the encoder never seeks"
        assert zf.read(info) == DATA


def test_zip_decoder_rejects_several_members() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("a.txt", b"a")
        zf.writestr("b.txt", b"b")
    with pytest.raises(CorruptDataError, match="exactly one"):
        decode(ZipCodec(), buf.getvalue())


def test_targz_blob_is_a_standard_one_member_archive() -> None:
    encoded = encode(TarGzCodec(), DATA, member_name="episodes.csv")
    with tarfile.open(fileobj=io.BytesIO(encoded), mode="r:gz") as tf:
        (info,) = tf.getmembers()
        assert info.name == "episodes.csv" and info.isreg() and info.size == len(DATA)
        member = tf.extractfile(info)
        assert member is not None and member.read() == DATA
    assert len(gzip.decompress(encoded)) % tarfile.RECORDSIZE == 0


def test_targz_member_name_may_be_long_and_non_ascii() -> None:
    name = "épisode-" + "x" * 150 + ".csv"
    encoded = encode(TarGzCodec(), b"abc", member_name=name)
    with tarfile.open(fileobj=io.BytesIO(encoded), mode="r:gz") as tf:
        assert tf.getnames() == [name]
    assert decode(TarGzCodec(), encoded) == b"abc"


def _tar_gz(*members: tarfile.TarInfo, data: bytes = b"") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for m in members:
            tf.addfile(m, io.BytesIO(data) if m.isreg() else None)
    return buf.getvalue()


@pytest.mark.parametrize("kind", [tarfile.SYMTYPE, tarfile.DIRTYPE, tarfile.LNKTYPE, tarfile.CHRTYPE])
def test_targz_decoder_rejects_a_first_member_that_is_not_a_regular_file(kind: bytes) -> None:
    info = tarfile.TarInfo("link")
    info.type = kind
    info.linkname = "/etc/passwd"
    with pytest.raises(CorruptDataError, match="not a regular file"):
        decode(TarGzCodec(), _tar_gz(info))


def test_targz_decoder_rejects_several_members_and_empty_archives() -> None:
    a, b = tarfile.TarInfo("a"), tarfile.TarInfo("b")
    a.size = b.size = 3
    with pytest.raises(CorruptDataError, match="more than one member"):
        decode(TarGzCodec(), _tar_gz(a, b, data=b"abc"))
    with pytest.raises(CorruptDataError, match="no member"):
        decode(TarGzCodec(), _tar_gz())


def test_targz_encoder_needs_the_size() -> None:
    with pytest.raises(ValueError, match="size"):
        TarGzCodec().encoder(WriteOnlySink(), size=None, member_name="a.csv")


@pytest.mark.parametrize("codec", [ZipCodec(), TarGzCodec()], ids=["zip", "tar.gz"])
@pytest.mark.parametrize("bad", ["", "../evil", "a/b", "a\\b", "..", "nul\x00"])
def test_archive_member_name_must_be_a_base_name(codec: Codec, bad: str) -> None:
    with pytest.raises(InvalidNameError):
        codec.encoder(WriteOnlySink(), size=1, member_name=bad)


def test_encoders_refuse_writes_after_finish() -> None:
    for cls in BUILTIN.values():
        enc = cls().encoder(WriteOnlySink(), size=0, member_name="a")
        enc.finish()
        enc.finish()  # a second finish is harmless
        with pytest.raises(ValueError):
            enc.write(b"x")


def test_zstd_encoders_in_many_threads_do_not_share_state() -> None:
    # Many encoders of one codec instance, interleaving writes under a barrier.
    codec = ZstdCodec()
    n = 4
    barrier = threading.Barrier(n)
    results: dict[int, bytes] = {}

    def run(i: int) -> None:
        data = compressible_bytes(400_000, seed=100 + i)
        sink = WriteOnlySink()
        enc = codec.encoder(sink, size=len(data), member_name="x")
        for start in range(0, len(data), 50_000):
            barrier.wait()
            enc.write(data[start : start + 50_000])
        enc.finish()
        results[i] = decode(codec, sink.getvalue())

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(results[i] == compressible_bytes(400_000, seed=100 + i) for i in range(n))


# --- native memory: tracemalloc does not see what zstd allocates in C -----------------------

_RSS_SCRIPT = """
import sys
from artifactstore.codecs import ZstdCodec
from artifactstore.testing.codecs import compressible_bytes, random_bytes

def peak_kib():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))

text, noise = compressible_bytes(1 << 20, seed=1), random_bytes(2 << 20, seed=2)
codec = ZstdCodec()
class Sink:
    def write(self, data):
        return len(data)
before = peak_kib()
enc = codec.encoder(Sink(), size=None, member_name="x")
for i in range(256):
    enc.write(text if i % 2 else noise[i % 1024 : i % 1024 + (1 << 20)])
enc.finish()
print(peak_kib() - before)
"""


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="reads the peak RSS from /proc")
def test_zstd_native_memory_is_bounded_for_256_mib() -> None:
    out = subprocess.run([sys.executable, "-c", _RSS_SCRIPT], capture_output=True, text=True, check=True).stdout
    growth_mib = int(out) / 1024
    assert growth_mib < 64, f"peak RSS grew by {growth_mib:.0f} MiB while streaming 256 MiB through zstd"


# --- auto detection ------------------------------------------------------------------------

CSV = compressible_bytes(SNIFF_BYTES, seed=3)
NOISE = random_bytes(SNIFF_BYTES, seed=4)

MAGIC_SAMPLES = {
    "mp4": b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00",
    "mov": b"\x00\x00\x00\x14ftypqt  \x00\x00\x00\x00",
    "webm": b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81",
    "avi": b"RIFF\x00\x10\x00\x00AVI LIST",
    "webp": b"RIFF\x00\x10\x00\x00WEBPVP8 ",
    "png": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
    "jpeg": b"\xff\xd8\xff\xe0\x00\x10JFIF",
    "gif": b"GIF89a\x01\x00\x01\x00",
    "gzip": gzip.compress(b"x", mtime=0),
    "zstd": zstandard.ZstdCompressor().compress(b"x"),
    "xz": b"\xfd7zXZ\x00\x00\x04",
    "bz2": b"BZh91AY&SY\x00\x00",
    "7z": b"7z\xbc\xaf\x27\x1c\x00\x04",
    "lz4": b"\x04\x22\x4d\x18\x64\x40\xa7",
    "rar": b"Rar!\x1a\x07\x01\x00",
    "parquet": b"PAR1\x15\x04\x15",
}


@pytest.mark.parametrize("fmt", list(MAGIC_SAMPLES))
def test_magic_bytes_mean_none_even_when_the_rest_compresses(fmt: str) -> None:
    # Magic followed by very compressible bytes: only the magic path can say "none".
    sample = MAGIC_SAMPLES[fmt] + bytes(SNIFF_BYTES)
    assert sniff_format(sample) is not None
    assert choose_auto_codec(sample, "file.bin") == "none"


def _zip_bytes(compression: int, payload: bytes) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=compression) as zf:
        zf.writestr("arr_0.npy", payload)
    return buf.getvalue()


def test_zip_deflated_is_none_but_stored_zip_is_judged_by_content() -> None:
    deflated = _zip_bytes(zipfile.ZIP_DEFLATED, CSV)
    assert sniff_format(deflated) == "zip"
    assert choose_auto_codec(deflated, "results.npz") == "none"
    stored = _zip_bytes(zipfile.ZIP_STORED, CSV)  # like numpy.savez: compresses well
    assert sniff_format(stored) is None
    assert choose_auto_codec(stored[:SNIFF_BYTES], "results.npz") == "zstd"


def test_entropy_path_random_bytes_without_magic_are_none() -> None:
    assert sniff_format(NOISE) is None
    assert choose_auto_codec(NOISE, None) == "none"


def test_entropy_path_text_is_zstd() -> None:
    assert sniff_format(CSV) is None
    assert choose_auto_codec(CSV, "episodes.csv") == "zstd"
    jsonl = b"".join(b'{"episode": %d, "reward": %.4f, "success": true}\n' % (i, i / 7) for i in range(2000))
    assert choose_auto_codec(jsonl, "episodes.jsonl") == "zstd"


def test_misleading_extensions_do_not_decide() -> None:
    assert choose_auto_codec(NOISE, "report.json") == "none"
    assert choose_auto_codec(CSV, "video.mp4") == "zstd"
    assert choose_auto_codec(MAGIC_SAMPLES["png"] + bytes(1000), "notes.txt") == "none"


def test_mostly_random_with_a_little_text_is_none() -> None:
    # Below the minimum saving (~5%): not worth compressing.
    sample = NOISE[: SNIFF_BYTES - 1000] + b"a" * 1000
    assert choose_auto_codec(sample, None) == "none"
    sample = NOISE[: SNIFF_BYTES // 2] + bytes(SNIFF_BYTES // 2)
    assert choose_auto_codec(sample, None) == "zstd"


def test_only_the_first_64k_are_sniffed() -> None:
    assert choose_auto_codec(NOISE + CSV * 4, None) == "none"
    assert choose_auto_codec(CSV + NOISE * 4, None) == "zstd"


def test_empty_sample_is_none() -> None:
    assert choose_auto_codec(b"", "empty.csv") == "none"


def test_detection_is_thread_safe() -> None:
    samples = [CSV, NOISE, MAGIC_SAMPLES["png"] + bytes(100)] * 20
    random.Random(0).shuffle(samples)
    expected = [choose_auto_codec(s, None) for s in samples]
    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(lambda s: choose_auto_codec(s, None), samples)) == expected


# --- the registry checks a codec's name --------------------------------------------------


class _MisnamedCodec(GzipCodec):
    name = "gzip-fast"


def _registry_with(name: str, factory: Callable[[], Codec]) -> PluginRegistry:
    class Plugin:
        @hookimpl
        def artifactstore_register_codecs(self, register: Registrar) -> None:
            register(name, factory)

    return build_registry(autoload=False, plugins=[Plugin()])


def test_registry_refuses_a_codec_class_whose_name_differs() -> None:
    with pytest.raises(PluginError) as ei:
        _registry_with("gz2", _MisnamedCodec)
    assert "'gz2'" in str(ei.value) and "'gzip-fast'" in str(ei.value)


def test_registry_refuses_a_codec_factory_whose_instance_name_differs() -> None:
    registry = _registry_with("gz2", lambda: _MisnamedCodec())  # a function: checked when made
    with pytest.raises(PluginError, match=r"registered as 'gz2'.*declares name 'gzip-fast'"):
        registry.codec("gz2")
    assert registry.codec("gzip").name == "gzip"
    with pytest.raises(UnknownCodecError):
        registry.codec("nope")


def test_store_with_misnamed_codec_writes_nothing(tmp_path: Path) -> None:
    registry = _registry_with("gz2", lambda: _MisnamedCodec())
    store = artifactstore.open(tmp_path / "s", registry=registry)
    with pytest.raises(PluginError):
        store.put(b"x" * 1000, artifact_type="log", name="a.log", codec="gz2")
    assert store.count() == 0
