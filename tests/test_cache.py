"""The local read cache (artifactstore.cache.BlobCache) and `artifactstore cache info|clear`."""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing as mp
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

from artifactstore.cache import (
    DEFAULT_MAX_BYTES,
    BlobCache,
    default_cache_dir,
    default_max_bytes,
    parse_size,
    resolve_cache,
)
from artifactstore.cli.commands_cache import cache_clear_cmd, cache_group, cache_info_cmd, register
from artifactstore.errors import IntegrityError, InvalidInputError


def key_of(data: bytes, suffix: str = "") -> str:
    h = hashlib.sha256(data).hexdigest()
    return f"blobs/sha256/{h[:2]}/{h}{suffix}"


class Source:
    """A fake remote: fetch writes the blob, counting calls; verify checks the SHA-256 in the key."""

    def __init__(self, blobs: dict[str, bytes] | None = None) -> None:
        self.blobs = dict(blobs or {})
        self.fetches: list[str] = []

    def add(self, data: bytes) -> str:
        k = key_of(data)
        self.blobs[k] = data
        return k

    def fetch(self, key: str) -> Callable[[Path], None]:
        def f(path: Path) -> None:
            self.fetches.append(key)
            path.write_bytes(self.blobs[key])

        return f

    @staticmethod
    def verify(key: str) -> Callable[[Path], None]:
        def v(path: Path) -> None:
            actual = hashlib.sha256(path.read_bytes()).hexdigest()
            if actual != key.rsplit("/", 1)[-1]:
                raise IntegrityError("test", key, actual)

        return v

    def read(self, cache: BlobCache, key: str, **kw: Any) -> bytes:
        with cache.open(key, self.fetch(key), self.verify(key), **kw) as f:
            return f.read()


def files_under(path: Path) -> list[str]:
    return sorted(p.name for p in path.rglob("*") if p.is_file())


def entry_names(cache: BlobCache) -> set[str]:
    return set(files_under(cache.root / "data"))


# --- basics ----------------------------------------------------------------------------------


def test_second_open_is_a_hit_and_does_not_fetch(tmp_path: Path) -> None:
    cache = BlobCache(tmp_path / "c", 1 << 20)
    src = Source()
    k = src.add(b"hello" * 100)
    assert not cache.contains(k)
    assert src.read(cache, k) == b"hello" * 100
    assert src.fetches == [k]
    assert cache.contains(k)
    for _ in range(3):
        with cache.open(k, lambda _p: pytest.fail("fetch on a hit"), lambda _p: pytest.fail("verify on a hit")) as f:
            assert f.seekable()
            f.seek(5)
            assert f.read(5) == b"hello"
    info = cache.info()
    assert (info["hits"], info["misses"], info["entries"], info["bytes"]) == (3, 1, 1, 500)
    # the entry sits under a path derived from its key, read-only
    p = cache.path_for(k)
    assert p == tmp_path / "c" / "data" / Path(k)
    assert p.stat().st_mode & 0o222 == 0
    assert (tmp_path / "c" / "CACHEDIR.TAG").read_text().startswith("Signature: 8a477f597d28d172789f06886806bc55")


def test_hit_refreshes_recency(tmp_path: Path) -> None:
    cache = BlobCache(tmp_path / "c", 1 << 20)
    src = Source()
    k = src.add(b"x" * 10)
    src.read(cache, k)
    old = time.time_ns() - 3600 * 10**9
    os.utime(cache.path_for(k), ns=(old, old))
    src.read(cache, k)
    assert cache.path_for(k).stat().st_mtime_ns > old + 3000 * 10**9


def test_lru_eviction_order_and_byte_bound(tmp_path: Path) -> None:
    cache = BlobCache(tmp_path / "c", 100)  # low_water 0.9: evict down to 90 bytes
    src = Source()
    a, b, c, d, e = (src.add(ch.encode() * 30) for ch in "abcde")
    for k in (a, b, c):
        src.read(cache, k)
    assert cache.info()["bytes"] == 90
    src.read(cache, a)  # a is now the most recently used; b the least
    src.read(cache, d)  # 120 > 100: evict b -> 90
    assert {k for k in (a, b, c, d) if cache.contains(k)} == {a, c, d}
    assert cache.info()["bytes"] == 90
    src.read(cache, e)  # c is now the least recently used
    assert {k for k in (a, b, c, d, e) if cache.contains(k)} == {a, d, e}
    src.fetches.clear()
    assert src.read(cache, b) == b"b" * 30  # evicted: fetched again
    assert src.fetches == [b]
    info = cache.info()
    assert info["bytes"] <= 100 and info["evictions"] == 3
    assert info["bytes"] == sum(p.stat().st_size for p in (tmp_path / "c" / "data").rglob("*") if p.is_file())


