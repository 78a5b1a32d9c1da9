"""The blob layer (artifactstore/blobs.py): publish, dedup and healing, verified reads,
copies between stores, the sweep, and the guarantees under concurrency (issue 9):
content stored once whatever the codecs asked for, and a blob leased from before it
becomes visible until its catalog commit, whatever gc's grace."""

from __future__ import annotations

import multiprocessing as mp
import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import artifactstore
from artifactstore import ArtifactStore, gc
from artifactstore.blobs import BlobStore, LooseLayout
from artifactstore.errors import BlobMissingError, IntegrityError
from artifactstore.manifests import blob_key
from artifactstore.validation import open_source

CSV = b"episode,reward,success\n" + b"1,0.51,true\n2,0.49,false\n" * 4000


def _publish(store: ArtifactStore, data: bytes, codec: str = "auto") -> dict[str, Any]:
    return store.blobs.publish(open_source(data), codec, "x.csv")


def _row(fields: dict[str, Any], name: str) -> dict[str, Any]:
    import time

    from artifactstore.ids import new_id

    return {**fields, "id": new_id(), "name": name, "artifact_type": "log", "tags": (), "metadata": {},
            "created_at": time.time()}


def _keys_of(store: ArtifactStore, sha: str) -> set[str]:
    return {o.key for o in store.blobs.listing() if store.blobs.layout.digest_of(o.key) == sha}


# --- the layout ----------------------------------------------------------------------------


def test_loose_layout_keys_and_find(store: ArtifactStore) -> None:
    layout = store.blobs.layout
    assert isinstance(layout, LooseLayout)
    sha = "ab" * 32
    assert layout.key(sha, ".zst") == blob_key(sha, ".zst") == f"blobs/sha256/ab/{sha}.zst"
    assert layout.digest_of(layout.key(sha, ".tar.gz")) == sha
    a = store.put(CSV, artifact_type="log", codec="zstd")
    assert [o.key for o in layout.find(a.sha256, ["", ".zst", ".gz"])] == [a.blob_key]
    assert layout.find(sha, ["", ".zst"]) == []


def test_codec_of_a_key(store: ArtifactStore) -> None:
    sha = "cd" * 32
    assert store.blobs.codec_of(blob_key(sha, ".zst"))[1].name == "zstd"
    assert store.blobs.codec_of(blob_key(sha, ".tar.gz"), "tar.gz") == (sha, store.codec("tar.gz"))
    assert store.blobs.codec_of(blob_key(sha, ""))[1].name == "none"


# --- publish, dedup, healing ---------------------------------------------------------------


def test_publish_returns_blob_fields_and_a_lease(store: ArtifactStore) -> None:
    fields = _publish(store, CSV, "zstd")
    assert fields["sha256"] and fields["size"] == len(CSV) and fields["codec"] == "zstd"
    assert fields["blob_key"] == blob_key(fields["sha256"], ".zst")
    assert 0 < fields["stored_size"] < len(CSV) and len(fields["leases"]) == 1
    assert store.blobs.exists(fields["blob_key"])
    local = store.blobs.local_path(fields["blob_key"])
    assert local is not None and local.stat().st_size == fields["stored_size"]
    assert store.blobs.sizes() == {fields["blob_key"]: fields["stored_size"]}
    art = store.commit_rows([_row(fields, "x.csv")])[0]
    assert store.read_bytes(art) == CSV


def test_dedup_ignores_the_codec_asked_for(store: ArtifactStore) -> None:
    a = store.put(CSV, artifact_type="log", name="a", codec="zstd")
    b = store.put(CSV, artifact_type="log", name="b", codec="none")
    c = store.put(CSV, artifact_type="log", name="c", codec="gzip")
    assert a.blob_key == b.blob_key == c.blob_key and {a.codec, b.codec, c.codec} == {"zstd"}
    assert len(store.blobs.sizes()) == 1


def test_an_unreferenced_blob_of_another_codec_is_reused(store: ArtifactStore) -> None:
    a = store.put(CSV, artifact_type="log", name="a", codec="none")
    store.delete(a)  # the blob stays until gc: an orphan
    b = store.put(CSV, artifact_type="log", name="b", codec="zstd")
    assert b.blob_key == a.blob_key and b.codec == "none"
    assert store.read_bytes(b) == CSV


