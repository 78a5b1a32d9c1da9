"""Put/get round trips, dedup, versions, aliases, find and stats on the embedded default."""

from __future__ import annotations

import datetime as dt
import io
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO, cast

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import artifactstore
from artifactstore import Artifact, ArtifactStore, ArtifactType, ChampionRecord
from artifactstore.errors import ArtifactNotFoundError
from helpers import sql_catalog

CODECS = ["none", "gzip", "zstd", "zip", "tar.gz", "auto"]


class _NonSeekable(io.RawIOBase):
    def __init__(self, data: bytes) -> None:
        self._b = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        data = self._b.read(len(b))
        b[: len(data)] = data
        return len(data)


def _source(kind: str, data: bytes, tmp: Path) -> str | Path | bytes | bytearray | BinaryIO:
    if kind == "path":
        p = tmp / "src.bin"
        p.write_bytes(data)
        return p
    if kind == "str":
        p = tmp / "src-str.bin"
        p.write_bytes(data)
        return str(p)
    if kind == "bytes":
        return data
    if kind == "bytearray":
        return bytearray(data)
    if kind == "seekable":
        return io.BytesIO(data)
    # put() reads any binary file object (a raw stream too); its Source type spells that BinaryIO
    return cast(BinaryIO, _NonSeekable(data))


SOURCES = ["path", "str", "bytes", "bytearray", "seekable", "stream"]