def test_eviction_goes_down_to_the_low_water_mark(tmp_path: Path) -> None:
    cache = BlobCache(tmp_path / "c", 1000, low_water=0.5)
    src = Source()
    keys = [src.add(bytes([i]) * 100) for i in range(10)]
    for k in keys:
        src.read(cache, k)
    assert cache.info()["bytes"] == 1000  # at the bound, not over it: nothing evicted yet
    extra = src.add(b"z" * 100)
    src.read(cache, extra)  # 1100 > 1000: evict the 6 oldest, down to 500
    assert [cache.contains(k) for k in keys] == [False] * 6 + [True] * 4
    assert cache.contains(extra) and cache.info()["bytes"] == 500


def test_entry_just_filled_is_never_evicted(tmp_path: Path) -> None:
    cache = BlobCache(tmp_path / "c", 100)
    src = Source()
    small, big = src.add(b"s" * 40), src.add(b"B" * 95)
    src.read(cache, small)
    with cache.open(big, src.fetch(big), src.verify(big)) as f:
        assert f.read() == b"B" * 95
    assert cache.contains(big) and not cache.contains(small)
    assert cache.info()["bytes"] == 95


def test_blob_larger_than_the_bound_is_not_cached(tmp_path: Path) -> None:
    cache = BlobCache(tmp_path / "c", 100)
    src = Source()
    kept, huge = src.add(b"k" * 50), src.add(b"H" * 1000)
    src.read(cache, kept)
    with cache.open(huge, src.fetch(huge), src.verify(huge)) as f:
        assert not cache.contains(huge)
        assert files_under(tmp_path / "c" / "tmp") == []  # already unlinked: freed on close
        assert f.read() == b"H" * 1000
    assert src.read(cache, huge) == b"H" * 1000
    assert src.fetches.count(huge) == 2
    info = cache.info()
    assert cache.contains(kept) and info["bytes"] == 50 and info["oversize"] == 2
    # max_bytes=0 caches nothing and still serves reads
    zero = BlobCache(tmp_path / "z", 0)
    assert src.read(zero, kept) == b"k" * 50
    assert entry_names(zero) == set() and files_under(tmp_path / "z" / "tmp") == []


def test_failing_verify_leaves_nothing_and_raises(tmp_path: Path) -> None:
    cache = BlobCache(tmp_path / "c", 1 << 20)
    k = key_of(b"right")

    def fetch_wrong(p: Path) -> None:
        p.write_bytes(b"wrong")

    with pytest.raises(IntegrityError):
        cache.open(k, fetch_wrong, Source.verify(k))
    assert not cache.contains(k)
    assert files_under(tmp_path / "c" / "data") == [] and files_under(tmp_path / "c" / "tmp") == []
    assert files_under(tmp_path / "c" / "locks") == []
    assert cache.info()["bytes"] == 0
    # a later read with a good source fills normally
    assert Source({k: b"right"}).read(cache, k) == b"right"


def test_failing_fetch_leaves_nothing_and_raises(tmp_path: Path) -> None:
    cache = BlobCache(tmp_path / "c", 1 << 20)
    k = key_of(b"data")

    def fetch_dies(p: Path) -> None:
        p.write_bytes(b"da")
        raise ConnectionError("network down")

    with pytest.raises(ConnectionError):
        cache.open(k, fetch_dies, Source.verify(k))
    with pytest.raises(FileNotFoundError):
        cache.open(k, lambda p: (_ for _ in ()).throw(FileNotFoundError(k)), Source.verify(k))
    for sub in ("data", "tmp", "locks"):
        assert files_under(tmp_path / "c" / sub) == []


