"""verify --repair: corrupt or missing blobs restored from a replica, the rest reported as needing a re-put."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

import artifactstore
from artifactstore import ArtifactStore
from artifactstore.cli.main import cli
from artifactstore.sync import sync

TEXT = b"episode,reward\n" + b"1,0.5\n" * 20000  # compressible: stored zstd
RAW = bytes(range(256)) * 64  # stored as is


def _damage(s: ArtifactStore, ref: str, how: str) -> None:
    path = s.backend.local_path(s.resolve(ref).blob_key)
    assert path is not None
    if how == "missing":
        path.unlink()
    else:
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0xFF
        path.write_bytes(bytes(data))


def _make(tmp_path: Path) -> tuple[Path, Path]:
    main, replica = tmp_path / "main", tmp_path / "replica"
    with artifactstore.open(main) as s:
        s.put(TEXT, name="episodes.csv", artifact_type="episode_data")
        s.put(RAW, name="weights.bin", artifact_type="model")
        s.put(RAW, name="copy.bin", artifact_type="model")  # shares the blob of weights.bin
        s.put(b"only here", name="lonely.txt", artifact_type="other")
    with artifactstore.open(main) as s, artifactstore.open(replica) as r:
        sync(s, r)
    with artifactstore.open(replica) as r:  # the replica must not hold lonely.txt
        r.delete("lonely.txt")
    return main, replica


def test_verify_repair_restores_from_a_replica(tmp_path: Path) -> None:
    main, replica = _make(tmp_path)
    with artifactstore.open(main) as s:
        _damage(s, "episodes.csv", "corrupt")
        _damage(s, "weights.bin", "missing")
        _damage(s, "lonely.txt", "corrupt")
        ids = {ref: s.resolve(ref).id for ref in ("episodes.csv", "weights.bin", "copy.bin", "lonely.txt")}
        plain = s.verify()
        assert not plain.ok and not plain.repair
        with artifactstore.open(replica) as r:
            rep = s.verify(repair=True, replica=r)
        assert set(rep.corrupt) == {ids["episodes.csv"], ids["lonely.txt"]}
        assert set(rep.missing) == {ids["weights.bin"], ids["copy.bin"]}
        assert set(rep.repaired) == {ids["episodes.csv"], ids["weights.bin"], ids["copy.bin"]}
        assert rep.needs_reput == [ids["lonely.txt"]] and not rep.ok
        assert s.read_bytes("episodes.csv") == TEXT and s.read_bytes("copy.bin") == RAW
        again = s.verify()
        assert again.corrupt == [ids["lonely.txt"]] and not again.missing
        s.put(b"only here", name="lonely.txt", artifact_type="other")  # the re-put heals it
        assert s.verify().ok


def test_verify_repair_without_a_replica_reports_what_needs_a_reput(tmp_path: Path) -> None:
    main, _replica = _make(tmp_path)
    with artifactstore.open(main) as s:
        _damage(s, "weights.bin", "corrupt")
        rep = s.verify(repair=True)
        assert rep.repaired == [] and set(rep.needs_reput) == {s.resolve("weights.bin").id, s.resolve("copy.bin").id}
        assert rep.to_dict()["needs_reput"] == rep.needs_reput


def test_cli_verify_repair_from(tmp_path: Path) -> None:
    main, replica = _make(tmp_path)
    with artifactstore.open(main) as s:
        _damage(s, "episodes.csv", "missing")
    runner = CliRunner()
    r = runner.invoke(cli, ["--store", str(main), "verify", "--json"])
    assert r.exit_code == 1 and "repaired" not in json.loads(r.stdout)
    r = runner.invoke(cli, ["--store", str(main), "verify", "--from", str(replica)])
    assert r.exit_code == 2 and "--from needs --repair" in r.output
    r = runner.invoke(cli, ["--store", str(main), "verify", "--repair", "--from", str(replica), "--json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["ok"] and len(doc["repaired"]) == 1 and doc["needs_reput"] == []
    assert doc["problems"][0]["status"] == "missing, repaired"
    r = runner.invoke(cli, ["--store", str(main), "verify"])
    assert r.exit_code == 0 and "all OK" in r.output
