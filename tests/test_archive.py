"""Archives: round trips, and every kind of hostile archive rejected before the store is touched."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import artifactstore
from artifactstore import ArtifactStore
from artifactstore.archive import ARCHIVE_FORMAT, create_archive, import_archive
from artifactstore.errors import HostileArchiveError, IntegrityError, InvalidInputError
from artifactstore.ids import new_id

# --- fixtures ------------------------------------------------------------------------------


@pytest.fixture
def tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """tmp_path, with Python's temp dir moved inside it so that any temp file shows in its listing."""
    systmp = tmp_path / "systmp"
    systmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(systmp))
    return tmp_path


@pytest.fixture
def source(tmp: Path) -> Iterator[ArtifactStore]:
    with artifactstore.open(tmp / "source") as s:
        yield s


@pytest.fixture
def target(tmp: Path) -> Iterator[ArtifactStore]:
    with artifactstore.open(tmp / "target") as s:
        s.put(b"already here", artifact_type="log", name="existing.log")
        yield s


def _fill(store: ArtifactStore) -> list[artifactstore.Artifact]:
    arts = [
        store.put(b"episode,reward\n" + b"1,0.5\n" * 5000, artifact_type="episode_data",
                  name="suite-a/map-1/episodes.csv", model_id="m1", evaluation_id="e1", suite_name="suite-a",
                  map_name="map-1", tags=["final", "csv"], metadata={"seed": 3, "nested": {"a": [1, 2.5, None]}}),
        store.put(os.urandom(2_500_000), artifact_type="video", name="failures/ep7.mp4", model_id="m1",
                  episode_id="ep7", metadata={"fps": 30}),
        store.put(b"", artifact_type="log", name="empty.log"),
        store.put(b'{"score": 1}', artifact_type="report", name="report.json", model_id="m1"),
        store.put(b'{"score": 2}', artifact_type="report", name="report.json", model_id="m1", codec="gzip"),
        store.put("ünïcode ✓".encode(), artifact_type="report", name="naïve/résumé.txt", codec="zip"),
    ]
    store.record_evaluation("e1", "m1", global_score=0.8, success_rate=0.9, metrics={"reward": 1.5},
                            artifacts=[arts[0].id, arts[3].id], metadata={"note": "x"}, repro={"git": "abc"})
    store.promote_champion("m1", evaluation_id="e1", global_score=0.8, success_rate=0.9, artifacts=[arts[3].id])
    return arts


_SAME = ("id", "name", "artifact_type", "sha256", "size", "created_at", "model_id", "evaluation_id", "suite_name",
         "map_name", "episode_id", "tags", "metadata", "version")


def _same(a: artifactstore.Artifact) -> dict[str, Any]:
    d = a.to_dict()
    return {k: d[k] for k in _SAME}


# --- round trips ---------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["tar.gz", "tar.zst"])
def test_round_trip(source: ArtifactStore, tmp: Path, fmt: str) -> None:
    arts = _fill(source)
    info = create_archive(source, tmp / f"out.{fmt}", [a.id for a in arts], fmt=fmt)
    assert info.count == len(arts) and info.fmt == fmt and info.bytes == (tmp / f"out.{fmt}").stat().st_size
    assert info.content_bytes == sum(a.size for a in arts)
    with artifactstore.open(tmp / "fresh") as fresh:
        report = import_archive(fresh, info.path)
        assert report.imported == [a.id for a in arts] and report.skipped == []
        assert report.evaluations == ["e1"]
        assert fresh.verify().ok
        for a in arts:
            got = fresh.resolve(a.id)
            assert _same(got) == _same(a)
            assert fresh.read_bytes(a.id) == source.read_bytes(a.id)
        assert fresh.evaluation("e1").to_dict() == source.evaluation("e1").to_dict()
        # Importing again skips everything; the catalog survives a rebuild from manifests.
        again = import_archive(fresh, info.path)
        assert again.imported == [] and sorted(again.skipped) == sorted(a.id for a in arts)
        assert fresh.reindex() == len(arts)
        assert sorted(_same(x) == _same(source.resolve(x.id)) for x in fresh.find()) == [True] * len(arts)