def test_vanished_entry_is_fetched_again(tmp_path: Path) -> None:
    cache = BlobCache(tmp_path / "c", 1 << 20)
    src = Source()
    k = src.add(b"v" * 64)
    src.read(cache, k)
    os.unlink(cache.path_for(k))  # evicted by someone else between two reads
    assert src.read(cache, k) == b"v" * 64
    assert src.fetches == [k, k]
    assert cache.info()["bytes"] == 64


def test_entry_of_the_wrong_size_is_dropped_and_fetched_again(tmp_path: Path) -> None:
    cache = BlobCache(tmp_path / "c", 1 << 20)
    src = Source()
    k = src.add(b"t" * 64)
    src.read(cache, k, size=64)
    p = cache.path_for(k)
    p.chmod(0o644)
    with open(p, "r+b") as f:  # truncated on disk
        f.truncate(10)
    assert src.read(cache, k, size=64) == b"t" * 64
    assert src.fetches == [k, k]
    assert p.stat().st_size == 64 and cache.info()["bytes"] == 64


def test_discard_removes_an_entry(tmp_path: Path) -> None:
    cache = BlobCache(tmp_path / "c", 1 << 20)
    src = Source()
    k = src.add(b"d" * 32)
    src.read(cache, k)
    assert cache.discard(k) is True
    assert cache.discard(k) is False
    assert not cache.contains(k) and cache.info()["bytes"] == 0


@pytest.mark.parametrize("bad", ["", "/etc/passwd", "../x", "a/../../b", "a//b", ".hidden/x", "a/./b", "a\\b", "a\0b"])
def test_invalid_keys_are_refused(tmp_path: Path, bad: str) -> None:
    cache = BlobCache(tmp_path / "c", 100)
    with pytest.raises(InvalidInputError):
        cache.open(bad, lambda _p: pytest.fail("fetched"), lambda _p: None)


def test_clear_and_info(tmp_path: Path) -> None:
    root = tmp_path / "c"
    cache = BlobCache(root, 1 << 20)
    src = Source()
    keys = [src.add(bytes([i]) * (i + 1)) for i in range(5)]
    for k in keys:
        src.read(cache, k)
    (root / "notes.txt").write_text("not the cache's")  # someone else's file in the folder
    info = cache.info()
    assert info == {"path": str(root), "entries": 5, "bytes": 15, "max_bytes": 1 << 20, "hits": 0, "misses": 5,
                    "evictions": 0, "oversize": 0, "temp_files": 0}
    with cache.open(keys[4], src.fetch(keys[4]), src.verify(keys[4])) as f:
        assert cache.clear() == 15
        assert f.read() == bytes([4]) * 5  # open readers keep reading
    assert cache.info()["entries"] == 0 and cache.info()["bytes"] == 0
    assert (root / "notes.txt").exists() and list((root / "data").iterdir()) == []
    assert cache.clear() == 0
    src.read(cache, keys[0])
    assert cache.info()["bytes"] == 1


def test_instances_on_one_folder_share_counters(tmp_path: Path) -> None:
    src = Source()
    k = src.add(b"shared")
    one, two = BlobCache(tmp_path / "c", 100), BlobCache(tmp_path / "c", 100)
    src.read(one, k)
    src.read(two, k)
    assert (one.hits, one.misses) == (two.hits, two.misses) == (1, 1)


def test_counter_resyncs_after_outside_changes(tmp_path: Path) -> None:
    root = tmp_path / "c"
    cache = BlobCache(root, 100)
    src = Source()
    keys = [src.add(bytes([i]) * 30) for i in range(3)]
    for k in keys:
        src.read(cache, k)
    (root / "lock").write_bytes(b"garbage")  # torn counter: recounted from the entries
    big = src.add(b"n" * 30)
    src.read(cache, big)
    assert cache.info()["bytes"] <= 100
    for p in (root / "data").rglob("*"):  # entries deleted behind its back
        if p.is_file():
            p.unlink()
    for i in range(10):
        src.read(cache, src.add(bytes([100 + i]) * 30))
        assert sum(p.stat().st_size for p in (root / "data").rglob("*") if p.is_file()) <= 100
    assert cache.info()["bytes"] == 90


