"""The backend conformance suite: the contract tests every storage backend must pass.

Every built-in backend and every third-party backend runs the same tests. A
backend's test module subclasses :class:`BackendTests` and supplies a
``backend`` fixture that returns a :class:`~artifactstore.backends.base.Backend`
on a fresh, empty root::

    import pytest
    from artifactstore.testing.backend import BackendTests
    from my_plugin import WebDavBackend

    class TestWebDavBackend(BackendTests):
        large_size = 8 << 20          # optional: bytes for the large-object test

        @pytest.fixture
        def backend(self, tmp_path):
            b = WebDavBackend(f"webdav://localhost:8080/{tmp_path.name}")
            yield b
            b.close()

        # optional: a second instance on the same root, to check persistence
        def reopen(self, backend):
            return WebDavBackend(backend.url)

What a backend cannot do it declares with its capability flags
(``supports_append``, ``has_mtime``), and the matching tests skip with a reason.
Never disable an inherited test by overriding it with a test that cannot fail.

The suite only uses keys made of characters that are valid in artifact names
(:func:`artifactstore.refs.validate_name`), since names end up in keys.
"""

from __future__ import annotations

import gc
import hashlib
import io
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from ..backends.base import Backend, BlobWriter, ObjectInfo
from ..refs import validate_name

__all__ = ["BackendTests", "ODD_KEYS"]

MiB = 1 << 20

#: Keys with characters that trip up URL quoting, form encoding and path
#: handling, all valid in artifact names.
ODD_KEYS: tuple[str, ...] = (
    "manifests/with space/a b.json",
    "manifests/plus/x+y=z.json",
    "manifests/percent/100% done.txt",
    "manifests/percent/already%20quoted%2B.txt",
    "manifests/unicode/café-ünïcödé-日本語.json",
    "manifests/emoji/🚀 launch.txt",
    "manifests/punct/a,b;c!d'e(1)~f&g$h.txt",
    "manifests/query-like/k?v=1&w=2.txt",
    "manifests/hash/#1 report.txt",
)


class _SourceFailed(Exception):
    """Raised by the test itself to simulate a source that fails mid-stream."""


def _payload(size: int, seed: int = 0) -> bytes:
    """Deterministic, incompressible-looking bytes (fast to generate)."""
    block = hashlib.sha256(f"artifactstore-{seed}".encode()).digest() * 2048  # 64 KiB
    reps, rest = divmod(size, len(block))
    # Vary each 64 KiB block so that a misplaced part is detected.
    parts = [hashlib.sha256(i.to_bytes(8, "big") + block[:32]).digest() + block[32:] for i in range(reps)]
    return b"".join(parts) + block[:rest]


def _commit(backend: Backend, key: str, data: bytes, chunk: int = 256 * 1024) -> BlobWriter:
    w = backend.writer()
    try:
        view = memoryview(data)
        for i in range(0, len(data), chunk):
            w.write(view[i : i + chunk])
        w.commit(key)
    except BaseException:
        w.abort()
        raise
    return w


def _keys(backend: Backend, prefix: str = "") -> set[str]:
    return {o.key for o in backend.list(prefix)}