def test_archive_layout_index_first(source: ArtifactStore, tmp: Path) -> None:
    arts = _fill(source)
    info = create_archive(source, tmp / "a.tar.gz", None)
    with tarfile.open(info.path, "r:gz") as tf:
        names = tf.getnames()
        index_f, manifest_f = tf.extractfile("index.json"), tf.extractfile(f"manifests/{arts[0].id}.json")
        assert index_f is not None and manifest_f is not None  # regular files, not directories
        index = json.loads(index_f.read())
        manifest = json.loads(manifest_f.read())
    assert names[0] == "index.json"
    n = len(arts)
    assert all(x.startswith("manifests/") for x in names[1 : n + 1])
    assert all(x.startswith("artifacts/") for x in names[n + 1 :])
    assert f"artifacts/{arts[0].id}/suite-a/map-1/episodes.csv" in names
    assert index["format"] == ARCHIVE_FORMAT and len(index["artifacts"]) == n
    assert {e["id"] for e in index["artifacts"]} == {a.id for a in arts}
    assert [e["evaluation_id"] for e in index["evaluations"]] == ["e1"]
    assert len(index["champions"]) == 1
    assert manifest == {"kind": "artifact", **arts[0].to_dict()}


def test_round_trip_without_metadata(source: ArtifactStore, tmp: Path) -> None:
    arts = _fill(source)
    info = create_archive(source, tmp / "a.tar.zst", arts[:2], include_metadata=False, fmt="tar.zst")
    with tarfile.open(fileobj=io.BytesIO(_unzstd(info.path)), mode="r:") as tf:
        assert "index.json" not in tf.getnames()
    with artifactstore.open(tmp / "fresh") as fresh:
        report = import_archive(fresh, info.path)
        assert report.imported == [arts[0].id, arts[1].id] and report.evaluations == []
        assert fresh.verify().ok and [_same(fresh.resolve(a.id)) for a in arts[:2]] == [_same(a) for a in arts[:2]]


def _unzstd(path: Path) -> bytes:
    import zstandard

    with open(path, "rb") as f:
        return zstandard.ZstdDecompressor().stream_reader(f).read()


def test_import_into_memory_store_keeps_ids_and_assigns_versions(source: ArtifactStore, tmp: Path) -> None:
    arts = _fill(source)
    info = create_archive(source, tmp / "a.tar.gz", [arts[4]])  # report.json@v2 only
    with artifactstore.open(f"memory://{new_id()}", tmp / "memcat.db") as mem:
        mem.put(b"other", artifact_type="report", name="report.json")
        import_archive(mem, info.path)
        got = mem.resolve(arts[4].id)
        assert got.version == 2 and got.name == "report.json" and mem.read_bytes(got) == b'{"score": 2}'
        assert mem.verify().ok


def test_deleted_artifact_is_not_resurrected(source: ArtifactStore, target: ArtifactStore, tmp: Path) -> None:
    arts = _fill(source)
    info = create_archive(source, tmp / "a.tar.gz", arts[:2])
    import_archive(target, info.path)
    target.delete(arts[0].id)
    report = import_archive(target, info.path)
    assert report.imported == [] and report.tombstoned == [arts[0].id] and report.skipped == [arts[1].id]
    assert target.count() == 2  # existing.log + arts[1]


def test_corrupt_blob_fails_create_and_leaves_no_file(source: ArtifactStore, tmp: Path) -> None:
    art = source.put(b"x" * 100_000, artifact_type="log", name="big.log", codec="none")
    path = source.backend.local_path(art.blob_key)
    assert path is not None
    data = bytearray(path.read_bytes())
    data[500] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(IntegrityError):
        create_archive(source, tmp / "a.tar.gz", [art.id])
    assert not [p for p in tmp.iterdir() if p.name.startswith((".a.tar.gz", "a.tar.gz"))]