def test_orphaned_temp_files_are_swept_but_not_fills_in_flight(tmp_path: Path) -> None:
    import fcntl

    root = tmp_path / "c"
    cache = BlobCache(root, 1 << 20)
    orphan = root / "tmp" / "123-dead.part"
    orphan.write_bytes(b"o" * 10)
    busy = root / "tmp" / "456-busy.part"
    busy.write_bytes(b"b" * 10)
    with open(busy, "rb") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)
        assert cache.info()["temp_files"] == 2
        assert cache.clear() == 10
        assert busy.exists() and not orphan.exists()
    # an old unlocked temp file is swept by the eviction that follows a fill over the bound
    small = BlobCache(root, 10)
    old = time.time() - 2 * small.orphan_seconds
    os.utime(busy, (old, old))
    src = Source()
    for i in range(2):
        src.read(small, src.add(bytes([i]) * 6))
    assert not busy.exists()


def test_threads_missing_one_key_fetch_it_once(tmp_path: Path) -> None:
    cache = BlobCache(tmp_path / "c", 1 << 20)
    data = os.urandom(1 << 16)
    k = key_of(data)
    calls: list[int] = []
    results: list[bytes] = []
    barrier = threading.Barrier(8)

    def fetch(p: Path) -> None:
        calls.append(1)
        time.sleep(0.1)
        p.write_bytes(data)

    def worker() -> None:
        barrier.wait()
        with cache.open(k, fetch, Source.verify(k)) as f:
            results.append(f.read())

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [data] * 8 and len(calls) == 1
    assert (cache.hits, cache.misses) == (7, 1)


# --- several processes -----------------------------------------------------------------------


def _proc_fill(root: str, key: str, data: bytes, log: str, barrier: Any, q: Any) -> None:
    cache = BlobCache(root, 1 << 20)

    def fetch(p: Path) -> None:
        with open(log, "a") as f:
            f.write(f"{os.getpid()}\n")
        with open(p, "wb") as f:  # slowly, so the other processes arrive mid-fill
            for i in range(0, len(data), 4096):
                f.write(data[i:i + 4096])
                time.sleep(0.001)

    barrier.wait()
    with cache.open(key, fetch, Source.verify(key)) as f:
        q.put(hashlib.sha256(f.read()).hexdigest())


