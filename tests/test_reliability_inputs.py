"""Metadata limits (one size and depth limit, typed errors, nothing stored) and the crash-point hook."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import artifactstore
from artifactstore.errors import InvalidMetadataError
from artifactstore.store import METADATA_MAX_BYTES, METADATA_MAX_DEPTH


def _blobs(root: Path) -> list[Path]:
    return [p for p in (root / "blobs").rglob("*") if p.is_file()] if (root / "blobs").exists() else []


@pytest.mark.parametrize("case", ["deep", "big", "surrogate"])
def test_bad_metadata_is_typed_and_stores_nothing(tmp_path: Path, case: str) -> None:
    meta: dict[str, Any]
    if case == "deep":
        deep: dict[str, Any] = {}
        cur = deep
        for _ in range(10_000):
            cur["k"] = {}
            cur = cur["k"]
        meta = deep
    elif case == "big":
        meta = {"x": "a" * (METADATA_MAX_BYTES + 1)}
    else:
        meta = {"x": "\ud800"}
    with artifactstore.open(tmp_path / "s") as store:
        with pytest.raises(InvalidMetadataError):
            store.put(b"payload", name="a.txt", artifact_type="other", metadata=meta)
        assert store.count() == 0
    assert _blobs(tmp_path / "s") == []


def test_metadata_at_the_limits_is_accepted(tmp_path: Path) -> None:
    nested: Any = "leaf"
    for _ in range(METADATA_MAX_DEPTH - 1):
        nested = {"k": nested}
    with artifactstore.open(tmp_path / "s") as store:
        a = store.put(b"payload", name="a.txt", artifact_type="other", metadata=nested)
        assert store.resolve(a.id).metadata == nested


def test_crash_point_is_a_noop_unless_named() -> None:
    from artifactstore.faults import crash_point

    crash_point("after-manifest-append")  # env var unset: nothing happens


def test_crash_point_kills_the_writer(tmp_path: Path) -> None:
    code = (
        "import artifactstore, sys\n"
        "s = artifactstore.open(sys.argv[1])\n"
        "s.put(b'x', name='n.txt', artifact_type='other')\n"
    )
    env = {**os.environ, "ARTIFACTSTORE_CRASH_POINT": "after-manifest-append",
           "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.run([sys.executable, "-c", code, str(tmp_path / "s")], env=env, timeout=120)
    assert proc.returncode == -signal.SIGKILL
    with artifactstore.open(tmp_path / "s") as store:
        assert not store.verify().corrupt
        assert store.count() == 0  # the live catalog never committed it


def test_rerecorded_evaluation_live_equals_reindex(tmp_path: Path) -> None:
    with artifactstore.open(tmp_path / "s") as store:
        store.record_evaluation("e1", "m1", global_score=1.0, success_rate=0.5)
        store.promote_champion("m1", evaluation_id="e1", global_score=1.0, success_rate=0.5)
        store.record_evaluation("e1", "m1", global_score=1.0, success_rate=0.6)
        live = store.evaluation("e1")
        store.reindex()
        rebuilt = store.evaluation("e1")
    assert live == rebuilt
    assert live.is_champion


@pytest.mark.parametrize("text", [b"{not json", b"[1, 2]", b'{"format": "x"}', b"\xff\xfe"])
def test_malformed_store_json_is_typed(tmp_path: Path, text: bytes) -> None:
    from artifactstore.errors import InvalidInputError

    root = tmp_path / "s"
    artifactstore.open(root).close()
    (root / "store.json").write_bytes(text)
    with pytest.raises(InvalidInputError):
        artifactstore.open(root)
    assert (root / "store.json").read_bytes() == text  # nothing rewritten


def test_get_onto_an_existing_folder_is_typed(tmp_path: Path) -> None:
    from artifactstore.errors import InvalidInputError

    with artifactstore.open(tmp_path / "s") as store:
        store.put(b"x", name="a.txt", artifact_type="other")
        dest = tmp_path / "out"
        (dest / "a.txt").mkdir(parents=True)
        with pytest.raises(InvalidInputError):
            store.get("a.txt", dest)
        assert (dest / "a.txt").is_dir() and list((dest / "a.txt").iterdir()) == []
        assert sorted(p.name for p in dest.iterdir()) == ["a.txt"]  # no .part left behind