def test_create_rejects_unknown_format(source: ArtifactStore, tmp: Path) -> None:
    with pytest.raises(InvalidInputError):
        create_archive(source, tmp / "a.zip", [], fmt="zip")


# --- hostile archives: helpers -------------------------------------------------------------

Member = tuple[tarfile.TarInfo, bytes | None]


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _manifest(aid: str, name: str, data: bytes, **over: Any) -> dict[str, Any]:
    m = {
        "kind": "artifact", "id": aid, "name": name, "version": 1, "artifact_type": "report",
        "sha256": _sha(data), "size": len(data), "stored_size": len(data), "codec": "none",
        "created_at": "2024-05-01T12:00:00+00:00", "model_id": "m1", "evaluation_id": None, "suite_name": None,
        "map_name": None, "episode_id": None, "tags": ["t"], "metadata": {"k": 1}, "blob_key": "",
    }
    m.update(over)
    return m


def _reg(name: str, data: bytes, size: int | None = None) -> Member:
    ti = tarfile.TarInfo(name)
    ti.size = len(data) if size is None else size
    ti.mtime = 1_700_000_000
    return ti, data


def _special(name: str, type_: bytes, linkname: str = "") -> Member:
    ti = tarfile.TarInfo(name)
    ti.type = type_
    ti.linkname = linkname
    ti.devmajor, ti.devminor = 1, 3
    return ti, None


def _index(entries: list[dict[str, Any]], **extra: Any) -> Member:
    doc = {"format": ARCHIVE_FORMAT, "version": 1, "created_at": "2024-05-01T12:00:00+00:00",
           "artifacts": [{"id": e["id"], "name": e["name"], "sha256": e["sha256"], "size": e["size"]}
                         for e in entries], **extra}
    return _reg("index.json", json.dumps(doc).encode())


def _members(items: list[tuple[str, str, bytes]], *, index: bool = True) -> list[Member]:
    """A well-formed archive's members for (id, name, data) items."""
    manifests = [_manifest(aid, name, data) for aid, name, data in items]
    out: list[Member] = [_index(manifests)] if index else []
    out += [_reg(f"manifests/{m['id']}.json", json.dumps(m).encode()) for m in manifests]
    out += [_reg(f"artifacts/{aid}/{name}", data) for aid, name, data in items]
    return out


def _write(path: Path, members: list[Member], level: int = 6) -> Path:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for ti, data in members:
            tf.addfile(ti, io.BytesIO(data) if data is not None else None)
    path.write_bytes(gzip.compress(buf.getvalue(), compresslevel=level))
    return path


def _snapshot(root: Path) -> dict[str, int | None]:
    """Every file under root with its size (SQLite's own files by name only: reads may touch them)."""
    out: dict[str, int | None] = {}
    for dirpath, _dirs, files in os.walk(root):
        for fn in files:
            p = Path(dirpath) / fn
            rel = str(p.relative_to(root))
            out[rel] = None if fn.startswith("catalog.db") else p.stat().st_size
    return out


def _store_state(store: ArtifactStore) -> tuple[int, set[str], dict[str, int]]:
    journals = {o.key: o.size for p in ("manifests/", "records/") for o in store.backend.list(p)}
    return store.count(), {o.key for o in store.backend.list("blobs/")}, journals


def _assert_rejected(target: ArtifactStore, tmp: Path, path: Path, member: str, reason: str = "") -> None:
    """Import must raise HostileArchiveError naming ``member`` and leave everything as it was."""
    before_store, before_files = _store_state(target), _snapshot(tmp)
    with pytest.raises(HostileArchiveError) as info:
        import_archive(target, path)
    assert isinstance(info.value, ValueError)
    assert info.value.member == member, info.value
    assert reason.lower() in info.value.reason.lower(), info.value
    assert _store_state(target) == before_store
    assert _snapshot(tmp) == before_files
    assert target.verify().ok