def test_a_truncated_blob_is_healed_by_a_put_of_its_content(store: ArtifactStore) -> None:
    a = store.put(CSV, artifact_type="log", name="a", codec="zstd")
    path = store.blobs.local_path(a.blob_key)
    assert path is not None
    path.write_bytes(path.read_bytes()[:10])
    assert store.blobs.check(a) == "corrupt"
    b = store.put(CSV, artifact_type="log", name="b", codec="zstd")
    assert b.blob_key == a.blob_key
    assert store.blobs.check(a) == "ok" and store.read_bytes(a) == CSV


def test_a_missing_blob_is_healed_by_a_put_of_its_content(store: ArtifactStore) -> None:
    a = store.put(CSV, artifact_type="log", name="a")
    path = store.blobs.local_path(a.blob_key)
    assert path is not None
    path.unlink()
    assert store.blobs.check(a) == "missing"
    with pytest.raises(BlobMissingError):
        store.read_bytes(a)
    store.put(CSV, artifact_type="log", name="b")
    assert store.read_bytes(a) == CSV and store.verify().ok


# --- reads ---------------------------------------------------------------------------------


def test_reads_are_verified(store: ArtifactStore, tmp_path: Path) -> None:
    a = store.put(b"hello world" * 100, artifact_type="log", name="h", codec="none")
    with store.blobs.open(a) as f:
        assert f.read() == b"hello world" * 100
    path = store.blobs.local_path(a.blob_key)
    assert path is not None
    path.write_bytes(b"jello world" * 100)  # same size, other bytes
    with pytest.raises(IntegrityError), store.blobs.open(a) as f:
        f.read()
    out = tmp_path / "out.txt"
    tmp = tmp_path / ".out.part"
    with pytest.raises(IntegrityError):
        store.blobs.write_file(a, tmp, out)
    assert not out.exists() and not tmp.exists()
    assert store.blobs.check(a) == "corrupt"


# --- copies between stores -----------------------------------------------------------------


def test_copy_to_another_store_as_stored_bytes(store: ArtifactStore, tmp_path: Path) -> None:
    a = store.put(CSV, artifact_type="log", name="a", codec="zstd")
    with artifactstore.open(tmp_path / "dst") as dst:
        status, n = store.blobs.copy_to(dst.blobs, a.blob_key, "zstd")
        assert (status, n) == ("ok", a.stored_size)
        assert dst.blobs.sizes() == {a.blob_key: a.stored_size} and dst.blobs.check_key(a.blob_key)
        assert store.blobs.copy_to(dst.blobs, blob_key("0" * 64, ".zst")) == ("missing", 0)
        path = store.blobs.local_path(a.blob_key)
        assert path is not None
        other = _publish(store, b"other content" * 1000, "zstd")
        path.write_bytes(Path(str(store.blobs.local_path(other["blob_key"]))).read_bytes())  # decodes, wrong hash
        assert not store.blobs.check_key(a.blob_key)
        dst_path = dst.blobs.local_path(a.blob_key)
        assert dst_path is not None
        dst_path.unlink()
        assert store.blobs.copy_to(dst.blobs, a.blob_key) == ("corrupt", 0)
        assert not dst.blobs.exists(a.blob_key)


# --- the sweep -----------------------------------------------------------------------------


def test_sweep_honours_references_grace_and_the_recheck(store: ArtifactStore) -> None:
    keep = store.put(b"keep" * 100, artifact_type="log", name="keep")
    gone = store.put(b"gone" * 100, artifact_type="log", name="gone")
    store.delete(gone)
    assert store.blobs.orphans({keep.blob_key}, grace=3600) == []
    assert store.blobs.orphans({keep.blob_key}, grace=0) == [(gone.blob_key, gone.stored_size)]
    assert store.blobs.sweep(grace=3600).swept == 0
    res = store.blobs.sweep(grace=0)
    assert (res.swept, res.freed_bytes, res.skipped) == (1, gone.stored_size, 0)
    assert store.blobs.exists(keep.blob_key) and not store.blobs.exists(gone.blob_key)


