"""Many writers at once: threads and processes lose nothing and never collide on ids."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import artifactstore


def _proc_writer(root: str, worker: int, n: int, q: mp.Queue[Any]) -> None:
    ids = []
    with artifactstore.open(root) as s:
        for i in range(n):
            # shared names across workers: versions must still be unique and gapless
            a = s.put(f"w{worker}-{i}".encode() * 40, artifact_type="log", name=f"shared/{i % 10}.txt",
                      model_id=f"w{worker}", tags=["proc"], codec="auto" if i % 2 else "none")
            ids.append(a.id)
    q.put(ids)


def _check_consistent(root: Path, expected_ids: list[str]) -> None:
    with artifactstore.open(root) as s:
        assert len(expected_ids) == len(set(expected_ids)), "duplicate ids"
        found = {a.id for a in s.catalog.iter_all()}
        assert found == set(expected_ids)
        # every name's versions are 1..n without gaps or repeats
        for i in range(10):
            vs = [a.version for a in s.versions(f"shared/{i}.txt")]
            assert vs == list(range(1, len(vs) + 1))
        # backend and catalog agree: every artifact has a manifest entry and a blob
        manifest_ids = {e["id"] for e in s.manifests.read_all() if e.get("kind") == "artifact"}
        assert manifest_ids == found
        blob_keys = {o.key for o in s.backend.list("blobs/")}
        assert {a.blob_key for a in s.catalog.iter_all()} == blob_keys
        assert s.verify().ok
        for a in s.find(limit=50):
            assert s.read_bytes(a.id)


def test_8_threads_and_4_processes_write_1000_artifacts(tmp_path: Path) -> None:
    root = tmp_path / "s"
    artifactstore.open(root).close()
    ctx = mp.get_context("spawn")
    q: mp.Queue[Any] = ctx.Queue()
    procs = [ctx.Process(target=_proc_writer, args=(str(root), w, 125, q)) for w in range(4)]
    for p in procs:
        p.start()
    ids: list[str] = []
    lock = threading.Lock()
    errors: list[BaseException] = []
    with artifactstore.open(root) as shared:  # one store object shared by 8 threads

        def thread_writer(t: int) -> None:
            try:
                for i in range(63 if t < 4 else 62):
                    a = shared.put(f"t{t}-{i}".encode() * 40, artifact_type="log", name=f"shared/{i % 10}.txt",
                                   model_id=f"t{t}")
                    with lock:
                        ids.append(a.id)
            except BaseException as exc:  # pragma: no cover
                errors.append(exc)

        threads = [threading.Thread(target=thread_writer, args=(t,)) for t in range(8)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
    for _ in procs:
        ids += q.get(timeout=300)
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    assert not errors
    assert len(ids) == 1000
    _check_consistent(root, ids)


CRASHER = textwrap.dedent("""
    import os, sys, artifactstore
    root = sys.argv[1]
    with artifactstore.open(root) as s:
        data = os.urandom(1 << 20)
        i = 0
        while True:
            s.put(data * 8 + str(i).encode(), artifact_type="log", name=f"crash/{i}.bin", codec="none")
            i += 1
            print(i, flush=True)
""")


def test_killed_writer_leaves_no_partial_artifact(tmp_path: Path) -> None:
    root = tmp_path / "s"
    artifactstore.open(root).close()
    script = tmp_path / "crasher.py"
    script.write_text(CRASHER)
    for delay in (0.6, 1.1, 1.7):
        proc = subprocess.Popen([sys.executable, str(script), str(root)], stdout=subprocess.DEVNULL)
        time.sleep(delay)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    with artifactstore.open(root) as s:
        # whatever is visible is complete and verifies
        report = s.verify()
        assert report.ok and len(report.checked) >= 1
        visible = s.count()
        # a reindex from the backend sees the same artifacts (nothing half-written listed)
        assert s.reindex() == visible
        assert s.verify().ok
        # leftovers are staging files and unreferenced blobs only, which gc removes
        from artifactstore import gc

        gc.apply(s, gc.plan(s, ["keep_all"], grace_seconds=0))
        assert not list((root / "tmp").glob("*"))
        referenced = {a.blob_key for a in s.catalog.iter_all()}
        assert {o.key for o in s.backend.list("blobs/")} == referenced
        assert s.count() == visible and s.verify().ok


@pytest.mark.skipif(os.cpu_count() is None, reason="needs os.cpu_count")
def test_ids_unique_and_time_sorted_across_processes() -> None:
    from artifactstore.ids import id_timestamp, new_id

    ctx = mp.get_context("spawn")
    with ctx.Pool(4) as pool:
        batches = pool.map(_ids, range(4))
    all_ids = [i for b in batches for i in b] + [new_id() for _ in range(1000)]
    assert len(set(all_ids)) == len(all_ids)
    for b in batches:
        assert b == sorted(b)
    assert abs(id_timestamp(all_ids[-1]) - time.time()) < 60


def _ids(_: int) -> list[str]:
    from artifactstore.ids import new_id

    return [new_id() for _ in range(5000)]