ITEMS = [(new_id(), "reports/report.json", b'{"score": 0.5}'), (new_id(), "log.txt", b"hello\n" * 100)]


# --- hostile archives: each case -----------------------------------------------------------


def test_hostile_helper_builds_a_valid_archive(target: ArtifactStore, tmp: Path) -> None:
    # The control: the hand-built archive the hostile cases start from imports fine.
    report = import_archive(target, _write(tmp / "ok.tar.gz", _members(ITEMS)))
    assert report.imported == [aid for aid, _, _ in ITEMS]
    assert target.read_bytes(ITEMS[1][0]) == ITEMS[1][2]


@pytest.mark.parametrize("name", ["../evil.txt", "artifacts/../../evil.txt", "manifests/../../../etc/cron.d/x"])
def test_hostile_dotdot_member(target: ArtifactStore, tmp: Path, name: str) -> None:
    members = [*_members(ITEMS), _reg(name, b"pwned")]
    _assert_rejected(target, tmp, _write(tmp / "a.tar.gz", members), name, "traversal")


def test_hostile_dotdot_inside_artifact_path(target: ArtifactStore, tmp: Path) -> None:
    aid = ITEMS[0][0]
    name = f"artifacts/{aid}/../../../evil.txt"
    members = _members(ITEMS)
    members.insert(3, _reg(name, b"pwned"))
    _assert_rejected(target, tmp, _write(tmp / "a.tar.gz", members), name, "traversal")


def test_hostile_absolute_path(target: ArtifactStore, tmp: Path) -> None:
    name = str(tmp / "outside.txt")
    members = [_reg(name, b"pwned"), *_members(ITEMS, index=False)]
    _assert_rejected(target, tmp, _write(tmp / "a.tar.gz", members), name, "absolute")
    assert not (tmp / "outside.txt").exists()


def test_hostile_backslash(target: ArtifactStore, tmp: Path) -> None:
    name = "artifacts\\..\\..\\evil.txt"
    _assert_rejected(target, tmp, _write(tmp / "a.tar.gz", [*_members(ITEMS), _reg(name, b"x")]), name, "backslash")


def test_hostile_nul_in_name(target: ArtifactStore, tmp: Path) -> None:
    aid, name, _ = ITEMS[0]
    members = _members(ITEMS)
    ti, _ = members[-2]
    assert ti.name == f"artifacts/{aid}/{name}"
    ti.pax_headers = {"path": f"artifacts/{aid}/{name}\x00.sh"}
    _assert_rejected(target, tmp, _write(tmp / "a.tar.gz", members), f"artifacts/{aid}/{name}\x00.sh", "NUL")


def test_hostile_symlink(target: ArtifactStore, tmp: Path) -> None:
    aid, name, _ = ITEMS[0]
    members = _members(ITEMS)
    members[-2] = _special(f"artifacts/{aid}/{name}", tarfile.SYMTYPE, "/etc/passwd")
    _assert_rejected(target, tmp, _write(tmp / "a.tar.gz", members), f"artifacts/{aid}/{name}", "symbolic link")


def test_hostile_hardlink(target: ArtifactStore, tmp: Path) -> None:
    aid, name, _ = ITEMS[0]
    members = _members(ITEMS)
    members[-2] = _special(f"artifacts/{aid}/{name}", tarfile.LNKTYPE, "/etc/shadow")
    _assert_rejected(target, tmp, _write(tmp / "a.tar.gz", members), f"artifacts/{aid}/{name}", "hard link")


def test_hostile_device_file(target: ArtifactStore, tmp: Path) -> None:
    aid, name, _ = ITEMS[0]
    members = _members(ITEMS)
    members[-2] = _special(f"artifacts/{aid}/{name}", tarfile.CHRTYPE)
    _assert_rejected(target, tmp, _write(tmp / "a.tar.gz", members), f"artifacts/{aid}/{name}", "device")


