"""Packs: small blobs of a put_many in one immutable file (artifactstore/packs.py), end to end.

Written, read, verified, deduplicated, collected and repacked by gc (with writers running),
rebuilt by reindex, survived by a kill at each of their crash points, and read by sync,
archives and checkout; a store written before packs (schema v7) still opens and reads.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing as mp
import os
import random
import threading
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

import artifactstore
from artifactstore.errors import CorruptDataError, IntegrityError
from artifactstore.packs import MAGIC, read_index, read_index_file
from helpers import sql_catalog


def _items(n: int, seed: int = 0, size: int = 2000) -> list[dict[str, Any]]:
    rnd = random.Random(seed)
    return [{"source": rnd.randbytes(size) if i % 2 else (b"line %d\n" % i) * (size // 8),
             "artifact_type": "log", "name": f"f{i}.txt", "metadata": {"i": i}} for i in range(n)]


def _packs(root: Path) -> list[Path]:
    return sorted((root / "packs").glob("*/*.pack"))


def _loose(root: Path) -> list[Path]:
    return sorted(p for p in (root / "blobs").rglob("*") if p.is_file())


def _dump_artifacts(store: artifactstore.ArtifactStore) -> list[tuple[Any, ...]]:
    return sorted((a.id, a.name, a.version, a.sha256, a.blob_key, a.codec) for a in store.catalog.iter_all())


def test_a_batch_of_small_blobs_is_one_pack_read_back_and_verified(tmp_path: Path) -> None:
    root = tmp_path / "s"
    items = _items(60)
    with artifactstore.open(root) as s:
        arts = s.put_many(items)
        assert len(_packs(root)) == 1 and _loose(root) == []
        for a, it in zip(arts, items, strict=True):
            assert s.read_bytes(a) == it["source"]
            assert a.blob_key.startswith(f"blobs/sha256/{a.sha256[:2]}/{a.sha256}")  # still the content address
        rep = s.verify()
        assert len(rep.checked) == 60 and not rep.corrupt and not rep.missing
        assert set(s.blobs.sizes()) == {a.blob_key for a in arts}
        members = read_index_file(_packs(root)[0])
        assert sorted(k for k, _o, _n in members) == sorted({a.blob_key for a in arts})
        # the same batch again: every blob shared, no new pack
        again = s.put_many(items)
        assert [a.blob_key for a in again] == [a.blob_key for a in arts] and len(_packs(root)) == 1


def test_one_content_in_a_batch_is_stored_once_whatever_the_codecs(tmp_path: Path) -> None:
    with artifactstore.open(tmp_path / "s") as s:
        data = b"same bytes\n" * 100
        arts = s.put_many([{"source": data, "artifact_type": "log", "name": f"m{i}",
                            "codec": ("none", "zstd", "gzip")[i % 3]} for i in range(6)]
                          + [{"source": b"other", "artifact_type": "log", "name": "o"}])
        assert len({a.blob_key for a in arts[:6]}) == 1 and len(s.blobs.sizes()) == 2


def test_a_batch_reuses_blobs_awaiting_gc_across_its_dedup_windows(tmp_path: Path) -> None:
    # More members than one dedup read takes (blobs.py reads them in windows): the stored
    # ones are found in every window, packed or loose, referenced or awaiting gc.
    root = tmp_path / "s"
    old = _items(300, seed=1)
    with artifactstore.open(root) as s:
        first = s.put_many(old)
        loose = s.put(b"a loose blob\n" * 50, artifact_type="log", name="loose.txt")
        s.delete_many([a.id for a in first[:200]] + [loose.id])  # unreferenced, not collected
        new = [{"source": b"new content %d\n" % i * 40, "artifact_type": "log", "name": f"n{i}"} for i in range(299)]
        batch = [*old, {"source": b"a loose blob\n" * 50, "artifact_type": "log", "name": "l2"}, *new, *old[:5]]
        arts = s.put_many(batch)
        assert [a.blob_key for a in arts[:300]] == [a.blob_key for a in first]
        assert arts[300].blob_key == loose.blob_key and len(_loose(root)) == 1
        assert [a.blob_key for a in arts[-5:]] == [a.blob_key for a in first[:5]]
        assert len(_packs(root)) == 2
        newest = max(_packs(root), key=lambda p: p.stat().st_mtime_ns)
        assert sorted(k for k, _o, _n in read_index_file(newest)) == sorted({a.blob_key for a in arts[301:600]})
        for a, it in zip(arts, batch, strict=True):
            assert s.read_bytes(a) == it["source"]
        rep = s.verify()
        assert not rep.corrupt and not rep.missing


def _put_many_proc(root: str, items: list[dict[str, Any]], barrier: Any, q: Any) -> None:
    with artifactstore.open(root) as s:
        barrier.wait()
        q.put([(a.sha256, a.blob_key) for a in s.put_many(items)])


def test_two_processes_packing_the_same_contents_store_each_once(tmp_path: Path) -> None:
    root = tmp_path / "s"
    artifactstore.open(root).close()
    items = _items(40, seed=3)
    ctx = mp.get_context("spawn")
    barrier, q = ctx.Barrier(2), ctx.Queue()
    procs = [ctx.Process(target=_put_many_proc, args=(str(root), items, barrier, q)) for _ in range(2)]
    for p in procs:
        p.start()
    results = [q.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    keys: dict[str, set[str]] = {}
    for sha, key in results[0] + results[1]:
        keys.setdefault(sha, set()).add(key)
    assert all(len(k) == 1 for k in keys.values()), keys  # one blob key per digest
    with artifactstore.open(root) as s:
        assert len(s.blobs.sizes()) == len(keys)
        assert not s.verify().corrupt


def test_a_damaged_member_is_caught_on_read_and_by_verify(tmp_path: Path) -> None:
    root = tmp_path / "s"
    with artifactstore.open(root) as s:
        arts = s.put_many(_items(10, size=4000))
        pack = _packs(root)[0]
        _key, off, n = next(m for m in read_index_file(pack) if m[0] == arts[3].blob_key)
        with open(pack, "r+b") as f:  # flip one byte in the middle of member 3
            f.seek(off + n // 2)
            b = f.read(1)
            f.seek(off + n // 2)
            f.write(bytes([b[0] ^ 0xFF]))
        with pytest.raises(IntegrityError):
            s.read_bytes(arts[3])
        rep = s.verify()
        assert rep.corrupt == [arts[3].id] and not rep.missing
        for a in arts[:3] + arts[4:]:
            assert hashlib.sha256(s.read_bytes(a)).hexdigest() == a.sha256
        # a put of the same bytes heals it (a loose copy, read before the damaged member)
        healed = s.put(_items(10, size=4000)[3]["source"], artifact_type="log", name="again")
        assert healed.blob_key == arts[3].blob_key
        assert hashlib.sha256(s.read_bytes(arts[3])).hexdigest() == arts[3].sha256


def test_gc_deletes_a_dead_pack_and_repacks_a_mostly_dead_one(tmp_path: Path) -> None:
    root = tmp_path / "s"
    with artifactstore.open(root) as s:
        arts = s.put_many(_items(40))
        before = _packs(root)
        for a in arts[:30]:
            s.delete(a.id)
        res = s.blobs.sweep(0)
        after = _packs(root)
        assert len(after) == 1 and after != before and res.swept == 30 and res.freed_bytes > 0
        assert len(read_index_file(after[0])) == 10
        for a in arts[30:]:
            assert hashlib.sha256(s.read_bytes(a)).hexdigest() == a.sha256
        assert not s.verify().corrupt
        kept = s.blobs.sweep(0)  # nothing more to do: 10 of 10 live
        assert kept.swept == 0 and _packs(root) == after
        for a in arts[30:]:
            s.delete(a.id)
        assert s.blobs.sweep(0).swept == 10
        assert _packs(root) == [] and sql_catalog(s).pack_rows() == []


def test_gc_with_grace_keeps_young_packs(tmp_path: Path) -> None:
    root = tmp_path / "s"
    with artifactstore.open(root) as s:
        arts = s.put_many(_items(5))
        for a in arts:
            s.delete(a.id)
        assert s.blobs.sweep(3600).swept == 0 and len(_packs(root)) == 1


def test_gc_repacking_beside_writers_loses_nothing(tmp_path: Path) -> None:
    root = tmp_path / "s"
    artifactstore.open(root).close()
    pool = _items(30, seed=7, size=1500)  # writers share contents: dedup onto packed members
    errors: list[BaseException] = []
    stop = threading.Event()
    kept: list[list[Any]] = [[] for _ in range(3)]

    def writer(w: int) -> None:
        rnd = random.Random(w)
        try:
            with artifactstore.open(root) as s:
                for _ in range(12):
                    batch = [dict(rnd.choice(pool), name=f"w{w}/{rnd.randrange(9)}") for _ in range(rnd.randrange(2, 8))]
                    arts = s.put_many(batch)
                    for a in arts:  # keep about a third, delete the rest: packs go mostly dead
                        if rnd.random() < 0.35:
                            kept[w].append(a)
                        else:
                            s.delete(a.id)
        except BaseException as exc:
            errors.append(exc)

    def collector() -> None:
        try:
            with artifactstore.open(root) as s:
                while not stop.is_set():
                    s.blobs.sweep(0)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(3)]
    gc_thread = threading.Thread(target=collector)
    gc_thread.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    stop.set()
    gc_thread.join(300)
    assert not errors, errors
    with artifactstore.open(root) as s:
        s.blobs.sweep(0)
        rep = s.verify()
        assert not rep.corrupt and not rep.missing
        for a in (a for ks in kept for a in ks):
            assert hashlib.sha256(s.read_bytes(a)).hexdigest() == a.sha256
        live = {a.blob_key for a in s.catalog.iter_all()}
        assert live <= set(s.blobs.sizes())


def test_reindex_rebuilds_the_pack_index_from_the_trailers(tmp_path: Path) -> None:
    root = tmp_path / "s"
    with artifactstore.open(root) as s:
        arts = s.put_many(_items(20))
        rows = sql_catalog(s).pack_rows()
        live = _dump_artifacts(s)
    fresh = tmp_path / "fresh.db"
    with artifactstore.open(root, f"sqlite:///{fresh}") as f:  # a new catalog: rebuilt at open
        assert sql_catalog(f).pack_rows() == rows and _dump_artifacts(f) == live
        assert all(f.read_bytes(a) for a in arts[1:])
    with artifactstore.open(root) as s:
        with sql_catalog(s).engine.begin() as conn:
            conn.execute(sa.text("DELETE FROM pack_members"))
        s.reindex()
        assert sql_catalog(s).pack_rows() == rows


def test_a_pack_with_a_hostile_trailer_is_skipped_by_reindex(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    root = tmp_path / "s"
    with artifactstore.open(root) as s:
        arts = s.put_many(_items(4))
        pack = _packs(root)[0]
        data = pack.read_bytes()
        n = int.from_bytes(data[-16:-8], "big")
        index = json.loads(data[-16 - n : -16])
        index["members"][0][0] = "blobs/sha256/../../../../etc/passwd"
        bad = json.dumps(index).encode()
        pack.write_bytes(data[: -16 - n] + bad + len(bad).to_bytes(8, "big") + MAGIC)
        s.reindex()
        assert "skipping pack" in caplog.text
        assert sql_catalog(s).pack_rows() == []
        rep = s.verify()
        assert sorted(rep.missing) == sorted(a.id for a in arts)  # reported, nothing read from elsewhere


@pytest.mark.parametrize("tail", [
    b"", b"x" * 10, b"\x00" * 8 + b"NOTAPACK", (10**12).to_bytes(8, "big") + MAGIC,
    b"{}" + (2).to_bytes(8, "big") + MAGIC,
    b'{"format":1,"members":[["blobs/sha256/00/' + b"0" * 64 + b'",0,99]]}',
    b'{"format":1,"members":[["blobs/sha256/00/' + b"0" * 64 + b'",-1,1]]}',
    b'{"format":1,"members":[["blobs/sha256/01/' + b"0" * 64 + b'",0,0]]}',
    b'{"format":1,"members":[["x",0,0]]}', b'{"format":1,"members":[[1,0,0]]}', b"\xff\xfe" * 4,
])
def test_read_index_refuses_malformed_trailers(tail: bytes) -> None:
    import io

    if tail.startswith(b"{") and not tail.endswith(MAGIC):
        tail = tail + len(tail).to_bytes(8, "big") + MAGIC
    with pytest.raises(CorruptDataError):
        read_index(io.BytesIO(tail), len(tail))


def _crash_writer(root: str, point: str, items: list[dict[str, Any]]) -> None:
    os.environ["ARTIFACTSTORE_CRASH_POINT"] = point
    with artifactstore.open(root) as s:
        s.put_many(items)


@pytest.mark.parametrize("point", ["pack-before-seal", "pack-after-seal", "pack-after-index", "after-blob-publish"])
def test_a_kill_while_packing_leaves_nothing_half_written(tmp_path: Path, point: str) -> None:
    root = tmp_path / "s"
    with artifactstore.open(root) as s:
        first = s.put_many(_items(6, seed=1))
    items = _items(8, seed=2)
    p = mp.get_context("spawn").Process(target=_crash_writer, args=(str(root), point, items))
    p.start()
    p.join(120)
    assert p.exitcode == -9, p.exitcode
    with artifactstore.open(root) as s:
        assert {a.id for a in s.catalog.iter_all()} == {a.id for a in first}  # nothing of the batch visible
        rep = s.verify()
        assert not rep.corrupt and not rep.missing
        live = _dump_artifacts(s)
    fresh = tmp_path / "fresh.db"
    with artifactstore.open(root, f"sqlite:///{fresh}") as f:
        assert _dump_artifacts(f) == live
    with artifactstore.open(root) as s:
        s.blobs.sweep(0)
        s.blobs.remove_stale_staging(0)
        assert len(_packs(root)) == 1  # the orphan pack collected, the first batch's kept
        assert list((root / "tmp").glob("pack-*")) == []
        again = s.put_many(items)
        assert [s.read_bytes(a) for a in again] == [it["source"] for it in items]


def test_a_store_written_before_packs_opens_migrates_and_reads(tmp_path: Path) -> None:
    root = tmp_path / "s"
    with artifactstore.open(root) as s:
        old = [s.put(it["source"], artifact_type="log", name=it["name"]) for it in _items(5)]
        with sql_catalog(s).engine.begin() as conn:  # as a v7 catalog was: no pack index
            conn.execute(sa.text("DROP TABLE pack_members"))
            conn.execute(sa.text("UPDATE as_meta SET value = '7' WHERE key = 'schema_version'"))
    assert _packs(root) == [] and len(_loose(root)) == 5
    with artifactstore.open(root) as s:
        assert [s.read_bytes(a) for a in old] == [it["source"] for it in _items(5)]
        new = s.put_many(_items(6, seed=9))
        assert len(_packs(root)) == 1 and all(s.read_bytes(a) for a in new[1:])
        assert not s.verify().corrupt


def test_sync_archive_and_checkout_read_packed_blobs(tmp_path: Path) -> None:
    from artifactstore.archive import create_archive, import_archive
    from artifactstore.checkout import checkout
    from artifactstore.sync import sync

    items = _items(12)
    with artifactstore.open(tmp_path / "src") as src:
        arts = src.put_many(items)
        with artifactstore.open(tmp_path / "dst") as dst:
            sync(src, dst)
            assert sorted(dst.read_bytes(a) for a in dst.catalog.iter_all()) == sorted(i["source"] for i in items)
            assert not dst.verify().corrupt
        create_archive(src, tmp_path / "a.tar.gz")
        with artifactstore.open(tmp_path / "imp") as imp:
            import_archive(imp, tmp_path / "a.tar.gz")
            assert sorted(imp.read_bytes(a) for a in imp.catalog.iter_all()) == sorted(i["source"] for i in items)
        checkout(src, tmp_path / "view", link=True)
        files = sorted(p for p in (tmp_path / "view").rglob("*") if p.is_file())
        assert sorted(p.read_bytes() for p in files) == sorted(i["source"] for i in items)
        raw = src.blobs.layout.open_read(arts[0].blob_key)  # a member's stored bytes, seekable
        with raw:
            raw.seek(5)
            head = raw.read(10)
        with src.blobs.layout.open_read(arts[0].blob_key) as again:
            assert head == again.read()[5:15]


def test_packs_over_a_postgresql_catalog(tmp_path: Path, pg_catalog_url: str) -> None:
    root = tmp_path / "s"
    with artifactstore.open(root, pg_catalog_url) as s:
        arts = s.put_many(_items(30))
        assert len(_packs(root)) == 1 and _loose(root) == []
        again = s.put_many(_items(30))  # shared, across the codecs auto chose
        assert [a.blob_key for a in again] == [a.blob_key for a in arts]
        for a in arts[:20]:
            s.delete(a.id)
        for a in again[:20]:
            s.delete(a.id)
        assert s.blobs.sweep(0).swept == 20  # repacked
        rows = sql_catalog(s).pack_rows()
        assert len(rows) == 10
        s.reindex()
        assert sql_catalog(s).pack_rows() == rows
        for a in arts[20:]:
            assert hashlib.sha256(s.read_bytes(a)).hexdigest() == a.sha256
        assert not s.verify().corrupt
