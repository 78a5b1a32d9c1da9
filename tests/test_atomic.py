"""artifactstore.atomic: the temp-file + fsync + rename publish, written once."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from artifactstore.atomic import discard, fsync_path, open_creating, publish, replacing, temp_sibling


def test_replacing_publishes_on_success(tmp_path: Path) -> None:
    dest = tmp_path / "out.bin"
    dest.write_bytes(b"old")
    with replacing(dest, fsync=True) as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(".out.bin.") and tmp.suffix == ".part"
        tmp.write_bytes(b"new")
        assert dest.read_bytes() == b"old"  # nothing visible until the block ends
    assert dest.read_bytes() == b"new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.bin"]


def test_replacing_leaves_dest_and_no_temp_file_on_error(tmp_path: Path) -> None:
    dest = tmp_path / "out.bin"
    dest.write_bytes(b"old")
    with pytest.raises(ValueError, match="bad"), replacing(dest) as tmp:
        tmp.write_bytes(b"half")
        raise ValueError("bad")
    assert dest.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.bin"]


def test_replacing_with_a_given_name_and_nothing_written(tmp_path: Path) -> None:
    dest = tmp_path / "d"
    chosen = temp_sibling(dest, ".link")
    assert chosen != temp_sibling(dest, ".link")  # fresh each time
    with pytest.raises(FileNotFoundError), replacing(dest, tmp=chosen):
        pass  # nothing was written to the temporary name: the rename fails, and nothing is left
    assert not dest.exists() and not chosen.exists()


def test_publish_makes_parents_only_when_asked(tmp_path: Path) -> None:
    tmp = tmp_path / "t.part"
    tmp.write_bytes(b"x")
    dest = tmp_path / "a" / "b" / "c"
    with pytest.raises(FileNotFoundError):
        publish(tmp, dest)
    assert tmp.exists()  # left for the caller to discard
    publish(tmp, dest, fsync=True, make_parents=True)
    assert dest.read_bytes() == b"x" and not tmp.exists()
    with pytest.raises(FileNotFoundError):  # a missing temporary file is not papered over
        publish(tmp, dest, make_parents=True)


def test_discard_open_creating_and_fsync(tmp_path: Path) -> None:
    p = tmp_path / "sub" / "f"
    fd = open_creating(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
    os.write(fd, b"data")
    os.close(fd)
    fsync_path(p)
    fsync_path(p.parent)
    assert discard(p) is True
    assert discard(p) is False