def test_hostile_block_device(target: ArtifactStore, tmp: Path) -> None:
    aid, name, _ = ITEMS[1]
    members = _members(ITEMS)
    members[-1] = _special(f"artifacts/{aid}/{name}", tarfile.BLKTYPE)
    _assert_rejected(target, tmp, _write(tmp / "a.tar.gz", members), f"artifacts/{aid}/{name}", "device")


def test_hostile_fifo(target: ArtifactStore, tmp: Path) -> None:
    aid, name, _ = ITEMS[0]
    members = _members(ITEMS)
    members[-2] = _special(f"artifacts/{aid}/{name}", tarfile.FIFOTYPE)
    _assert_rejected(target, tmp, _write(tmp / "a.tar.gz", members), f"artifacts/{aid}/{name}", "FIFO")


def test_hostile_directory_member(target: ArtifactStore, tmp: Path) -> None:
    members = [*_members(ITEMS), _special("artifacts/extra", tarfile.DIRTYPE)]
    _assert_rejected(target, tmp, _write(tmp / "a.tar.gz", members), "artifacts/extra", "directory")


def test_hostile_duplicate_artifact_member(target: ArtifactStore, tmp: Path) -> None:
    aid, name, data = ITEMS[0]
    members = [*_members(ITEMS), _reg(f"artifacts/{aid}/{name}", data)]
    _assert_rejected(target, tmp, _write(tmp / "a.tar.gz", members), f"artifacts/{aid}/{name}", "duplicate")


def test_hostile_duplicate_manifest(target: ArtifactStore, tmp: Path) -> None:
    aid, name, data = ITEMS[0]
    members = _members(ITEMS)
    other = _manifest(aid, name, data, metadata={"evil": True})
    members.insert(3, _reg(f"manifests/{aid}.json", json.dumps(other).encode()))
    _assert_rejected(target, tmp, _write(tmp / "a.tar.gz", members), f"manifests/{aid}.json", "duplicate")


def test_hostile_size_mismatch(target: ArtifactStore, tmp: Path) -> None:
    aid, name, data = ITEMS[0]
    members = _members(ITEMS)
    members[-2] = _reg(f"artifacts/{aid}/{name}", data + b" ")
    _assert_rejected(target, tmp, _write(tmp / "a.tar.gz", members), f"artifacts/{aid}/{name}", "size")


def test_hostile_checksum_mismatch(target: ArtifactStore, tmp: Path) -> None:
    aid, name, data = ITEMS[1]
    members = _members(ITEMS)
    evil = bytearray(data)
    evil[-2] ^= 0x01  # same size, one bit differs
    members[-1] = _reg(f"artifacts/{aid}/{name}", bytes(evil))
    _assert_rejected(target, tmp, _write(tmp / "a.tar.gz", members), f"artifacts/{aid}/{name}", "sha256")


def test_hostile_checksum_mismatch_in_second_member_writes_nothing(target: ArtifactStore, tmp: Path) -> None:
    # The first artifact is fine and would be imported by a one-pass importer; the second is bad.
    items = [*ITEMS, (new_id(), "third.bin", os.urandom(300_000))]
    members = _members(items)
    aid, name, data = items[2]
    members[-1] = _reg(f"artifacts/{aid}/{name}", os.urandom(len(data)))
    _assert_rejected(target, tmp, _write(tmp / "a.tar.gz", members), f"artifacts/{aid}/{name}", "sha256")


def test_hostile_gzip_bomb(target: ArtifactStore, tmp: Path) -> None:
    # Declared 10 bytes in its manifest, 50 MB of zeros in the archive: ~50 KB compressed.
    aid, name = new_id(), "bomb.bin"
    manifest = _manifest(aid, name, b"0123456789")
    members = [_index([manifest]), _reg(f"manifests/{aid}.json", json.dumps(manifest).encode()),
               _reg(f"artifacts/{aid}/{name}", b"\0" * (50 << 20))]
    path = _write(tmp / "bomb.tar.gz", members, level=9)
    assert path.stat().st_size < 200_000
    t0 = time.monotonic()
    _assert_rejected(target, tmp, path, f"artifacts/{aid}/{name}", "size")
    assert time.monotonic() - t0 < 5  # refused from the header, not after inflating 50 MB