def test_stale_staging_files_are_removed(store: ArtifactStore) -> None:
    staging = store.blobs.layout.staging_dir()
    assert staging is not None
    staging.mkdir(exist_ok=True)
    (staging / "dead.part").write_bytes(b"x")
    assert store.blobs.remove_stale_staging(grace=3600) == 0
    assert store.blobs.remove_stale_staging(grace=0) == 1


def _published_then_swept(store: ArtifactStore) -> None:
    # A publish that has not committed yet (a put waiting for the catalog, however long):
    # a sweep with no grace at all must leave its blob, then the commit makes it live.
    fields = _publish(store, b"in flight" * 1000, "none")
    res = gc.apply(store, gc.plan(store, ["keep_all"], grace_seconds=0))
    assert res.swept_blobs == 0 and res.skipped_blobs == 1 and store.blobs.exists(fields["blob_key"])
    art = store.commit_rows([_row(fields, "late")])[0]
    assert store.read_bytes(art) == b"in flight" * 1000
    # A publish whose put gave up: once its lease is dropped, the orphan goes.
    dead = _publish(store, b"abandoned" * 1000, "none")
    store.blobs.release(dead["leases"])
    if store.blobs.layout.lock_dir(dead["sha256"]) is None:  # a catalog lease: released in the catalog
        store.catalog.release_leases_now(dead["leases"])
    assert gc.apply(store, gc.plan(store, ["keep_all"], grace_seconds=0)).swept_blobs == 1
    assert not store.blobs.exists(dead["blob_key"])


def test_a_publish_is_leased_until_its_commit_local(store: ArtifactStore) -> None:
    _published_then_swept(store)


def test_a_publish_is_leased_until_its_commit_memory() -> None:
    with artifactstore.open("memory://blobs-lease-test") as store:
        _published_then_swept(store)


KILLED = textwrap.dedent("""
    import os, sys, artifactstore
    from artifactstore.validation import open_source
    s = artifactstore.open(sys.argv[1])
    fields = s.blobs.publish(open_source(b"killed before its commit" * 100), "none", "k")
    print(fields["blob_key"], flush=True)
    os._exit(0)  # no release, no close: as if killed
""")


def test_a_killed_writers_lease_dies_with_it(tmp_path: Path) -> None:
    root = tmp_path / "s"
    artifactstore.open(root).close()
    script = tmp_path / "killed.py"
    script.write_text(KILLED)
    key = subprocess.run([sys.executable, str(script), str(root)], check=True, capture_output=True,
                         text=True).stdout.strip()
    with artifactstore.open(root) as s:
        assert s.blobs.exists(key)
        assert gc.apply(s, gc.plan(s, ["keep_all"], grace_seconds=0)).swept_blobs == 1
        assert not s.blobs.exists(key)


# --- stored once under concurrency ---------------------------------------------------------


CODECS = ("none", "zstd", "gzip", "auto")


def _contents(n: int) -> list[bytes]:
    return [f"round {i}\n".encode() + CSV for i in range(n)]


def _threads_put_at_once(store: ArtifactStore, contents: list[bytes], n: int) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    for r, data in enumerate(contents):
        barrier = threading.Barrier(n)

        def put(t: int, data: bytes = data, r: int = r, barrier: threading.Barrier = barrier) -> None:
            try:
                barrier.wait()
                a = store.put(data, artifact_type="log", name=f"r{r}/t{t}", codec=CODECS[t % len(CODECS)])
                with lock:
                    out.append((a.sha256, a.blob_key))
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=put, args=(t,)) for t in range(n)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
    assert not errors, errors
    return out


def _assert_stored_once(store: ArtifactStore, puts: list[tuple[str, str]], contents: int) -> None:
    by_sha: dict[str, set[str]] = {}
    for sha, key in puts:
        by_sha.setdefault(sha, set()).add(key)
    assert len(by_sha) == contents
    for sha, keys in by_sha.items():
        assert len(keys) == 1, f"{sha[:12]} stored under {sorted(keys)}"
        assert _keys_of(store, sha) == keys  # and no second copy in the backend either
    assert {a.blob_key for a in store.catalog.iter_all()} == {k for ks in by_sha.values() for k in ks}
    assert store.verify().ok


def test_first_writes_from_threads_store_once_local(store: ArtifactStore) -> None:
    contents = _contents(12)
    _assert_stored_once(store, _threads_put_at_once(store, contents, 8), len(contents))