@pytest.fixture(scope="module")
def shared_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ArtifactStore]:
    with artifactstore.open(tmp_path_factory.mktemp("prop") / "s") as s:
        yield s


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    data=st.one_of(st.binary(max_size=3000), st.text(max_size=2000).map(str.encode),
                   st.integers(0, 200_000).map(lambda n: b"episode,reward,steps\n" * (n // 20))),
    codec=st.sampled_from(CODECS),
    kind=st.sampled_from(SOURCES),
)
def test_round_trip_every_codec_and_source(shared_store: ArtifactStore, tmp_path: Path, data: bytes, codec: str, kind: str) -> None:
    art = shared_store.put(_source(kind, data, tmp_path), artifact_type="log", name="prop/data.bin", codec=codec)
    assert art.size == len(data)
    assert shared_store.read_bytes(art.id) == data
    out = shared_store.get(art.id, tmp_path / "out.bin")
    assert out.read_bytes() == data
    with shared_store.open(art.id) as f:
        chunks = []
        while c := f.read(777):
            chunks.append(c)
    assert b"".join(chunks) == data


@pytest.mark.parametrize("codec", CODECS)
def test_each_codec_large_round_trip(store: ArtifactStore, tmp_path: Path, codec: str) -> None:
    data = b"".join(b"%d,%f,%d\n" % (i, i * 0.37, i % 7) for i in range(300_000))
    src = tmp_path / "episodes.csv"
    src.write_bytes(data)
    art = store.put(src, artifact_type="episode_data", codec=codec)
    assert store.get(art.id, tmp_path / "back.csv").read_bytes() == data
    if codec not in ("none",):
        assert art.stored_size < art.size / 2


def test_auto_stores_incompressible_raw_and_compressible_with_zstd(store: ArtifactStore) -> None:
    import os

    video = store.put(os.urandom(300_000), artifact_type=ArtifactType.VIDEO, name="fail.json")  # misleading name
    text = store.put(b"step,reward\n" * 50_000, artifact_type="log", name="run.mp4")
    assert video.codec == "none" and video.stored_size == video.size
    assert text.codec == "zstd" and text.stored_size < text.size / 10


def test_dedup_same_bytes_one_blob(store: ArtifactStore) -> None:
    data = b"identical content" * 1000
    a = store.put(data, artifact_type="report", name="a.json")
    b = store.put(data, artifact_type="log", name="other/b.txt", codec="gzip")
    c = store.put(io.BytesIO(data), artifact_type="video", name="c.bin", codec="none")
    assert a.blob_key == b.blob_key == c.blob_key
    blobs = [o for o in store.backend.list("blobs/")]
    assert len(blobs) == 1
    st = store.stats()
    assert st.total_artifacts == 3 and st.unique_blobs == 1
    assert st.total_size_bytes == 3 * len(data) and st.unique_size_bytes == len(data)
    assert b.codec == a.codec  # the reused blob's codec, whatever was asked
    assert store.read_bytes(b.id) == data


def test_versions_and_refs(store: ArtifactStore) -> None:
    ids = [store.put(f"v{i}".encode(), artifact_type="report", name="suite/report.json").id for i in range(1, 4)]
    assert [a.version for a in store.versions("suite/report.json")] == [1, 2, 3]
    assert store.resolve("suite/report.json").id == ids[2]
    assert store.read_bytes("suite/report.json@v1") == b"v1"
    assert store.read_bytes("suite/report.json@2") == b"v2"
    store.set_alias("suite/report.json@v2", "prod")
    assert store.resolve("suite/report.json:prod").id == ids[1]
    store.set_alias("suite/report.json@v3", "prod")  # moving an alias
    assert store.resolve("suite/report.json:prod").id == ids[2]
    assert store.aliases(ids[2]) == ["prod"]
    # deleting the latest never hands its version number out again
    store.delete(ids[2])
    assert store.resolve("suite/report.json").id == ids[1]
    with pytest.raises(ArtifactNotFoundError):
        store.resolve("suite/report.json:prod")
    assert store.put(b"v4", artifact_type="report", name="suite/report.json").version == 4
    with pytest.raises(ArtifactNotFoundError):
        store.resolve("suite/report.json@v9")


def test_get_into_folder_and_atomic_replace(store: ArtifactStore, tmp_path: Path) -> None:
    art = store.put(b"new content", artifact_type="report", name="deep/name/report.json")
    out = store.get(art.id, tmp_path)
    assert out == tmp_path / "report.json" and out.read_bytes() == b"new content"
    target = tmp_path / "existing.json"
    target.write_bytes(b"old")
    store.get(art.ref, target)
    assert target.read_bytes() == b"new content"
    assert not list(tmp_path.glob(".*.part"))


def test_find_filters_and_count(store: ArtifactStore) -> None:
    t0 = dt.datetime.now(dt.timezone.utc)
    for i in range(12):
        store.put(
            f"{i}".encode(), artifact_type="video" if i % 3 == 0 else "report", name=f"r{i}.json",
            model_id=f"m{i % 2}", evaluation_id=f"e{i % 4}", suite_name="s", map_name=f"map{i % 3}",
            episode_id=f"ep{i}", tags=["a"] if i % 2 else ["a", "b"], metadata={"seed": i % 5, "cfg": {"lr": 0.1}},
        )
    assert store.count() == 12
    assert store.count(model_id="m0") == 6
    assert {a.artifact_type for a in store.find(artifact_type=ArtifactType.VIDEO)} == {"video"}
    assert store.count(tags=["b"]) == 6
    assert store.count(tags=["a", "b"], tags_mode="all") == 6
    assert store.count(tags=["a", "zzz"], tags_mode="any") == 12
    assert store.count(tags=["a", "zzz"], tags_mode="all") == 0
    assert store.count(metadata={"seed": 2}) == 2  # i = 2, 7
    assert store.count(metadata={"cfg": {"lr": 0.1}}) == 12
    assert store.count(metadata={"seed": "2"}) == 0  # exact JSON match: string != int
    assert store.count(map_name="map1", episode_id="ep4") == 1
    newest = store.find(limit=3)
    assert [a.name for a in newest] == ["r11.json", "r10.json", "r9.json"]
    assert [a.name for a in store.find(order_by="created_at", limit=2)] == ["r0.json", "r1.json"]
    assert [a.name for a in store.find(order_by="created_at", limit=2, offset=2)] == ["r2.json", "r3.json"]
    assert store.count(created_after=t0) == 12
    assert store.count(created_before=t0) == 0
    assert store.find(name="r5.json")[0].episode_id == "ep5"
    assert store.count(name_prefix="r1") == 3  # r1, r10, r11


def test_stats_in_sql(store: ArtifactStore) -> None:
    store.put(b"x" * 10_000, artifact_type="log", name="a", model_id="m1", codec="zstd")
    store.put(b"x" * 10_000, artifact_type="log", name="b", model_id="m2")
    store.put(b"y" * 100, artifact_type="plot", name="c", codec="none")
    st = store.stats()
    assert st.total_artifacts == 3 and st.unique_blobs == 2
    assert st.artifacts_by_type == {"log": 2, "plot": 1}
    assert st.artifacts_by_model == {"m1": 1, "m2": 1}
    assert st.dedup_saved_bytes == 10_000
    assert st.stored_size_bytes < 200 + 100


def test_store_is_thread_safe_and_context_manager(tmp_path: Path) -> None:
    with artifactstore.open(tmp_path / "s") as s:
        errors: list[BaseException] = []

        def work(t: int) -> None:
            try:
                for i in range(20):
                    a = s.put(f"{t}-{i}".encode(), artifact_type="log", name=f"t{t}/x.txt")
                    assert s.read_bytes(a.id) == f"{t}-{i}".encode()
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(t,)) for t in range(6)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        assert not errors
        assert s.count() == 120
        assert [a.version for a in s.versions("t3/x.txt")] == list(range(1, 21))


def test_put_many_one_transaction_and_one_segment(store: ArtifactStore) -> None:
    before = set(store.manifests.segments())
    items = [{"source": f"item {i}".encode(), "artifact_type": "log", "name": f"batch/{i}.txt", "tags": ["b"]}
             for i in range(50)]
    arts = store.put_many(items)
    assert len(arts) == 50 and store.count(tags=["b"]) == 50
    entries = [e for k in store.manifests.segments() for e in store.manifests.read_segment(k)]
    kinds = [e["kind"] for e in entries]
    assert kinds.count("artifact") == 50 and kinds.count("commit") == 1  # one batch, one commit marker
    assert len({e["batch"] for e in entries}) == 1
    assert len(set(store.manifests.segments()) - before) <= 1


def test_put_many_invalid_item_writes_nothing(store: ArtifactStore) -> None:
    from artifactstore.errors import InvalidNameError

    items = [{"source": b"ok", "artifact_type": "log", "name": "ok.txt"},
             {"source": b"bad", "artifact_type": "log", "name": "../escape.txt"}]
    with pytest.raises(InvalidNameError):
        store.put_many(items)
    assert store.count() == 0
    assert list(store.backend.list("blobs/")) == []


def test_put_many_mixed_sizes_keep_their_order(store: ArtifactStore, tmp_path: Path) -> None:
    # small sources go through the calling thread, large ones through the pool: the result is in
    # the order given either way
    from artifactstore.store.writing import INLINE_MAX

    sizes = [10, INLINE_MAX + 1, 5, INLINE_MAX, 3 * INLINE_MAX, 0, 7]
    paths = []
    for i, n in enumerate(sizes):
        p = tmp_path / f"src{i}.bin"
        p.write_bytes(bytes([i]) * n)
        paths.append(p)
    arts = store.put_many([{"source": p, "artifact_type": "log", "name": f"mixed/{i}"} for i, p in enumerate(paths)])
    assert [a.name for a in arts] == [f"mixed/{i}" for i in range(len(sizes))]
    assert [a.size for a in arts] == sizes
    for a, p in zip(arts, paths, strict=True):
        assert store.read_bytes(a.id) == p.read_bytes()


class _FailingReader(io.BytesIO):
    # seekable, so its size is known: small, it is stored in the calling thread, before the rest
    def read(self, n: int | None = -1) -> bytes:
        raise OSError("the source broke")


def test_put_many_failing_source_commits_nothing_and_closes_every_file(store: ArtifactStore, tmp_path: Path) -> None:
    paths = []
    for i in range(6):
        p = tmp_path / f"s{i}.txt"
        p.write_bytes(f"content {i}".encode())
        paths.append(p)
    items: list[dict[str, Any]] = [{"source": p, "artifact_type": "log", "name": f"f/{i}"} for i, p in enumerate(paths)]
    items.insert(2, {"source": _FailingReader(b"ten bytes!"), "artifact_type": "log", "name": "f/broken"})
    with pytest.raises(OSError, match="the source broke"):
        store.put_many(items)
    assert store.count() == 0
    # every source put_many opened is closed (an unclosed file would be a ResourceWarning: an error here)
    import gc as _gc

    _gc.collect()
    assert store.put_many(items[:2] + items[3:])[0].name == "f/0"


def test_memory_backend(tmp_path: Path) -> None:
    with artifactstore.open("memory://test-memory-backend") as s:
        a = s.put(b"in memory", artifact_type="log", name="m.txt")
        assert s.read_bytes("m.txt") == b"in memory"
        assert s.get(a.id, tmp_path / "m.txt").read_bytes() == b"in memory"
        assert s.verify().ok


def test_hooks_fire(tmp_path: Path) -> None:
    from artifactstore import hookimpl
    from artifactstore.plugins import build_registry

    seen: list[tuple[str, str]] = []

    class Listener:
        @hookimpl
        def artifactstore_artifact_stored(self, store: ArtifactStore, artifact: Artifact) -> None:
            seen.append(("stored", artifact.id))

        @hookimpl
        def artifactstore_artifact_deleted(self, store: ArtifactStore, artifact: Artifact) -> None:
            seen.append(("deleted", artifact.id))

        @hookimpl
        def artifactstore_champion_promoted(self, store: ArtifactStore, champion: ChampionRecord,
                                            previous: ChampionRecord | None) -> None:
            seen.append(("champion", champion.model_id))

    reg = build_registry(autoload=False, plugins=[Listener()])
    with artifactstore.open(tmp_path / "s", registry=reg) as s:
        a = s.put(b"x", artifact_type="log", name="x")
        s.promote_champion("m1", global_score=1.0, success_rate=1.0)
        s.delete(a.id)
    assert seen == [("stored", a.id), ("champion", "m1"), ("deleted", a.id)]


def test_redact_keeps_sqlite_paths_and_hides_secrets() -> None:
    from artifactstore.redact import redact_url

    assert redact_url("sqlite:////tmp/x/catalog.db") == "sqlite:////tmp/x/catalog.db"
    assert redact_url("postgresql://user:hunter2@db:5432/x") == "postgresql://***@db:5432/x"
    assert "s3cr3t" not in redact_url("https://acct.blob.core.windows.net/c?sv=1&sig=s3cr3t")


def test_pseudo_file_names_are_not_artifact_names(store: ArtifactStore) -> None:
    class Stdin(io.BytesIO):
        name = "<stdin>"

    a = store.put(Stdin(b"piped"), artifact_type="log")
    assert a.name == a.id


def test_get_into_missing_folder_is_refused(store: ArtifactStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from artifactstore.errors import InvalidInputError

    a = store.put(b"x", artifact_type="log", name="x.txt")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InvalidInputError):
        store.get(a.id, "newdir/")
    assert not (tmp_path / "newdir").exists()


def test_reader_stopping_at_exact_size_is_still_verified(store: ArtifactStore) -> None:
    from artifactstore.errors import IntegrityError

    a = store.put(b"A" * 1000, artifact_type="log", name="exact", codec="none")
    path = store.backend.local_path(a.blob_key)
    assert path is not None  # a local store: blobs are files
    path.write_bytes(b"B" * 1000)
    with store.open(a.id) as f, pytest.raises(IntegrityError):
        f.read(1000)  # never asks for EOF


def test_iter_all_pages_by_id_even_when_created_at_disagrees(store: ArtifactStore) -> None:
    import sqlalchemy as sa

    arts = [store.put(f"{i}".encode(), artifact_type="log", name=f"n{i}") for i in range(25)]
    # writers on several machines: commit time order is not id order
    with sql_catalog(store).engine.begin() as c:
        for k, a in enumerate(arts):
            c.execute(sa.text("update artifacts set created_at = :t where id = :i"), {"t": 1e9 - k, "i": a.id})
    assert [a.id for a in store.catalog.iter_all(batch=4)] == sorted(a.id for a in arts)


def test_ranged_reads_through_open(store: ArtifactStore) -> None:
    import os as _os

    data = _os.urandom(3 << 20)
    raw = store.put(data, artifact_type="video", name="v.mp4", codec="none")
    with store.open(raw.id) as f:
        assert f.seekable()
        f.seek(1_000_000)
        assert f.read(4096) == data[1_000_000:1_004_096]
        f.seek(10)
        assert f.read(5) == data[10:15] and f.tell() == 15
    with store.open(raw.id) as f:  # sequential reads stay verified
        assert f.read() == data
    packed = store.put(b"csv,row\n" * 10_000, artifact_type="log", name="l.csv", codec="zstd")
    with store.open(packed.id) as f:
        assert not f.seekable()
        with pytest.raises(io.UnsupportedOperation):
            f.seek(100)
