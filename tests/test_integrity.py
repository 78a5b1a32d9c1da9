"""Integrity: a flipped byte is caught on every read path and by verify; reindex restores everything."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import artifactstore
from artifactstore import ArtifactStore
from artifactstore.errors import BlobMissingError, CorruptDataError, IntegrityError
from helpers import snapshot, sql_catalog


def _flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("codec", ["none", "zstd", "gzip"])
def test_flipped_byte_caught_on_read_and_verify(store: ArtifactStore, tmp_path: Path, codec: str) -> None:
    payload = os.urandom(50_000) if codec == "none" else b"reward,steps\n" * 20_000
    art = store.put(payload, artifact_type="log", name="x.bin", codec=codec)
    ok = store.put(b"untouched", artifact_type="log", name="ok.bin", codec="none")
    blob = store.backend.local_path(art.blob_key)
    assert blob is not None
    _flip(blob, len(blob.read_bytes()) // 2)
    # Raw blobs fail the SHA-256 check; compressed ones fail to decode (CorruptDataError,
    # an IntegrityError): either way the message names the artifact.
    with pytest.raises(IntegrityError) as ei:
        store.read_bytes(art.id)
    assert art.id in str(ei.value)
    if codec != "none":
        assert isinstance(ei.value, CorruptDataError) and ei.value.codec == codec
    dest = tmp_path / "dest.bin"
    dest.write_bytes(b"previous")
    with pytest.raises(IntegrityError):
        store.get(art.id, dest)
    assert dest.read_bytes() == b"previous"  # dest untouched
    assert not list(tmp_path.glob(".*.part"))
    report = store.verify()
    assert report.corrupt == [art.id]
    assert report.missing == []
    assert ok.id in report.checked and not report.ok


def test_same_size_corruption_raises_integrity_error(store: ArtifactStore) -> None:
    art = store.put(b"A" * 4096, artifact_type="log", name="a", codec="none")
    blob = store.backend.local_path(art.blob_key)
    assert blob is not None
    blob.write_bytes(b"B" * 4096)
    with pytest.raises(IntegrityError) as ei:
        store.read_bytes(art.id)
    assert ei.value.artifact_id == art.id and ei.value.expected == art.sha256


def test_missing_blob_reported(store: ArtifactStore) -> None:
    art = store.put(b"soon gone", artifact_type="log", name="g", codec="none")
    path = store.backend.local_path(art.blob_key)
    assert path is not None
    path.unlink()
    with pytest.raises(BlobMissingError):
        store.read_bytes(art.id)
    with pytest.raises(FileNotFoundError):  # BlobMissingError is a FileNotFoundError too
        store.read_bytes(art.id)
    assert store.verify().missing == [art.id]


def test_reindex_after_deleting_catalog_restores_everything(tmp_path: Path) -> None:
    root = tmp_path / "s"
    with artifactstore.open(root) as s:
        arts = []
        for i in range(30):
            arts.append(s.put(f"content {i % 7}".encode() * 50, artifact_type="report" if i % 2 else "log",
                              name=f"suite/{i % 4}/r.json", model_id=f"m{i % 3}", evaluation_id=f"e{i}",
                              suite_name="suite", map_name=f"map{i % 4}", episode_id=f"ep{i}",
                              tags=["t", f"t{i % 3}"], metadata={"i": i, "nested": {"a": [1, 2]}}))
        s.put_many([{"source": f"b{i}".encode(), "artifact_type": "log", "name": f"batch/{i}"} for i in range(10)])
        s.set_alias("suite/1/r.json@v2", "best")
        s.delete(arts[0].id)
        s.record_evaluation("e1", "m1", global_score=0.5, success_rate=0.7, artifacts=[arts[1].id],
                            metadata={"k": 1})
        s.promote_champion("m1", evaluation_id="e1", global_score=0.5, success_rate=0.7, artifacts=[arts[1].id])
        s.promote_champion("m2", global_score=0.9, success_rate=0.8)
        before = snapshot(s)
        evals_before = [e.to_dict() for e in s.evaluations()]
        champs_before = [c.to_dict() for c in s.champion_history()]
        alias_target = s.resolve("suite/1/r.json:best").id
    for f in root.glob("catalog.db*"):
        f.unlink()
    with artifactstore.open(root) as s:  # a fresh catalog next to manifests reindexes by itself
        assert snapshot(s) == before
        assert s.resolve("suite/1/r.json:best").id == alias_target
        assert [e.to_dict() for e in s.evaluations()] == evals_before
        assert [c.to_dict() for c in s.champion_history()] == champs_before
        assert s.count() == 39
        # and an explicit reindex on a live catalog is idempotent
        assert s.reindex() == 39
        assert snapshot(s) == before
        # versions keep counting from where they were, deleted ones included
        assert s.put(b"new", artifact_type="log", name="suite/0/r.json").version == 9


def test_reindex_restores_artifact_whose_blob_is_missing(tmp_path: Path) -> None:
    root = tmp_path / "s"
    with artifactstore.open(root) as s:
        a = s.put(b"blob will vanish", artifact_type="log", name="v", codec="none")
        p = s.backend.local_path(a.blob_key)
        assert p is not None
        p.unlink()
        assert s.reindex() == 1
        assert s.resolve(a.id) == a
        assert s.verify().missing == [a.id]


def test_torn_manifest_line_is_skipped(tmp_path: Path) -> None:
    root = tmp_path / "s"
    with artifactstore.open(root) as s:
        a = s.put(b"complete", artifact_type="log", name="c")
        seg = s.manifests.segments()[0]
    path = root / seg
    with open(path, "ab") as f:
        f.write(b'{"kind": "artifact", "id": "0190')  # a killed writer's half line
    with artifactstore.open(root) as s:
        assert s.reindex() == 1
        assert s.resolve(a.id).name == "c"


def test_fsync_option_round_trip(tmp_path: Path) -> None:
    with artifactstore.open(tmp_path / "durable", fsync=True) as s:
        a = s.put(b"durable bytes" * 100, artifact_type="log", name="d")
        assert s.read_bytes(a.id) == b"durable bytes" * 100
        assert sql_catalog(s).engine.url.drivername.startswith("sqlite")


def test_zero_copy_paths_verify(store: ArtifactStore, tmp_path: Path) -> None:
    data = os.urandom(9 << 20)  # above the zero-copy threshold, raw
    src = tmp_path / "big.bin"
    src.write_bytes(data)
    art = store.put(src, artifact_type="model_checkpoint", name="ckpt.bin")
    assert art.codec == "none" and art.size == len(data)
    assert store.get(art.id, tmp_path / "back.bin").read_bytes() == data
    blob = store.backend.local_path(art.blob_key)
    assert blob is not None  # a local store: blobs are files
    _flip(blob, 5 << 20)
    dest = tmp_path / "dest.bin"
    dest.write_bytes(b"keep me")
    with pytest.raises(IntegrityError):
        store.get(art.id, dest)
    assert dest.read_bytes() == b"keep me" and not list(tmp_path.glob(".*.part"))