def test_first_writes_from_threads_store_once_memory() -> None:
    with artifactstore.open("memory://blobs-once-test") as store:
        contents = _contents(8)
        _assert_stored_once(store, _threads_put_at_once(store, contents, 6), len(contents))


def test_first_writes_from_threads_store_once_postgresql(pg_catalog_url: str) -> None:
    with artifactstore.open("memory://blobs-once-pg", pg_catalog_url) as store:
        contents = _contents(8)
        _assert_stored_once(store, _threads_put_at_once(store, contents, 6), len(contents))


def test_put_many_of_one_content_stores_it_once(store: ArtifactStore) -> None:
    arts = store.put_many([{"source": CSV, "artifact_type": "log", "name": f"m{i}", "codec": CODECS[i % 4]}
                           for i in range(8)], workers=4)
    assert len({a.blob_key for a in arts}) == 1 and len(store.blobs.sizes()) == 1


def _proc_writer(root: str, catalog: str | None, options: dict[str, Any], worker: int, rounds: int,
                 barrier: Any, q: Any) -> None:
    out = []
    with artifactstore.open(root, catalog, **options) as s:
        for r, data in enumerate(_contents(rounds)):
            barrier.wait()
            a = s.put(data, artifact_type="log", name=f"r{r}/w{worker}", codec=CODECS[worker % len(CODECS)])
            out.append((a.sha256, a.blob_key))
    q.put(out)


def _processes_put_at_once(root: str, catalog: str | None, options: dict[str, Any], n: int,
                           rounds: int) -> list[tuple[str, str]]:
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(n)
    q: Any = ctx.Queue()
    procs = [ctx.Process(target=_proc_writer, args=(root, catalog, options, w, rounds, barrier, q))
             for w in range(n)]
    for p in procs:
        p.start()
    puts = [x for _ in procs for x in q.get(timeout=300)]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    return puts


def test_first_writes_from_processes_store_once_local(tmp_path: Path) -> None:
    root = tmp_path / "s"
    artifactstore.open(root).close()
    puts = _processes_put_at_once(str(root), None, {}, 4, 6)
    with artifactstore.open(root) as s:
        _assert_stored_once(s, puts, 6)


@pytest.fixture
def s3_store(s3_url: Any, tmp_path: Path) -> Iterator[tuple[str, str, dict[str, Any]]]:
    catalog = f"sqlite:///{tmp_path / 'shared-catalog.db'}"
    artifactstore.open(s3_url.url, catalog, **s3_url.storage_options).close()
    yield s3_url.url, catalog, dict(s3_url.storage_options)


def test_first_writes_from_processes_store_once_s3(s3_store: tuple[str, str, dict[str, Any]]) -> None:
    url, catalog, options = s3_store
    puts = _processes_put_at_once(url, catalog, options, 3, 4)
    with artifactstore.open(url, catalog, **options) as s:
        _assert_stored_once(s, puts, 4)


def test_blob_store_is_the_stores_blob_layer(store: ArtifactStore) -> None:
    assert isinstance(store.blobs, BlobStore)
    assert store.lease_seconds == store.blobs.lease_seconds == 3600.0
    store.lease_seconds = 60
    assert store.blobs.lease_seconds == 60.0
    assert store.codec("zstd") is store.blobs.codec("zstd")
    assert store.codec_suffixes() == store.blobs.codec_suffixes()
    assert os.fspath(store.local_root() or "") == os.fspath(store.blobs.local_path("") or "")


def test_past_the_pin_limit_leases_are_catalog_rows(store: ArtifactStore, monkeypatch: pytest.MonkeyPatch) -> None:
    from artifactstore import blobs

    assert 64 <= blobs.PIN_LIMIT <= 4096
    PIN_LIMIT = 8
    monkeypatch.setattr(blobs, "PIN_LIMIT", PIN_LIMIT)
    held = [_publish(store, f"batch member {i}".encode() * 50, "none") for i in range(PIN_LIMIT + 3)]
    res = gc.apply(store, gc.plan(store, ["keep_all"], grace_seconds=0))
    assert res.swept_blobs == 0 and res.skipped_blobs == PIN_LIMIT + 3
    tokens = [t for f in held for t in f["leases"]]
    store.blobs.release(tokens)  # the local pins
    res = gc.apply(store, gc.plan(store, ["keep_all"], grace_seconds=0))
    assert res.swept_blobs == PIN_LIMIT and res.skipped_blobs == 3  # the catalog leases still hold
    store.catalog.release_leases_now(tokens)
    assert gc.apply(store, gc.plan(store, ["keep_all"], grace_seconds=0)).swept_blobs == 3