def test_hostile_pax_header_bomb(target: ArtifactStore, tmp: Path) -> None:
    # 50 MB hidden in a pax extended header: no declared size covers it; reading stops at the cap.
    members = _members(ITEMS)
    ti, _ = members[-2]
    ti.pax_headers = {"comment": "A" * (50 << 20)}
    path = _write(tmp / "bomb.tar.gz", members, level=9)
    assert path.stat().st_size < 200_000
    _assert_rejected(target, tmp, path, f"(the member after manifests/{ITEMS[1][0]}.json)", "bomb")


def test_hostile_index_lists_dotdot_name(target: ArtifactStore, tmp: Path) -> None:
    aid, data = new_id(), b"x"
    manifest = _manifest(aid, "../x", data)
    members = [_index([manifest]), _reg(f"manifests/{aid}.json", json.dumps(manifest).encode()),
               _reg(f"artifacts/{aid}/../x", data)]
    _assert_rejected(target, tmp, _write(tmp / "a.tar.gz", members), "index.json", "traversal")


def test_hostile_manifest_with_invalid_name(target: ArtifactStore, tmp: Path) -> None:
    aid, data = new_id(), b"x"
    manifest = _manifest(aid, "a/../../b", data)
    members = [_reg(f"manifests/{aid}.json", json.dumps(manifest).encode()), _reg(f"artifacts/{aid}/b", data)]
    _assert_rejected(target, tmp, _write(tmp / "a.tar.gz", members), f"manifests/{aid}.json", "traversal")


@pytest.mark.parametrize(("metadata", "reason"), [
    ('["not", "a", "mapping"]', "mapping"),
    ('{"score": NaN}', "NaN"),
    ('{"a": 1, "a": 2}', "duplicate key"),
    ('{"' + "k" * 300 + '": 1}', "longer than 255"),
])
def test_hostile_manifest_with_invalid_metadata(target: ArtifactStore, tmp: Path, metadata: str, reason: str) -> None:
    aid, name, data = new_id(), "m.json", b"{}"
    text = json.dumps(_manifest(aid, name, data, metadata="@@")).replace('"@@"', metadata)
    members = [_reg(f"manifests/{aid}.json", text.encode()), _reg(f"artifacts/{aid}/{name}", data)]
    _assert_rejected(target, tmp, _write(tmp / "a.tar.gz", members), f"manifests/{aid}.json", reason)


def test_hostile_manifest_id_differs_from_member(target: ArtifactStore, tmp: Path) -> None:
    aid, other, data = new_id(), new_id(), b"x"
    members = [_reg(f"manifests/{aid}.json", json.dumps(_manifest(other, "x", data)).encode()),
               _reg(f"artifacts/{aid}/x", data)]
    _assert_rejected(target, tmp, _write(tmp / "a.tar.gz", members), f"manifests/{aid}.json", "does not match")


def test_hostile_manifest_disagrees_with_index(target: ArtifactStore, tmp: Path) -> None:
    aid, name, data = ITEMS[0]
    members = _members(ITEMS)
    members[1] = _reg(f"manifests/{aid}.json", json.dumps(_manifest(aid, name, data + b"!")).encode())
    _assert_rejected(target, tmp, _write(tmp / "a.tar.gz", members), f"manifests/{aid}.json", "index.json")


def test_hostile_member_outside_layout(target: ArtifactStore, tmp: Path) -> None:
    members = [*_members(ITEMS), _reg("evil.sh", b"rm -rf /")]
    _assert_rejected(target, tmp, _write(tmp / "a.tar.gz", members), "evil.sh", "layout")


def test_hostile_artifact_without_manifest(target: ArtifactStore, tmp: Path) -> None:
    aid = new_id()
    members = [*_members(ITEMS), _reg(f"artifacts/{aid}/stowaway.bin", b"x")]
    _assert_rejected(target, tmp, _write(tmp / "a.tar.gz", members), f"artifacts/{aid}/stowaway.bin", "manifest")


