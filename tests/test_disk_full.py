"""A store on a full disk: a small tmpfs mounted for the test (root only).

Puts that run out of space raise a typed error that names the cause (StorageFullError for the
blob and the journals, CatalogError "disk is full" from SQLite), leave no staging file and
nothing half visible, and the store works again, unchanged, once space is freed.

Outside CI the tests skip with the reason when the tmpfs cannot be mounted (not root, no
mount namespace); in CI (``CI=true``) that is a failure.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

import artifactstore
from artifactstore import ArtifactStore
from artifactstore.errors import ArtifactStoreError, CatalogError, StorageFullError
from artifactstore.gc import collect

SIZE = 4 << 20


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs, unmounted afterwards."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={SIZE},mode=0755", "tmpfs", str(mnt)],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        msg = f"cannot mount a small tmpfs for the disk-full test ({proc.stderr.strip() or proc.returncode}); run as root"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    try:
        yield mnt
    finally:
        if subprocess.run(["umount", str(mnt)], capture_output=True, check=False).returncode != 0:
            subprocess.run(["umount", "-l", str(mnt)], capture_output=True, check=False)


def _fill(path: Path, leave: int) -> None:
    """Grow the ballast file ``path`` until the disk is full, then give back ``leave`` bytes."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    try:
        block = b"\0" * 65536
        while True:
            try:
                os.write(fd, block)
            except OSError:
                if len(block) == 1:
                    break
                block = block[: len(block) // 2]
    finally:
        os.close(fd)
    os.truncate(path, max(0, path.stat().st_size - leave))


def _state(s: ArtifactStore) -> list[tuple[str, str, int]]:
    return sorted((a.id, a.ref, a.version) for a in s.find(limit=None))


def _check_consistent(s: ArtifactStore, root: Path, fresh: Path) -> None:
    assert not any((root / "tmp").glob("*.part")), "a staging file was left behind"
    rep = s.verify()
    assert not rep.corrupt and not rep.missing, rep
    for a in s.catalog.iter_all():
        assert hashlib.sha256(s.read_bytes(a)).hexdigest() == a.sha256
    live = _state(s)
    fresh.unlink(missing_ok=True)
    with artifactstore.open(root, catalog=fresh) as f:
        assert _state(f) == live, "reindex into a fresh catalog differs from the live catalog"


def test_a_put_larger_than_the_free_space(small_fs: Path, tmp_path: Path) -> None:
    root = small_fs / "store"
    with artifactstore.open(root) as s:
        a = s.put(b"small and precious", name="a.txt", artifact_type="other")
        before = _state(s)
        with pytest.raises(StorageFullError, match="no space left") as info:
            s.put(os.urandom(SIZE + (1 << 20)), name="big.bin", artifact_type="other")
        assert isinstance(info.value, OSError) and info.value.errno in (28, 122)  # ENOSPC, EDQUOT
        assert _state(s) == before
        _check_consistent(s, root, tmp_path / "fresh.db")
        b = s.put(os.urandom(1 << 20), name="big.bin", artifact_type="other")  # fits now
        assert s.read_bytes(a) == b"small and precious" and s.resolve("big.bin").id == b.id


def test_running_out_of_space_at_every_step_of_a_put(small_fs: Path, tmp_path: Path) -> None:
    """The space left steps through the sizes at which the blob, the manifest append, the
    SQLite WAL and the commit marker run out in turn; every failure is typed and clean."""
    root = small_fs / "store"
    ballast = small_fs / "ballast"
    seen: set[str] = set()
    with artifactstore.open(root) as s:
        for i in range(3):
            s.put(os.urandom(2000), name=f"warm{i}.bin", artifact_type="other")
        for leave in range(0, 96 << 10, 4096):
            _fill(ballast, leave)
            before = _state(s)
            try:
                s.put(os.urandom(6000), name="x.bin", artifact_type="other", metadata={"leave": leave})
                seen.add("ok")
            except ArtifactStoreError as exc:
                assert isinstance(exc, StorageFullError | CatalogError), exc
                assert "space" in str(exc) or "full" in str(exc), exc
                seen.add(type(exc).__name__)
                assert _state(s) == before, "a put that failed changed the catalog"
            assert not any((root / "tmp").glob("*.part")), "a staging file was left behind"
            ballast.unlink()
        assert {"StorageFullError", "ok"} <= seen, seen
        _check_consistent(s, root, tmp_path / "fresh.db")
        collect(s, ["keep_all"], dry_run=False, grace_seconds=0)
        after = s.put(b"space again", name="after.txt", artifact_type="other")
        assert s.read_bytes(after) == b"space again"
        _check_consistent(s, root, tmp_path / "fresh.db")
    with artifactstore.open(root) as s:  # and after a reopen (which settles pending batches)
        _check_consistent(s, root, tmp_path / "fresh.db")
        assert s.count() >= 4