def test_without_flock_leases_are_catalog_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import artifactstore.blobs as blobs_module

    monkeypatch.setattr(blobs_module, "_flock_works", lambda _path: False)
    with artifactstore.open(tmp_path / "s") as s:
        assert s.blobs.layout.lock_dir("ab" * 32) is None
        _published_then_swept(s)
    with artifactstore.open(tmp_path / "t") as s:
        contents = _contents(4)
        _assert_stored_once(s, _threads_put_at_once(s, contents, 4), len(contents))


def test_a_forked_child_cannot_drop_its_parents_lease(store: ArtifactStore) -> None:
    fields = _publish(store, b"pinned by the parent" * 100, "none")
    pid = os.fork()
    if pid == 0:  # the child releases (or closes) the store it inherited
        try:
            store.blobs.release(fields["leases"])
        finally:
            os._exit(0)
    assert os.waitpid(pid, 0)[1] == 0
    res = gc.apply(store, gc.plan(store, ["keep_all"], grace_seconds=0))
    assert res.swept_blobs == 0 and store.blobs.exists(fields["blob_key"])
    store.commit_rows([_row(fields, "kept")])
    assert store.verify().ok


# --- no catalog lock across an upload --------------------------------------------------------


class _HeldUpload:
    """A blob writer whose upload (``commit``) waits for ``release``: a slow upload in flight."""

    def __init__(self, inner: Any, started: threading.Event, release: threading.Event) -> None:
        self._inner, self._started, self._release = inner, started, release

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def commit(self, key: str) -> None:
        self._started.set()
        assert self._release.wait(120), "the held upload was never released"
        self._inner.commit(key)


def _hold_first_upload(store: ArtifactStore, monkeypatch: pytest.MonkeyPatch) -> tuple[threading.Event,
                                                                                      threading.Event]:
    started, release = threading.Event(), threading.Event()
    real = store.blobs.layout.writer
    calls: list[int] = []

    def writer() -> Any:
        calls.append(1)
        return _HeldUpload(real(), started, release) if len(calls) == 1 else real()

    monkeypatch.setattr(store.blobs.layout, "writer", writer)
    return started, release


def _puts_during_a_slow_upload(store: ArtifactStore, monkeypatch: pytest.MonkeyPatch) -> None:
    big = os.urandom(1 << 20) * 4  # 4 MiB, raw: the held upload
    started, release = _hold_first_upload(store, monkeypatch)
    results: dict[str, Any] = {}

    def put(label: str, data: bytes) -> None:
        try:
            results[label] = store.put(data, artifact_type="log", name=label, codec="none")
        except BaseException as exc:  # pragma: no cover - reported below
            results[label] = exc

    slow = threading.Thread(target=put, args=("big", big))
    slow.start()
    try:
        assert started.wait(60), "the big put never reached its upload"
        same = threading.Thread(target=put, args=("big-again", big))  # same content: waits, then reuses
        same.start()
        small = threading.Thread(target=put, args=("small", b"small and different\n" * 10))
        small.start()
        small.join(30)
        # the small put finished while the big upload is still held (before the fix it waited
        # for the catalog's write lock, held across the upload, and failed after busy_timeout)
        assert not small.is_alive() and slow.is_alive(), "a small put waited for the upload of another"
        assert isinstance(results["small"], artifactstore.Artifact), results["small"]
        store.put(b"another small one", artifact_type="log", name="small2")  # from this thread too
        assert same.is_alive() and "big-again" not in results  # one decider per digest
    finally:
        release.set()
        slow.join(60)
    same.join(60)
    assert isinstance(results["big"], artifactstore.Artifact), results["big"]
    assert isinstance(results["big-again"], artifactstore.Artifact), results["big-again"]
    assert results["big-again"].blob_key == results["big"].blob_key  # stored once
    assert _keys_of(store, results["big"].sha256) == {results["big"].blob_key}
    assert store.read_bytes("big-again") == big and store.verify().ok