class BackendTests:
    """Contract tests for :class:`~artifactstore.backends.base.Backend`.

    Subclasses provide the ``backend`` fixture (a backend on a fresh, empty
    root) and may set :attr:`large_size` or override :meth:`reopen`.
    """

    #: Size of the object in the large-object test. Make it larger than the
    #: backend's multipart/block threshold (configure a small part size in the
    #: ``backend`` fixture rather than a huge object here).
    large_size: int = 12 * MiB
    #: Number of threads that commit the same key at once.
    concurrent_writers: int = 8

    @pytest.fixture
    def backend(self) -> Backend:
        raise NotImplementedError(f"{type(self).__name__} must define a `backend` fixture returning a fresh Backend")

    @pytest.fixture
    def large_size_bytes(self) -> int:
        """Fixture form of :attr:`large_size`; override either."""
        return self.large_size

    def reopen(self, backend: Backend) -> Backend:
        """A second, independent instance on the same root as ``backend``.

        *Optional*: the persistence test skips when a subclass does not override it.
        """
        raise NotImplementedError

    # --- write then read -----------------------------------------------------------------

    def test_writer_commit_then_read(self, backend: Backend) -> None:
        data = _payload(600_000, seed=1)
        w = backend.writer()
        try:
            total = 0
            for i in range(0, len(data), 100_000):
                n = w.write(data[i : i + 100_000])
                assert n == len(data[i : i + 100_000])
                total += n
            assert w.bytes_written == total == len(data)
            w.commit("blobs/sha256/ab/abc")
        except BaseException:
            w.abort()
            raise
        assert backend.exists("blobs/sha256/ab/abc")
        assert backend.read_bytes("blobs/sha256/ab/abc") == data
        with backend.open_read("blobs/sha256/ab/abc") as f:
            assert f.read() == data

    def test_writer_accepts_memoryview(self, backend: Backend) -> None:
        data = b"0123456789" * 1000
        w = backend.writer()
        try:
            w.write(memoryview(data)[:5000])
            w.write(memoryview(data)[5000:])
            w.commit("blobs/mv")
        except BaseException:
            w.abort()
            raise
        assert backend.read_bytes("blobs/mv") == data

    def test_empty_object(self, backend: Backend) -> None:
        w = _commit(backend, "blobs/empty", b"")
        assert w.bytes_written == 0
        assert backend.exists("blobs/empty")
        assert backend.read_bytes("blobs/empty") == b""
        assert backend.info("blobs/empty").size == 0
        assert {o.key: o.size for o in backend.list("blobs/")} == {"blobs/empty": 0}

    def test_open_read_seek(self, backend: Backend) -> None:
        data = bytes(range(256)) * 40
        _commit(backend, "blobs/seek", data)
        with backend.open_read("blobs/seek") as f:
            assert f.read(3) == data[:3]
            f.seek(1000)
            assert f.tell() == 1000
            assert f.read(10) == data[1000:1010]
            f.seek(5, io.SEEK_CUR)
            assert f.read(4) == data[1015:1019]
            f.seek(0)
            assert f.read(2) == data[:2]
            f.seek(-4, io.SEEK_END)
            assert f.read() == data[-4:]
            assert f.read(10) == b""

    @pytest.mark.parametrize(
        ("start", "length"),
        [(0, 5), (10, 20), (4090, 6), (10_237, 10), (10_000, 240), (123, 0)],
        ids=["head", "middle", "across-4k", "short-at-end", "exact-end", "zero-length"],
    )
    def test_read_range(self, backend: Backend, start: int, length: int) -> None:
        data = _payload(10_240, seed=2)
        _commit(backend, "blobs/range", data)
        assert backend.read_range("blobs/range", start, length) == data[start : start + length]

    # --- metadata --------------------------------------------------------------------------

    def test_info(self, backend: Backend) -> None:
        before = time.time()
        backend.write_bytes("records/info.json", b"x" * 1234)
        info = backend.info("records/info.json")
        assert isinstance(info, ObjectInfo)
        assert info.key == "records/info.json"
        assert info.size == 1234
        if not backend.has_mtime:
            assert info.mtime is None or isinstance(info.mtime, float)
            return
        assert isinstance(info.mtime, float)
        # The storage's clock, which may be coarse (1 s on S3) and a little off ours.
        assert before - 300 <= info.mtime <= time.time() + 300

    def test_info_absent_raises(self, backend: Backend) -> None:
        with pytest.raises(FileNotFoundError):
            backend.info("records/absent.json")

    def test_exists(self, backend: Backend) -> None:
        assert not backend.exists("records/e.json")
        backend.write_bytes("records/e.json", b"{}")
        assert backend.exists("records/e.json")
        assert not backend.exists("records/e.jso")
        assert not backend.exists("records/e.json.x")

    def test_list_agrees_with_info(self, backend: Backend) -> None:
        backend.write_bytes("records/a/1", b"1")
        backend.write_bytes("records/a/22", b"22")
        listed = {o.key: o for o in backend.list("records/")}
        assert set(listed) == {"records/a/1", "records/a/22"}
        for key, o in listed.items():
            info = backend.info(key)
            assert o.size == info.size
            if backend.has_mtime:
                assert isinstance(o.mtime, float)
                assert info.mtime is not None and abs(o.mtime - info.mtime) < 2.0

    # --- delete ------------------------------------------------------------------------------

    def test_delete(self, backend: Backend) -> None:
        backend.write_bytes("blobs/del", b"gone soon")
        backend.write_bytes("blobs/keep", b"stays")
        backend.delete("blobs/del")
        assert not backend.exists("blobs/del")
        with pytest.raises(FileNotFoundError):
            backend.read_bytes("blobs/del")
        assert _keys(backend) == {"blobs/keep"}
        assert backend.read_bytes("blobs/keep") == b"stays"

    def test_delete_absent_is_fine(self, backend: Backend) -> None:
        backend.delete("blobs/never-existed")
        backend.write_bytes("blobs/twice", b"x")
        backend.delete("blobs/twice")
        backend.delete("blobs/twice")
        assert not backend.exists("blobs/twice")
        assert _keys(backend) == set()

    # --- listing -----------------------------------------------------------------------------

    def test_list_by_prefix(self, backend: Backend) -> None:
        contents = {
            "blobs/sha256/aa/aa11": b"a" * 11,
            "blobs/sha256/bb/bb22": b"b" * 22,
            "manifests/m1.json": b"m1",
            "manifests/deep/er/m2.json": b"m2!",
            "manifestsX/not-under-manifests": b"x",
            "records/r": b"",
            "store.json": b"{}",
        }
        for key, data in contents.items():
            backend.write_bytes(key, data)
        everything = {o.key: o.size for o in backend.list()}
        assert everything == {k: len(v) for k, v in contents.items()}
        assert {o.key: o.size for o in backend.list("")} == everything
        assert _keys(backend, "manifests/") == {"manifests/m1.json", "manifests/deep/er/m2.json"}
        assert _keys(backend, "blobs/sha256/") == {"blobs/sha256/aa/aa11", "blobs/sha256/bb/bb22"}
        assert _keys(backend, "blobs/sha256/bb/") == {"blobs/sha256/bb/bb22"}
        assert _keys(backend, "manifests/deep/") == {"manifests/deep/er/m2.json"}
        assert _keys(backend, "nothing/here/") == set()

    def test_list_empty_root(self, backend: Backend) -> None:
        assert list(backend.list()) == []
        assert list(backend.list("blobs/")) == []

    def test_list_returns_iterator_of_objectinfo(self, backend: Backend) -> None:
        backend.write_bytes("records/x", b"xyz")
        items = list(backend.list("records/"))
        assert items == [ObjectInfo("records/x", 3, items[0].mtime)]

    def test_staging_objects_are_never_listed(self, backend: Backend) -> None:
        backend.write_bytes("blobs/visible", b"v")
        w = backend.writer()
        try:
            w.write(b"staged but not committed" * 100)
            assert _keys(backend) == {"blobs/visible"}
            assert not any(k.startswith("tmp/") for k in _keys(backend))
            assert _keys(backend, "blobs/") == {"blobs/visible"}
        finally:
            w.abort()
        assert _keys(backend) == {"blobs/visible"}

    # --- replace / append ------------------------------------------------------------------

    def test_write_bytes_replaces(self, backend: Backend) -> None:
        backend.write_bytes("records/alias", b"first version, longer")
        backend.write_bytes("records/alias", b"second")
        assert backend.read_bytes("records/alias") == b"second"
        assert backend.info("records/alias").size == 6
        assert [o.key for o in backend.list("records/")] == ["records/alias"]

    def test_write_bytes_replace_is_atomic_for_readers(self, backend: Backend) -> None:
        a, b = b"A" * 100_000, b"B" * 150_000
        backend.write_bytes("records/flip", a)
        stop = threading.Event()
        seen: list[bytes] = []
        errors: list[BaseException] = []

        def reader() -> None:
            try:
                while not stop.is_set():
                    seen.append(backend.read_bytes("records/flip"))
            except BaseException as exc:
                errors.append(exc)

        t = threading.Thread(target=reader)
        t.start()
        try:
            for i in range(12):
                backend.write_bytes("records/flip", b if i % 2 == 0 else a)
        finally:
            stop.set()
            t.join(60)
        assert not errors, errors
        assert seen, "the reader thread read nothing"
        assert all(s in (a, b) for s in seen), "a reader saw a partial or mixed object"
        assert backend.read_bytes("records/flip") == a

    def test_append_bytes(self, backend: Backend) -> None:
        if not backend.supports_append:
            pytest.skip(f"{type(backend).__name__} does not support appends (supports_append=False)")
        backend.append_bytes("manifests/log/w1.jsonl", b'{"n": 1}\n')
        backend.append_bytes("manifests/log/w1.jsonl", b'{"n": 2}\n')
        assert backend.read_bytes("manifests/log/w1.jsonl") == b'{"n": 1}\n{"n": 2}\n'
        assert backend.info("manifests/log/w1.jsonl").size == 18

    def test_concurrent_appends_do_not_interleave(self, backend: Backend) -> None:
        if not backend.supports_append:
            pytest.skip(f"{type(backend).__name__} does not support appends (supports_append=False)")
        records = {
            f"{t}-{i}": f"{t}-{i}:".encode() + bytes([65 + t]) * 3000 + b"\n" for t in range(8) for i in range(25)
        }

        def work(t: int) -> None:
            for i in range(25):
                backend.append_bytes("manifests/log/shared.jsonl", records[f"{t}-{i}"])

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(work, range(8)))
        lines = backend.read_bytes("manifests/log/shared.jsonl").splitlines(keepends=True)
        assert sorted(lines) == sorted(records.values())

    def test_append_refused_when_unsupported(self, backend: Backend) -> None:
        if backend.supports_append:
            pytest.skip(f"{type(backend).__name__} supports appends; see test_append_bytes")
        with pytest.raises(NotImplementedError):
            backend.append_bytes("manifests/log/w1.jsonl", b"x\n")
        assert not backend.exists("manifests/log/w1.jsonl")

    # --- large objects ---------------------------------------------------------------------

    def test_large_object(self, backend: Backend, large_size_bytes: int, tmp_path: Path) -> None:
        data = _payload(large_size_bytes, seed=3)
        w = _commit(backend, "blobs/large", data, chunk=1 * MiB + 7)
        assert w.bytes_written == len(data)
        assert backend.info("blobs/large").size == len(data)
        # Ranges across the typical part boundaries (5 MiB, 8 MiB) and at the end.
        for start in (5 * MiB - 10, 8 * MiB - 3, len(data) - 100):
            if start >= 0:
                assert backend.read_range("blobs/large", start, 64) == data[start : start + 64]
        out = tmp_path / "large.out"
        backend.download_file("blobs/large", out)
        assert hashlib.sha256(out.read_bytes()).hexdigest() == hashlib.sha256(data).hexdigest()

    def test_large_upload_file(self, backend: Backend, large_size_bytes: int, tmp_path: Path) -> None:
        src = tmp_path / "large.in"
        data = _payload(large_size_bytes, seed=4)
        src.write_bytes(data)
        backend.upload_file(src, "blobs/large-up")
        assert backend.info("blobs/large-up").size == len(data)
        got = hashlib.sha256()
        with backend.open_read("blobs/large-up") as f:
            while chunk := f.read(4 * MiB):
                got.update(chunk)
        assert got.hexdigest() == hashlib.sha256(data).hexdigest()

    # --- keys ----------------------------------------------------------------------------

    @pytest.mark.parametrize("key", ODD_KEYS, ids=lambda k: k.split("/")[1])
    def test_odd_character_keys(self, backend: Backend, key: str) -> None:
        assert validate_name(key) == key  # the suite only uses valid name characters
        data = key.encode() * 3
        _commit(backend, key, data)
        assert backend.exists(key)
        assert backend.read_bytes(key) == data
        assert backend.read_range(key, 1, 4) == data[1:5]
        assert backend.info(key).size == len(data)
        folder = key.rsplit("/", 1)[0] + "/"
        assert _keys(backend, folder) == {key}
        assert _keys(backend) == {key}
        backend.write_bytes(key, b"replaced")
        assert backend.read_bytes(key) == b"replaced"
        backend.delete(key)
        assert not backend.exists(key)
        assert _keys(backend) == set()

    # --- concurrency ---------------------------------------------------------------------

    def test_concurrent_commits_of_same_key(self, backend: Backend) -> None:
        data = _payload(300_000, seed=5)
        key = "blobs/sha256/" + hashlib.sha256(data).hexdigest()[:2] + "/" + hashlib.sha256(data).hexdigest()
        n = self.concurrent_writers
        barrier = threading.Barrier(n)

        def work(_: int) -> int:
            w = backend.writer()
            try:
                w.write(data[:150_000])
                barrier.wait(30)
                w.write(data[150_000:])
                w.commit(key)
            except BaseException:
                w.abort()
                raise
            return w.bytes_written

        with ThreadPoolExecutor(n) as pool:
            results = list(pool.map(work, range(n)))
        assert results == [len(data)] * n
        assert backend.read_bytes(key) == data
        assert _keys(backend) == {key}

    def test_concurrent_writers_to_different_keys(self, backend: Backend) -> None:
        blobs = {f"blobs/k{i}": _payload(50_000 + i, seed=10 + i) for i in range(8)}

        def work(item: tuple[str, bytes]) -> None:
            _commit(backend, *item, chunk=10_000)

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(work, blobs.items()))
        assert {o.key: o.size for o in backend.list("blobs/")} == {k: len(v) for k, v in blobs.items()}
        for k, v in blobs.items():
            assert backend.read_bytes(k) == v

    # --- atomic publish --------------------------------------------------------------------

    def test_aborted_writer_leaves_nothing(self, backend: Backend) -> None:
        w = backend.writer()
        w.write(b"half an artifact" * 1000)
        w.abort()
        w.abort()  # safe to call twice
        assert not backend.exists("blobs/aborted")
        assert _keys(backend) == set()

    def test_write_failing_midway_leaves_nothing(self, backend: Backend) -> None:
        def stream() -> Iterator[bytes]:
            yield b"first chunk " * 1000
            yield b"second chunk " * 1000
            raise _SourceFailed("source broke midway")

        w = backend.writer()
        with pytest.raises(_SourceFailed):
            try:
                for chunk in stream():
                    w.write(chunk)
                w.commit("blobs/failed")
            except BaseException:
                w.abort()
                raise
        assert not backend.exists("blobs/failed")
        with pytest.raises(FileNotFoundError):
            backend.read_bytes("blobs/failed")
        assert _keys(backend) == set()

    def test_failed_overwrite_keeps_old_object(self, backend: Backend) -> None:
        backend.write_bytes("blobs/existing", b"old complete content")
        w = backend.writer()
        w.write(b"new partial")
        w.abort()
        assert backend.read_bytes("blobs/existing") == b"old complete content"
        assert _keys(backend) == {"blobs/existing"}

    def test_uncommitted_writer_is_invisible(self, backend: Backend) -> None:
        w = backend.writer()
        w.write(b"never committed" * 1000)
        assert not backend.exists("blobs/pending")
        assert _keys(backend) == set()
        # A writer dropped without commit or abort (a crashed caller) must not
        # publish on garbage collection (fsspec's buffered files do, on close).
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ResourceWarning)
            del w
            gc.collect()
        assert not backend.exists("blobs/pending")
        assert _keys(backend) == set()

    def test_writer_used_once(self, backend: Backend) -> None:
        # After commit, the staged bytes are published exactly once; abort is then harmless.
        w = _commit(backend, "blobs/once", b"payload")
        w.abort()
        assert backend.read_bytes("blobs/once") == b"payload"

    # --- files -------------------------------------------------------------------------

    def test_upload_and_download_file(self, backend: Backend, tmp_path: Path) -> None:
        src = tmp_path / "src.bin"
        src.write_bytes(b"uploaded bytes " * 5000)
        backend.upload_file(src, "blobs/up/loaded")
        assert backend.read_bytes("blobs/up/loaded") == src.read_bytes()
        assert _keys(backend) == {"blobs/up/loaded"}
        dst = tmp_path / "dst.bin"
        backend.download_file("blobs/up/loaded", dst)
        assert dst.read_bytes() == src.read_bytes()
        # upload over an existing key replaces it
        src.write_bytes(b"v2")
        backend.upload_file(src, "blobs/up/loaded")
        assert backend.read_bytes("blobs/up/loaded") == b"v2"
        assert src.read_bytes() == b"v2"  # the source file is left alone

    def test_download_absent_raises(self, backend: Backend, tmp_path: Path) -> None:
        with pytest.raises(FileNotFoundError):
            backend.download_file("blobs/absent", tmp_path / "x")

    # --- absent keys ---------------------------------------------------------------------

    @pytest.mark.parametrize(
        "op",
        [
            lambda b: b.read_bytes("blobs/absent"),
            lambda b: b.open_read("blobs/absent").read(),
            lambda b: b.read_range("blobs/absent", 0, 10),
            lambda b: b.info("blobs/absent"),
        ],
        ids=["read_bytes", "open_read", "read_range", "info"],
    )
    def test_reading_absent_key_raises(self, backend: Backend, op: Callable[[Backend], Any]) -> None:
        backend.write_bytes("blobs/present", b"p")
        with pytest.raises(FileNotFoundError):
            op(backend)

    def test_absent_key_in_absent_folder(self, backend: Backend) -> None:
        with pytest.raises(FileNotFoundError):
            backend.read_bytes("no/such/folder/key")
        assert not backend.exists("no/such/folder/key")

    # --- lifecycle -------------------------------------------------------------------------

    def test_url_is_printable(self, backend: Backend) -> None:
        assert isinstance(backend.url, str) and backend.url
        assert backend.url.isprintable()
        assert isinstance(repr(backend), str)

    def test_close_is_idempotent(self, backend: Backend) -> None:
        backend.write_bytes("records/before-close", b"kept")
        backend.close()
        backend.close()

    def test_other_instance_sees_writes_and_deletes(self, backend: Backend) -> None:
        """Several workers share a root: no instance may serve a stale listing or a stale miss."""
        try:
            other = self.reopen(backend)
        except NotImplementedError:
            pytest.skip(f"{type(self).__name__} does not implement reopen()")
        try:
            backend.write_bytes("records/first", b"written by the first instance")
            _commit(backend, "blobs/first", b"blob" * 1000)
            assert not backend.exists("records/second")  # may prime a negative cache
            assert _keys(backend) == {"records/first", "blobs/first"}  # may prime a listing cache
            assert other.read_bytes("records/first") == b"written by the first instance"
            assert _keys(other) == {"records/first", "blobs/first"}
            other.write_bytes("records/second", b"from the other instance")
            other.delete("blobs/first")
            assert backend.exists("records/second")
            assert backend.read_bytes("records/second") == b"from the other instance"
            assert not backend.exists("blobs/first")
            assert _keys(backend) == {"records/first", "records/second"}
            assert _keys(backend, "records/") == {"records/first", "records/second"}
        finally:
            other.close()
