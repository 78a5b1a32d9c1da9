"""sync: incremental, verified copies between stores on different backends."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import artifactstore
from artifactstore import ArtifactStore
from artifactstore.errors import InvalidInputError
from artifactstore.ids import new_id
from artifactstore.sync import sync


@pytest.fixture
def src(tmp_path: Path) -> Iterator[ArtifactStore]:
    with artifactstore.open(tmp_path / "src") as s:
        yield s


@pytest.fixture
def mem(tmp_path: Path) -> Iterator[ArtifactStore]:
    with artifactstore.open(f"memory://sync-{new_id()}", tmp_path / "memcat.db") as s:
        yield s


@pytest.fixture
def local_dst(tmp_path: Path) -> Iterator[ArtifactStore]:
    with artifactstore.open(tmp_path / "dst") as s:
        yield s


def _fill(store: ArtifactStore) -> list[artifactstore.Artifact]:
    arts = [
        store.put(b"step,reward\n" + b"1,0.25\n" * 20000, artifact_type="episode_data", name="m1/episodes.csv",
                  model_id="m1", tags=["csv"], metadata={"seed": 1}),
        store.put(os.urandom(400_000), artifact_type="video", name="m1/fail.mp4", model_id="m1"),
        store.put(b'{"score": 0.5}', artifact_type="report", name="report.json", model_id="m1", codec="gzip"),
        store.put(b'{"score": 0.7}', artifact_type="report", name="report.json", model_id="m2", codec="zip"),
        store.put(b"config: 1\n" * 300, artifact_type="configuration", name="cfg.yaml", codec="tar.gz"),
        store.put(b"", artifact_type="log", name="empty.log"),
        store.put(b'{"score": 0.5}', artifact_type="report", name="copy-of-report.json"),  # dedup: shares a blob
    ]
    store.record_evaluation("e1", "m1", global_score=0.5, success_rate=0.6, artifacts=[arts[2].id])
    store.promote_champion("m1", evaluation_id="e1", global_score=0.5, success_rate=0.6, artifacts=[arts[2].id])
    store.set_alias(arts[3].id, "best")
    return arts


def _view(store: ArtifactStore) -> list[dict[str, Any]]:
    out = []
    for a in store.find(order_by="created_at"):
        d = a.to_dict()
        d.pop("stored_size")
        out.append(d)
    return out


def _flip_byte(store: ArtifactStore, key: str, offset: int = 100) -> None:
    data = bytearray(store.backend.read_bytes(key))
    data[min(offset, len(data) - 1)] ^= 0x01
    store.backend.write_bytes(key, bytes(data))


def test_sync_twice_second_copies_nothing(src: ArtifactStore, mem: ArtifactStore) -> None:
    _fill(src)
    first = sync(src, mem)
    assert first.ok
    assert first.blobs_copied == len({a.blob_key for a in src.find()}) == 6
    assert first.bytes_copied == sum(o.size for o in src.backend.list("blobs/"))
    assert first.segments_copied >= 2 and first.reindexed == 7
    second = sync(src, mem)
    assert (second.blobs_copied, second.bytes_copied, second.segments_copied, second.segment_bytes) == (0, 0, 0, 0)
    assert second.reindexed is None and second.ok
    assert _view(mem) == _view(src)


def test_sync_is_incremental(src: ArtifactStore, mem: ArtifactStore) -> None:
    _fill(src)
    sync(src, mem)
    new = src.put(os.urandom(50_000), artifact_type="plot", name="plot.png")  # appends to the same local log
    report = sync(src, mem)
    assert report.blobs_copied == 1 and report.bytes_copied == src.backend.info(new.blob_key).size
    assert report.segments_copied == 1  # the grown manifest log, re-copied whole
    assert not report.conflicts
    assert mem.read_bytes(new.id) == src.read_bytes(new.id)
    assert sync(src, mem).blobs_copied == 0


def test_sync_into_empty_memory_store_then_reindex_and_verify(src: ArtifactStore, mem: ArtifactStore) -> None:
    arts = _fill(src)
    sync(src, mem, reindex=False)
    assert mem.count() == 0  # the catalog learns of them by reindexing
    assert mem.reindex() == len(arts)
    v = mem.verify()
    assert v.ok and v.checked == sorted(a.id for a in arts)
    for a in arts:
        assert mem.read_bytes(a.id) == src.read_bytes(a.id)
    assert _view(mem) == _view(src)
    assert mem.evaluation("e1").to_dict() == src.evaluation("e1").to_dict()
    assert [c.to_dict() for c in mem.champion_history()] == [c.to_dict() for c in src.champion_history()]
    assert mem.resolve("report.json:best").id == arts[3].id
    assert mem.resolve("report.json:champion").id == arts[2].id
    # The raw blobs are byte-for-byte the source's: copied, never re-encoded.
    for o in src.backend.list("blobs/"):
        assert mem.backend.read_bytes(o.key) == src.backend.read_bytes(o.key)


def test_corrupted_destination_blob_is_detected_and_repaired(src: ArtifactStore, local_dst: ArtifactStore) -> None:
    arts = _fill(src)
    sync(src, local_dst)
    victim = arts[1]  # stored uncompressed (random bytes): a flipped byte keeps the size
    _flip_byte(local_dst, victim.blob_key)
    assert victim.id in local_dst.verify().corrupt
    assert sync(src, local_dst).repaired == []  # a plain sync trusts same-size blobs
    report = sync(src, local_dst, repair=True)
    assert report.repaired == [victim.blob_key] and report.ok
    assert report.blobs_checked == 6 and report.blobs_copied == 1
    assert local_dst.verify().ok
    assert local_dst.read_bytes(victim.id) == src.read_bytes(victim.id)


def test_corrupted_compressed_destination_blob_is_repaired(src: ArtifactStore, mem: ArtifactStore) -> None:
    arts = _fill(src)
    sync(src, mem)
    for a in (arts[0], arts[2], arts[3], arts[4]):  # zstd, gzip, zip, tar.gz
        _flip_byte(mem, a.blob_key, offset=30)
    assert len(mem.verify().corrupt) == 5  # arts[6] shares arts[2]'s blob
    report = sync(src, mem, repair=True)
    assert sorted(report.repaired) == sorted(a.blob_key for a in (arts[0], arts[2], arts[3], arts[4]))
    assert mem.verify().ok


def test_truncated_or_missing_destination_blob_is_repaired_by_a_plain_sync(
    src: ArtifactStore, local_dst: ArtifactStore
) -> None:
    arts = _fill(src)
    sync(src, local_dst)
    truncated, missing = arts[1], arts[0]
    local_dst.backend.write_bytes(truncated.blob_key, local_dst.backend.read_bytes(truncated.blob_key)[:1000])
    local_dst.backend.delete(missing.blob_key)
    report = sync(src, local_dst)
    assert sorted(report.repaired) == sorted([truncated.blob_key, missing.blob_key])
    assert report.segments_copied == 0 and report.ok
    assert local_dst.verify().ok


def test_deleted_artifacts_stay_deleted(src: ArtifactStore, mem: ArtifactStore) -> None:
    arts = _fill(src)
    gone_before = src.put(os.urandom(10_000), artifact_type="log", name="short-lived.bin")
    src.delete(gone_before.id)
    sync(src, mem)
    assert mem.count() == len(arts)
    assert not mem.backend.exists(gone_before.blob_key)  # deleted before the first sync: blob not copied

    # Deleted in the source after a sync: gone from the destination after the next one.
    src.delete(arts[1].id)
    sync(src, mem)
    assert mem.count() == len(arts) - 1
    with pytest.raises(artifactstore.ArtifactNotFoundError):
        mem.resolve(arts[1].id)

    # Deleted in the destination: stays deleted through later syncs and a reindex.
    mem.delete(arts[0].id)
    src.put(b"more", artifact_type="log", name="more.log")
    report = sync(src, mem)
    assert report.reindexed == len(arts) - 1  # -2 deleted, +1 new
    assert mem.reindex() == len(arts) - 1
    ids = {a.id for a in mem.find()}
    assert arts[0].id not in ids and arts[1].id not in ids


def test_destination_keeps_its_own_artifacts(src: ArtifactStore, local_dst: ArtifactStore) -> None:
    _fill(src)
    own = local_dst.put(b"mine", artifact_type="log", name="report.json")
    sync(src, local_dst)
    assert local_dst.read_bytes(own.id) == b"mine"
    assert local_dst.count() == 8
    assert sorted(a.version for a in local_dst.versions("report.json")) == [1, 2, 3]


def test_sync_back_does_not_clobber_the_source_logs(src: ArtifactStore, local_dst: ArtifactStore) -> None:
    _fill(src)
    sync(src, local_dst)
    mine = local_dst.put(b"made in dst", artifact_type="log", name="dst.log")
    later = src.put(b"made in src later", artifact_type="log", name="src.log")  # src's log grows past dst's copy
    logs_before = {o.key: o.size for o in src.backend.list("manifests/")}
    back = sync(local_dst, src)
    assert back.ok and back.blobs_copied == 1
    after = {o.key: o.size for o in src.backend.list("manifests/")}
    assert all(after[k] == size for k, size in logs_before.items())  # src's own, longer log untouched
    assert src.read_bytes(mine.id) == b"made in dst" and src.read_bytes(later.id) == b"made in src later"
    assert sync(src, local_dst).ok and local_dst.read_bytes(later.id) == b"made in src later"
    assert {a.id for a in src.find()} == {a.id for a in local_dst.find()}


def test_corrupt_source_blob_is_not_copied(src: ArtifactStore, mem: ArtifactStore) -> None:
    arts = _fill(src)
    _flip_byte(src, arts[1].blob_key)
    report = sync(src, mem)
    assert report.corrupt_source == [arts[1].blob_key] and not report.ok
    assert not mem.backend.exists(arts[1].blob_key)
    v = mem.verify()
    assert v.missing == [arts[1].id] and not v.corrupt


def test_progress_reports_every_copied_byte(src: ArtifactStore, mem: ArtifactStore) -> None:
    _fill(src)
    seen: list[int] = []
    report = sync(src, mem, progress=seen.append)
    assert sum(seen) == report.bytes_copied > 0


def test_sync_verify_off_still_copies_everything(src: ArtifactStore, mem: ArtifactStore) -> None:
    arts = _fill(src)
    report = sync(src, mem, verify=False, workers=1)
    assert report.blobs_copied == 6 and mem.verify().ok and mem.count() == len(arts)


def test_sync_refuses_the_same_store(src: ArtifactStore, tmp_path: Path) -> None:
    with artifactstore.open(tmp_path / "src") as again, pytest.raises(InvalidInputError):
        sync(src, again)


def test_cli_sync(src: ArtifactStore, tmp_path: Path) -> None:
    import json

    from click.testing import CliRunner

    from artifactstore.cli import commands_archive
    from artifactstore.cli.main import cli

    if "sync" not in cli.commands:  # until main.COMMAND_MODULES lists the module
        commands_archive.register(cli)
    _fill(src)
    src.close()
    runner = CliRunner(env={"ARTIFACTSTORE_URL": None, "ARTIFACTSTORE_CATALOG": None})
    args = ["sync", str(tmp_path / "src"), str(tmp_path / "copy"), "--json"]
    first = runner.invoke(cli, args)
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout)["blobs_copied"] == 6
    second = runner.invoke(cli, args)
    data = json.loads(second.stdout)
    assert (data["blobs_copied"], data["bytes_copied"], data["ok"]) == (0, 0, True)
    missing = runner.invoke(cli, ["sync", str(tmp_path / "nowhere"), str(tmp_path / "copy")])
    assert missing.exit_code == 1 and "no artifact store" in missing.stderr
    with artifactstore.open(tmp_path / "copy") as copy:
        assert copy.count() == 7 and copy.verify().ok


# --- real object stores on loopback (moto, fake-gcs-server, Azurite) -----------------------


def _remote_round_trip(src: ArtifactStore, remote: Any, tmp_path: Path) -> None:
    arts = _fill(src)
    with artifactstore.open(remote.url, tmp_path / "remote-cat.db", **remote.storage_options) as r:
        first = sync(src, r)
        assert first.ok and first.blobs_copied == 6
        second = sync(src, r)
        assert (second.blobs_copied, second.bytes_copied, second.segments_copied) == (0, 0, 0)
        assert r.verify().ok and _view(r) == _view(src)
        _flip_byte(r, arts[1].blob_key)
        assert sync(src, r, repair=True).repaired == [arts[1].blob_key]
        with artifactstore.open(f"memory://sync-{new_id()}", tmp_path / "memcat2.db") as m:
            assert sync(r, m).ok  # remote -> another backend
            assert m.verify().ok and _view(m) == _view(src)


def test_sync_local_to_s3_and_on(src: ArtifactStore, s3_url: Any, tmp_path: Path) -> None:
    _remote_round_trip(src, s3_url, tmp_path)


def test_sync_local_to_gcs_and_on(src: ArtifactStore, gcs_url: Any, tmp_path: Path) -> None:
    _remote_round_trip(src, gcs_url, tmp_path)


def test_sync_local_to_azure_and_on(src: ArtifactStore, azure_url: Any, tmp_path: Path) -> None:
    _remote_round_trip(src, azure_url, tmp_path)


def test_conflicting_segment_is_reported_and_left_alone(src: ArtifactStore, mem: ArtifactStore) -> None:
    _fill(src)
    key = next(o.key for o in src.backend.list("manifests/"))
    mem.backend.write_bytes(key, b'{"kind": "something else"}\n')
    report = sync(src, mem)
    assert report.conflicts == [key] and not report.ok
    assert mem.backend.read_bytes(key) == b'{"kind": "something else"}\n'


def test_many_segments_in_small_batches(src: ArtifactStore, mem: ArtifactStore,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    import artifactstore.sync as sync_module

    monkeypatch.setattr(sync_module, "_BATCH_BYTES", 1)  # one segment per batch
    arts = [src.put(f"artifact {i}".encode(), artifact_type="log", name=f"log-{i}.txt") for i in range(5)]
    with artifactstore.open(src.url) as other_writer:  # a second writer: a second manifest log
        arts += [other_writer.put(b"from another writer", artifact_type="log", name="other.txt")]
    src.delete(arts[0].id)
    report = sync(src, mem, workers=4)
    assert report.ok and report.segments_copied == 3 and report.blobs_copied == 5
    assert {a.id for a in mem.find()} == {a.id for a in arts[1:]}
    assert mem.verify().ok