def test_a_slow_upload_holds_up_no_other_put_memory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with artifactstore.open("memory://blobs-slow-upload", tmp_path / "catalog.db") as store:
        assert store.catalog.dialect == "sqlite"
        _puts_during_a_slow_upload(store, monkeypatch)


def test_a_slow_upload_holds_up_no_other_put_s3(s3_store: tuple[str, str, dict[str, Any]],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    url, catalog, options = s3_store
    with artifactstore.open(url, catalog, **options) as store:
        assert store.catalog.dialect == "sqlite"
        _puts_during_a_slow_upload(store, monkeypatch)


CLAIMS_AND_DIES = textwrap.dedent("""
    import os, sys
    from artifactstore.catalog.sql import SQLCatalog
    cat = SQLCatalog(sys.argv[1])
    def decide(existing, others):
        print("deciding", flush=True)
        os._exit(0)  # killed while it uploads: the claim is never dropped
    cat.lease_digest(sys.argv[2], 3600.0, decide, claim_seconds=1.0)
""")


def test_a_killed_writers_claim_is_taken_over(tmp_path: Path) -> None:
    import hashlib
    import time

    from artifactstore.catalog.sql import SQLCatalog

    url = f"sqlite:///{tmp_path / 'catalog.db'}"
    sha = hashlib.sha256(b"claimed by a writer that dies").hexdigest()
    cat = SQLCatalog(url)
    try:
        script = tmp_path / "claims.py"
        script.write_text(CLAIMS_AND_DIES)
        out = subprocess.run([sys.executable, str(script), url, sha], check=True, capture_output=True,
                             text=True).stdout
        assert "deciding" in out
        t0 = time.monotonic()
        _token, others = cat.lease_digest(sha, 3600.0, lambda _e, o: o)
        assert others == 1  # the dead writer's lease (its blob, if any, is reused)
        assert time.monotonic() - t0 < 20  # its claim lapsed after about a second
    finally:
        cat.close()


def test_a_failed_claim_drop_after_the_upload_does_not_fail_the_put(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    # In-process fault: a catalog write failing right after a successful upload is not something
    # a real SQLite file produces on demand. The blob is published and leased; the claim lapses.
    from artifactstore.catalog.sql import SQLCatalog
    from artifactstore.errors import CatalogError

    real = SQLCatalog.write

    def write(self: SQLCatalog, fn: Any) -> Any:
        if getattr(fn, "__name__", "") == "<lambda>" and "_drop_claim" in fn.__code__.co_names \
                and "release" not in fn.__code__.co_names:
            raise CatalogError("simulated: database is locked")
        return real(self, fn)

    with artifactstore.open("memory://blobs-claim-drop", catalog=f"sqlite:///{tmp_path}/c.db") as store:
        monkeypatch.setattr(SQLCatalog, "write", write)
        art = store.put(b"published despite the failed claim drop", name="x.txt", artifact_type="other")
        monkeypatch.undo()
        assert store.read_bytes(art.ref) == b"published despite the failed claim drop"
        assert store.verify().ok


def test_every_caller_acts_on_the_one_flock_probe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A thread that read "not probed yet", then was slow (here: in creating the digest's folder)
    # while another found flock missing, took the flock path beside the others' catalog claims:
    # two mutexes for one digest, a content stored twice.
    import time

    import artifactstore.blobs as blobs_module

    monkeypatch.setattr(blobs_module, "_flock_works", lambda _path: False)
    calls: list[int] = []
    real_mkdir = Path.mkdir

    def mkdir(self: Path, *args: Any, **kwargs: Any) -> None:
        calls.append(1)
        if len(calls) > 1:
            time.sleep(0.05)  # every caller but the first is slow
        real_mkdir(self, *args, **kwargs)

    with artifactstore.open(tmp_path / "s") as s:
        layout = s.blobs.layout
        assert isinstance(layout, LooseLayout)
        results: list[Path | None] = []
        barrier = threading.Barrier(8)

        def ask() -> None:
            barrier.wait()
            results.append(layout.lock_dir("cd" * 32))

        monkeypatch.setattr(Path, "mkdir", mkdir)
        threads = [threading.Thread(target=ask) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        monkeypatch.undo()
        assert len(calls) > 1  # the window was open
        assert results == [None] * 8