def test_four_processes_filling_one_key_end_with_one_entry(tmp_path: Path) -> None:
    root = tmp_path / "c"
    data = os.urandom(200 << 10)
    k = key_of(data)
    log = tmp_path / "fetches.log"
    log.touch()
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(4)
    q = ctx.Queue()
    procs = [ctx.Process(target=_proc_fill, args=(str(root), k, data, str(log), barrier, q)) for _ in range(4)]
    for p in procs:
        p.start()
    digests = [q.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    assert digests == [hashlib.sha256(data).hexdigest()] * 4
    assert len(log.read_text().split()) == 1  # the others waited for the first fill
    assert entry_names(BlobCache(root, 1 << 20)) == {k.rsplit("/", 1)[-1]}
    assert BlobCache(root, 1 << 20).path_for(k).read_bytes() == data
    assert files_under(root / "tmp") == [] and files_under(root / "locks") == []
    assert BlobCache(root, 1 << 20).info()["bytes"] == len(data)


def _proc_hold_open(root: str, key: str, opened: Any, evicted: Any, q: Any) -> None:
    cache = BlobCache(root, 1 << 20)
    with cache.open(key, lambda _p: None, lambda _p: None) as f:
        head = f.read(10)
        opened.set()
        assert evicted.wait(60)
        q.put(head + f.read())


def test_entry_evicted_while_another_process_reads_it_stays_readable(tmp_path: Path) -> None:
    root = tmp_path / "c"
    cache = BlobCache(root, 1 << 20)
    src = Source()
    data = os.urandom(1 << 20)
    k = src.add(data)
    src.read(cache, k)
    ctx = mp.get_context("spawn")
    opened, evicted, q = ctx.Event(), ctx.Event(), ctx.Queue()
    p = ctx.Process(target=_proc_hold_open, args=(str(root), k, opened, evicted, q))
    p.start()
    assert opened.wait(60)
    # evict it by filling past the bound from this process
    tight = BlobCache(root, (1 << 20) + 100)
    src.read(tight, src.add(b"e" * 200))
    assert not tight.contains(k)
    evicted.set()
    assert q.get(timeout=60) == data
    p.join(30)
    assert p.exitcode == 0


def _proc_churn(root: str, seed: int, n: int, q: Any) -> None:
    import random

    rng = random.Random(seed)
    cache = BlobCache(root, 4000)
    blobs = {key_of(bytes([i]) * (200 + 50 * i)): bytes([i]) * (200 + 50 * i) for i in range(20)}
    keys = sorted(blobs)
    src = Source(blobs)
    bad = 0
    for _ in range(n):
        k = rng.choice(keys)
        if src.read(cache, k) != blobs[k]:
            bad += 1
    q.put((bad, cache.hits, cache.misses))


def test_four_processes_churning_a_small_cache_keep_it_bounded_and_correct(tmp_path: Path) -> None:
    root = tmp_path / "c"
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    procs = [ctx.Process(target=_proc_churn, args=(str(root), s, 300, q)) for s in range(4)]
    for p in procs:
        p.start()
    results = [q.get(timeout=300) for _ in procs]
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    assert [r[0] for r in results] == [0] * 4
    assert sum(r[1] for r in results) > 0 and sum(r[2] for r in results) > 0
    on_disk = sum(p.stat().st_size for p in (root / "data").rglob("*") if p.is_file())
    assert on_disk <= 4000
    assert BlobCache(root, 4000).info()["bytes"] == on_disk
    assert files_under(root / "tmp") == [] and files_under(root / "locks") == []


# --- a real remote backend -------------------------------------------------------------------


def test_second_read_from_s3_does_not_touch_the_network(tmp_path: Path, s3_url: Any) -> None:
    from artifactstore.backends.fsspec_backend import FsspecBackend

    backend = FsspecBackend(s3_url.url, **s3_url.storage_options)
    try:
        data = os.urandom(3 << 20)
        k = key_of(data, ".zst")
        backend.write_bytes(k, data)
        calls: dict[str, int] = {}
        for name in ("download_file", "open_read", "read_bytes", "read_range", "exists", "info", "list"):
            real = getattr(backend, name)

            def counted(*a: Any, _real: Any = real, _name: str = name, **kw: Any) -> Any:
                calls[_name] = calls.get(_name, 0) + 1
                return _real(*a, **kw)

            setattr(backend, name, counted)
        cache = BlobCache(tmp_path / "c", 1 << 30)

        def fetch(p: Path) -> None:
            backend.download_file(k, p)

        def verify(p: Path) -> None:
            if hashlib.sha256(p.read_bytes()).hexdigest() != hashlib.sha256(data).hexdigest():
                raise IntegrityError("s3", "expected", "actual")

        with cache.open(k, fetch, verify, size=len(data)) as f:
            assert f.read() == data
        assert calls == {"download_file": 1}
        for _ in range(2):
            with cache.open(k, fetch, verify, size=len(data)) as f:
                assert f.read() == data
        assert calls == {"download_file": 1}
        assert (cache.hits, cache.misses) == (2, 1)
        # a key the bucket lacks: the backend's FileNotFoundError comes through, nothing cached
        missing = key_of(b"absent")
        with pytest.raises(FileNotFoundError):
            cache.open(missing, lambda p: backend.download_file(missing, p), verify)
        assert not cache.contains(missing) and files_under(tmp_path / "c" / "tmp") == []
    finally:
        backend.close()


# --- configuration ---------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("0", 0), ("1048576", 1 << 20), ("500M", 500 << 20), ("2G", 2 << 30), ("2g", 2 << 30), ("10GiB", 10 << 30),
    ("1.5G", 3 << 29), ("64k", 64 << 10), ("100MB", 100_000_000), ("1 TiB", 1 << 40), ("512b", 512), (42, 42),
])
def test_parse_size(text: str | int, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize("bad", ["", "-1", "ten", "5X", "1.2.3G", "G", -5, 1.5, True])
def test_parse_size_rejects(bad: Any) -> None:
    with pytest.raises(InvalidInputError):
        parse_size(bad)


def test_defaults_from_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("ARTIFACTSTORE_CACHE_DIR", raising=False)
    monkeypatch.delenv("ARTIFACTSTORE_CACHE_MAX_BYTES", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "artifactstore" / "blobs"
    assert default_max_bytes() == DEFAULT_MAX_BYTES == 10 << 30
    monkeypatch.setenv("ARTIFACTSTORE_CACHE_DIR", str(tmp_path / "mine"))
    monkeypatch.setenv("ARTIFACTSTORE_CACHE_MAX_BYTES", "500M")
    cache = BlobCache.from_env()
    assert (cache.root, cache.max_bytes) == (tmp_path / "mine", 500 << 20)
    monkeypatch.setenv("ARTIFACTSTORE_CACHE_MAX_BYTES", "lots")
    with pytest.raises(InvalidInputError, match="ARTIFACTSTORE_CACHE_MAX_BYTES"):
        default_max_bytes()


def test_resolve_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("ARTIFACTSTORE_CACHE_DIR", str(tmp_path / "default"))
    monkeypatch.delenv("ARTIFACTSTORE_CACHE_MAX_BYTES", raising=False)
    on = resolve_cache(None, remote=True)
    assert on is not None and on.root == tmp_path / "default" and on.max_bytes == DEFAULT_MAX_BYTES
    assert resolve_cache(None, remote=False) is None
    assert resolve_cache(False, remote=True) is None
    forced = resolve_cache(True, remote=False)
    assert forced is not None and forced.root == tmp_path / "default"
    mine = BlobCache(tmp_path / "x", 5)
    assert resolve_cache(mine, remote=True) is mine
    by_path = resolve_cache(tmp_path / "p", remote=True)
    assert by_path is not None and by_path.root == tmp_path / "p"
    with pytest.raises(InvalidInputError):
        resolve_cache(3, remote=True)  # type: ignore[arg-type]
    monkeypatch.setenv("ARTIFACTSTORE_CACHE_MAX_BYTES", "0")
    assert resolve_cache(None, remote=True) is None
    # a default folder that cannot be created: no cache and a warning, never a failed read
    monkeypatch.delenv("ARTIFACTSTORE_CACHE_MAX_BYTES")
    (tmp_path / "file").write_text("a file, not a folder")
    monkeypatch.setenv("ARTIFACTSTORE_CACHE_DIR", str(tmp_path / "file" / "cache"))
    with caplog.at_level(logging.WARNING, logger="artifactstore"):
        assert resolve_cache(None, remote=True) is None
    assert "local read cache disabled" in caplog.text


def test_constructor_rejects_bad_bounds(tmp_path: Path) -> None:
    for bad in (-1, 1.5, "10G", True):
        with pytest.raises(InvalidInputError):
            BlobCache(tmp_path / "c", bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError):
        BlobCache(tmp_path / "c", 10, low_water=0)


# --- CLI -------------------------------------------------------------------------------------


def test_cli_info_and_clear(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "c"
    cache = BlobCache(root, 1 << 20)
    src = Source()
    for i in range(3):
        src.read(cache, src.add(bytes([i]) * 1000))
    monkeypatch.setenv("ARTIFACTSTORE_CACHE_MAX_BYTES", "2M")
    runner = CliRunner()

    res = runner.invoke(cache_info_cmd, ["--cache-dir", str(root), "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert (data["path"], data["entries"], data["bytes"], data["max_bytes"]) == (str(root), 3, 3000, 2 << 20)

    res = runner.invoke(cache_info_cmd, ["--cache-dir", str(root)])
    assert res.exit_code == 0, res.output
    assert "path:" in res.output and str(root) in res.output
    assert "entries:" in res.output and "2.9 KiB (3000 bytes)" in res.output and "2.0 MiB" in res.output

    res = runner.invoke(cache_clear_cmd, ["--cache-dir", str(root), "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output) == {"path": str(root), "entries_removed": 3, "freed_bytes": 3000}
    assert cache.info()["entries"] == 0

    # through a group, as `artifactstore cache ...`, with the folder from the environment
    group = click.Group()
    register(group)
    assert group.commands["cache"] is cache_group
    monkeypatch.setenv("ARTIFACTSTORE_CACHE_DIR", str(root))
    src.read(cache, src.add(b"again"))
    res = runner.invoke(group, ["cache", "clear"])
    assert res.exit_code == 0, res.output
    assert res.output.strip() == f"cleared {root}: 1 blobs, 5 B freed"
    res = runner.invoke(group, ["cache", "info", "--json"])
    assert json.loads(res.output)["entries"] == 0
