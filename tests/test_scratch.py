"""Temporary folders and spool files belong to the store and are swept after a kill -9.

A writer process is forked and killed with SIGKILL in the middle of an ``export_episode_data``
(its folder of episode files) and of a remote-style upload (its spool file). Nothing is left
in the system temp folder's shared namespace; what is left sits in the store's scratch folder
and is removed by the next open (its owner is dead) or by gc (older than the grace).
"""

from __future__ import annotations

import io
import os
import signal
import tempfile
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO, cast

import artifactstore
from artifactstore.gc import collect
from artifactstore.scratch import entry_name, scratch_dir

MiB = 1 << 20


def _system_temp_leftovers() -> set[str]:
    return {p.name for p in Path(tempfile.gettempdir()).glob("artifactstore-*") if "-episodes-" in p.name
            or p.name.endswith(".part")}


def _kill_mid(work: Callable[[int], None]) -> int:
    """Fork a child running ``work(ready_fd)``; when it writes to ``ready_fd``, SIGKILL it. Returns its pid."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the writer
        code = 0
        try:
            os.close(r)
            work(w)
        except BaseException:
            traceback.print_exc()
            code = 3
        finally:
            os._exit(code)
    os.close(w)
    try:
        ready = os.read(r, 1)
    finally:
        os.close(r)
    os.kill(pid, signal.SIGKILL)
    _pid, status = os.waitpid(pid, 0)
    assert ready == b"r", "the writer failed before it was killed (its traceback is in the captured stderr)"
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, status
    return pid


def _episodes_then_block(ready_fd: int, n: int = 2000) -> Iterator[dict[str, Any]]:
    for i in range(n):
        yield {"episode_id": i, "reward": i / n, "success": i % 2 == 0}
    os.write(ready_fd, b"r")
    time.sleep(60)  # killed here, with the episode files written


def test_a_killed_export_leaves_its_folder_in_the_store_and_the_next_open_sweeps_it(tmp_path: Path) -> None:
    root = tmp_path / "store"
    with artifactstore.open(root) as s:
        s.put(b"before", name="before.txt", artifact_type="other")
    temp_before = _system_temp_leftovers()

    def work(ready_fd: int) -> None:
        from artifactstore.compat.manager import ArtifactManager

        with artifactstore.open(root) as s:
            ArtifactManager(store=s).export_episode_data(_episodes_then_block(ready_fd), "csv", model_id="m")

    pid = _kill_mid(work)
    left = [p for p in (root / "tmp").iterdir() if p.name.startswith(f"episodes-{pid}-")]
    assert len(left) == 1 and left[0].is_dir(), sorted(p.name for p in (root / "tmp").iterdir())
    assert _system_temp_leftovers() <= temp_before, "the killed export left files in the system temp folder"
    with artifactstore.open(root) as s:  # the owner is dead: swept at open
        assert not left[0].exists()
        assert s.count() == 1


def test_a_killed_remote_upload_leaves_its_spool_in_the_store_scratch_folder(tmp_path: Path) -> None:
    url = f"memory://scratch-{uuid.uuid4().hex}"  # not local: staged through a spool file above 4 MiB
    with artifactstore.open(url) as s:
        scratch = scratch_dir(s.backend)
    assert scratch.parent == Path(tempfile.gettempdir()) and scratch.name.startswith("artifactstore-")
    temp_before = _system_temp_leftovers()

    class Blocking(io.RawIOBase):
        """A source that hands out 6 MiB, then hangs (the writer is killed there)."""

        def __init__(self, ready_fd: int) -> None:
            self.left = 6 * MiB
            self.ready_fd = ready_fd

        def readable(self) -> bool:
            return True

        def read(self, n: int | None = -1) -> bytes:
            if self.left <= 0:
                os.write(self.ready_fd, b"r")
                time.sleep(60)
            k = min(self.left, MiB if n is None or n < 0 else n)
            self.left -= k
            return os.urandom(k)

    def work(ready_fd: int) -> None:
        with artifactstore.open(url) as s:
            s.put(cast(BinaryIO, Blocking(ready_fd)), name="big.bin", artifact_type="other", codec="none")

    pid = _kill_mid(work)
    spools = [p for p in scratch.iterdir() if p.name.startswith(f"spool-{pid}-")]
    assert len(spools) == 1 and spools[0].stat().st_size >= 4 * MiB, sorted(p.name for p in scratch.iterdir())
    assert _system_temp_leftovers() <= temp_before
    with artifactstore.open(url):
        assert not spools[0].exists()


def test_gc_sweeps_old_entries_and_open_keeps_live_ones(tmp_path: Path) -> None:
    root = tmp_path / "store"
    with artifactstore.open(root) as s:
        scratch = scratch_dir(s.backend)
        live = scratch / entry_name("episodes")  # this process: alive
        live.mkdir()
        (live / "episodes.csv").write_text("a,b\n")
        old = scratch / entry_name("episodes")
        old.mkdir()
        stale_part = scratch / f"{uuid.uuid4().hex}.part"
        stale_part.write_bytes(b"x")
        long_ago = time.time() - 7200
        for p in (old, stale_part):
            os.utime(p, (long_ago, long_ago))
    with artifactstore.open(root) as s:  # open: only dead owners or entries older than a day
        assert live.exists() and old.exists() and stale_part.exists()
        _plan, result = collect(s, ["keep_all"], dry_run=False, grace_seconds=3600)
        assert result is not None and result.removed_staging == 2
        assert live.exists() and not old.exists() and not stale_part.exists()