def test_hostile_index_not_first(target: ArtifactStore, tmp: Path) -> None:
    members = _members(ITEMS)
    members.insert(2, members.pop(0))
    _assert_rejected(target, tmp, _write(tmp / "a.tar.gz", members), "index.json", "first")


def test_hostile_manifest_without_data(target: ArtifactStore, tmp: Path) -> None:
    members = _members(ITEMS)[:-1]
    _assert_rejected(target, tmp, _write(tmp / "a.tar.gz", members), f"manifests/{ITEMS[1][0]}.json", "no artifact")


def test_hostile_not_an_archive(target: ArtifactStore, tmp: Path) -> None:
    path = tmp / "junk.tar.gz"
    path.write_bytes(gzip.compress(os.urandom(5000)))
    _assert_rejected(target, tmp, path, "(the first member)", "unreadable")


def test_hostile_truncated_archive(target: ArtifactStore, tmp: Path) -> None:
    items = [(new_id(), "big.bin", os.urandom(200_000))]
    path = _write(tmp / "a.tar.gz", _members(items))
    path.write_bytes(path.read_bytes()[:-50_000])
    with pytest.raises(HostileArchiveError) as info:
        import_archive(target, path)
    assert "unreadable" in info.value.reason
    assert target.count() == 1


# --- command line --------------------------------------------------------------------------


def _cli() -> Any:
    from artifactstore.cli import commands_archive
    from artifactstore.cli.main import cli

    if "archive" not in cli.commands:  # until main.COMMAND_MODULES lists the module
        commands_archive.register(cli)
    return cli


def test_cli_archive_and_import(source: ArtifactStore, tmp: Path) -> None:
    from click.testing import CliRunner

    arts = _fill(source)
    source.close()
    runner = CliRunner(env={"ARTIFACTSTORE_URL": None, "ARTIFACTSTORE_CATALOG": None})
    out = tmp / "m1.tar.zst"
    r = runner.invoke(_cli(), ["--store", str(tmp / "source"), "archive", str(out), "--model", "m1", "--json"])
    assert r.exit_code == 0, r.output
    info = json.loads(r.stdout)
    assert info["fmt"] == "tar.zst" and info["count"] == sum(1 for a in arts if a.model_id == "m1")
    r = runner.invoke(_cli(), ["--store", str(tmp / "fresh"), "import", str(out)])
    assert r.exit_code == 0, r.output
    assert f"imported {info['count']} artifacts" in r.stdout
    r = runner.invoke(_cli(), ["--store", str(tmp / "fresh"), "import", str(out), "--json"])
    assert json.loads(r.stdout)["imported"] == [] and len(json.loads(r.stdout)["skipped"]) == info["count"]


def test_cli_import_refuses_hostile_archive(target: ArtifactStore, tmp: Path) -> None:
    from click.testing import CliRunner

    path = _write(tmp / "evil.tar.gz", [*_members(ITEMS), _reg("../evil.txt", b"x")])
    target.close()
    runner = CliRunner(env={"ARTIFACTSTORE_URL": None, "ARTIFACTSTORE_CATALOG": None})
    r = runner.invoke(_cli(), ["--store", str(tmp / "target"), "import", str(path)])
    assert r.exit_code == 1
    assert "refusing archive member '../evil.txt'" in r.stderr


def test_import_into_s3_store(source: ArtifactStore, tmp: Path, s3_url: Any) -> None:
    arts = _fill(source)
    info = create_archive(source, tmp / "a.tar.zst", None, fmt="tar.zst")
    with artifactstore.open(s3_url.url, tmp / "s3cat.db", **s3_url.storage_options) as remote:
        report = import_archive(remote, info.path)
        assert sorted(report.imported) == sorted(a.id for a in arts)
        assert remote.verify().ok
        assert [_same(remote.resolve(a.id)) for a in arts] == [_same(a) for a in arts]
