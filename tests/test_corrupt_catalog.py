"""A damaged SQLite catalog file: reindex rebuilds it from the storage whatever state it is in.

Opening the store plainly gives a CatalogError that says to run reindex; ``store.reindex()``,
``artifactstore.open(..., repair_catalog=True)`` and ``artifactstore reindex`` move the bad
file aside (``catalog.db.corrupt-<timestamp>`` with its -wal/-shm) with a warning and rebuild
it. A catalog written by a newer artifactstore is never moved.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

import artifactstore
from artifactstore.errors import CatalogError, SchemaVersionError
from helpers import sql_catalog

N = 120


def _garbage(p: Path) -> None:
    p.write_bytes(os.urandom(16384))


def _truncated(p: Path) -> None:
    p.write_bytes(p.read_bytes()[: max(4096, p.stat().st_size // 3)])


def _scribbled(p: Path) -> None:
    data = bytearray(p.read_bytes())
    data[100:8192] = os.urandom(8092)  # the header's tail and the schema page
    p.write_bytes(bytes(data))


def _wrong_schema(p: Path) -> None:
    p.unlink()
    with sqlite3.connect(p) as c:
        c.execute("create table artifacts (x integer)")
        c.execute("create table as_meta (k text)")


def _garbage_wal(p: Path) -> None:
    _garbage(p)
    p.with_name(p.name + "-wal").write_bytes(os.urandom(5000))


DAMAGE: dict[str, Callable[[Path], None]] = {
    "garbage": _garbage, "truncated": _truncated, "scribbled": _scribbled, "wrong_schema": _wrong_schema,
    "garbage_and_wal": _garbage_wal,
}


def _make_store(root: Path) -> list[str]:
    with artifactstore.open(root) as s:
        refs = [s.put(os.urandom(64) + b"%d" % i, name=f"a{i % 7}.txt", artifact_type="other",
                      metadata={"i": i}).ref for i in range(N)]
        s.record_evaluation("e1", "m1", global_score=0.7, success_rate=0.5)
        s.promote_champion("m1", evaluation_id="e1", global_score=0.7, success_rate=0.5)
    return refs


def _corrupt_files(root: Path) -> list[str]:
    return sorted(p.name for p in root.glob("catalog.db.corrupt-*"))


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    root = tmp_path_factory.mktemp("tpl") / "store"
    return root, _make_store(root)


def _copy(template: tuple[Path, list[str]], dest: Path) -> tuple[Path, list[str]]:
    import shutil

    root, refs = template
    shutil.copytree(root, dest)
    for suffix in ("-wal", "-shm"):
        (dest / f"catalog.db{suffix}").unlink(missing_ok=True)
    return dest, refs


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_open_says_run_reindex_and_repair_rebuilds(damage: str, template: tuple[Path, list[str]], tmp_path: Path,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    root, refs = _copy(template, tmp_path / "store")
    DAMAGE[damage](root / "catalog.db")
    with pytest.raises(CatalogError, match="artifactstore reindex") as info, artifactstore.open(root) as s:
        s.find(limit=None)
    assert "damaged" in str(info.value)
    assert _corrupt_files(root) == []  # a plain open moves nothing
    with caplog.at_level(logging.WARNING, logger="artifactstore"), \
            artifactstore.open(root, repair_catalog=True) as s:
        assert s.count() == N
        assert [s.resolve(r).ref for r in refs] == refs  # every ref keeps its meaning
        champ = s.champion()
        assert champ is not None and champ.seq == 1
        assert s.reindex() == N
    moved = _corrupt_files(root)
    assert "catalog.db" not in moved and any(m.startswith("catalog.db.corrupt-") for m in moved)
    assert any("damaged" in r.getMessage() and "moved it aside" in r.getMessage() for r in caplog.records)


def test_store_reindex_recovers_a_file_damaged_while_open(template: tuple[Path, list[str]], tmp_path: Path) -> None:
    root, refs = _copy(template, tmp_path / "store")
    with artifactstore.open(root) as s:
        assert s.count() == N
        with open(root / "catalog.db", "r+b") as f:  # the same inode, under the open store
            f.write(os.urandom(8192))
        sql_catalog(s).engine.dispose()  # no cached pages: the next connection reads the damage
        with pytest.raises(CatalogError, match="artifactstore reindex"):
            s.count()
        assert s.reindex() == N
        assert s.resolve(refs[-1]).ref == refs[-1]
        s.put(b"after", name="after.txt", artifact_type="other")
    assert len(_corrupt_files(root)) >= 1
    with artifactstore.open(root) as s:
        assert s.count() == N + 1


def test_cli_reindex_rebuilds_a_garbage_catalog(template: tuple[Path, list[str]], tmp_path: Path) -> None:
    root, _refs = _copy(template, tmp_path / "store")
    _garbage(root / "catalog.db")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARTIFACTSTORE_")}
    cli = [sys.executable, "-m", "artifactstore.cli", "--store", str(root)]
    ls = subprocess.run([*cli, "ls"], capture_output=True, text=True, env=env, check=False)
    assert ls.returncode == 1 and "artifactstore reindex" in ls.stderr, ls.stderr
    r = subprocess.run([*cli, "reindex"], capture_output=True, text=True, env=env, check=False)
    assert r.returncode == 0, r.stderr
    assert f"reindexed {N} artifacts" in r.stdout
    assert "moved it aside" in r.stderr and "catalog.db.corrupt-" in r.stderr
    ls = subprocess.run([*cli, "ls", "--json"], capture_output=True, text=True, env=env, check=False)
    assert ls.returncode == 0, ls.stderr


def test_a_newer_catalog_is_never_moved(template: tuple[Path, list[str]], tmp_path: Path) -> None:
    root, _refs = _copy(template, tmp_path / "store")
    with sqlite3.connect(root / "catalog.db") as c:
        c.execute("update as_meta set value = '999' where key = 'schema_version'")
    with pytest.raises(SchemaVersionError):
        artifactstore.open(root, repair_catalog=True)
    assert _corrupt_files(root) == []


def test_quarantine_moves_the_file_with_its_wal_and_shm(tmp_path: Path) -> None:
    from artifactstore.catalog.recovery import quarantine, sqlite_file

    db = tmp_path / "catalog.db"
    for suffix in ("", "-wal", "-shm"):
        db.with_name(db.name + suffix).write_bytes(b"bad" + suffix.encode())
    assert sqlite_file(f"sqlite:///{db}") == db and sqlite_file("postgresql://h/db") is None
    moved = quarantine(db, "test")
    assert [p.read_bytes() for p in moved] == [b"bad", b"bad-wal", b"bad-shm"]
    stamp = moved[0].name.removeprefix("catalog.db.corrupt-")
    assert [p.name for p in moved] == [f"catalog.db.corrupt-{stamp}", f"catalog.db.corrupt-{stamp}-wal",
                                       f"catalog.db.corrupt-{stamp}-shm"]
    assert not any(db.with_name(db.name + s).exists() for s in ("", "-wal", "-shm"))
