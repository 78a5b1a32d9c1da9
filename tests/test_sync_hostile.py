"""sync trusts nothing: a hostile or malformed source store is rejected, typed, before anything is written.

Each case writes one bad line into a real source store's journal (as an attacker with
write access to the source bucket would), syncs into a destination that has its own
artifacts, and checks: a typed error (``HostileStoreError``, never a raw ``ValueError``
or ``KeyError``), the destination's backend listing unchanged byte for byte, its
catalog unchanged, and it still reindexes. Also: versions of one name held by both
stores are not renumbered at the destination, and an interrupted sync is finished by
the next sync or open.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import artifactstore
from artifactstore import ArtifactStore
from artifactstore.errors import HostileStoreError
from artifactstore.ids import new_id
from artifactstore.manifests import MANIFESTS, RECORDS, blob_key
from artifactstore.sync import sync


@pytest.fixture
def src(tmp_path: Path) -> Iterator[ArtifactStore]:
    with artifactstore.open(tmp_path / "src") as s:
        s.put(b"from the source\n" * 50, name="n.txt", artifact_type="other")
        yield s


@pytest.fixture
def dst(tmp_path: Path) -> Iterator[ArtifactStore]:
    with artifactstore.open(tmp_path / "dst") as s:
        s.put(b"the destination's own", name="n.txt", artifact_type="other")
        s.put(b"mine too", name="own.txt", artifact_type="other")
        yield s


def _snapshot(store: ArtifactStore) -> dict[str, str]:
    out = {}
    for o in store.backend.list(""):
        if o.key.startswith(("blobs/", MANIFESTS, RECORDS, "versions/")):
            out[o.key] = hashlib.sha256(store.backend.read_bytes(o.key)).hexdigest()
    return out


def _catalog(store: ArtifactStore) -> list[tuple[str, str, int]]:
    return sorted((a.id, a.name, a.version) for a in store.catalog.iter_all())


def _good_artifact(store: ArtifactStore) -> dict[str, Any]:
    entry = next(e for e in store.manifests.read_all() if e.get("kind") == "artifact")
    return {**entry, "id": new_id(), "seq": new_id()}


def _append(store: ArtifactStore, folder: str, line: bytes) -> None:
    store.backend.write_bytes(f"{folder}/{new_id()}.jsonl", line + b"\n")


def _artifact_with(**changes: Any) -> Callable[[ArtifactStore, ArtifactStore], tuple[str, bytes]]:
    def make(s: ArtifactStore, _d: ArtifactStore) -> tuple[str, bytes]:
        e = _good_artifact(s)
        e.update(changes)
        return MANIFESTS, json.dumps(e).encode()
    return make


def _own_delete(_s: ArtifactStore, d: ArtifactStore) -> tuple[str, bytes]:
    victim = d.resolve("own.txt").id
    return RECORDS, json.dumps({"kind": "delete", "artifact_id": victim, "at": 0, "seq": new_id()}).encode()


def _record(entry: dict[str, Any]) -> Callable[[ArtifactStore, ArtifactStore], tuple[str, bytes]]:
    return lambda _s, _d: (RECORDS, json.dumps({**entry, "seq": new_id()}).encode())


CASES: dict[str, Callable[[ArtifactStore, ArtifactStore], tuple[str, bytes]]] = {
    "blob key with ..": _artifact_with(blob_key="blobs/../../../etc/passwd"),
    "absolute blob key": _artifact_with(blob_key="/etc/passwd"),
    "blob key of other content": _artifact_with(blob_key=blob_key("0" * 64, "")),
    "traversing name": _artifact_with(name="../../x"),
    "absolute name": _artifact_with(name="/tmp/x"),
    "control character in name": _artifact_with(name="a\x00b"),
    "sha256 not hex-64": _artifact_with(sha256="abc"),
    "unknown codec": _artifact_with(codec="rot13"),
    "bad id": _artifact_with(id="not-an-id"),
    "negative size": _artifact_with(size=-1),
    "version zero": _artifact_with(version=0),
    "missing name": _artifact_with(name=None),
    "unknown kind": lambda _s, _d: (MANIFESTS, b'{"kind": "format-disk"}'),
    "not an object": lambda _s, _d: (MANIFESTS, b'["artifact"]'),
    "garbage line": lambda _s, _d: (MANIFESTS, b"{not json\n{}"),
    "delete of the destination's own artifact": _own_delete,
    "delete with a bad id": _record({"kind": "delete", "artifact_id": "../x"}),
    "alias with a bad alias": _record({"kind": "alias", "name": "n.txt", "alias": "v3", "artifact_id": new_id()}),
    "evaluation with nan": _record({"kind": "evaluation", "evaluation_id": "e", "model_id": "m",
                                    "timestamp": 1.0, "global_score": float("nan"), "success_rate": 0.5}),
    "champion without id": _record({"kind": "champion", "seq_no": 1, "model_id": "m", "timestamp": 1.0,
                                    "global_score": 1.0, "success_rate": 1.0}),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_hostile_source_is_rejected_typed_and_nothing_changes(case: str, src: ArtifactStore,
                                                               dst: ArtifactStore) -> None:
    folder, line = CASES[case](src, dst)
    _append(src, folder, line)
    before, cat_before = _snapshot(dst), _catalog(dst)
    with pytest.raises(HostileStoreError):
        sync(src, dst)
    assert _snapshot(dst) == before
    assert _catalog(dst) == cat_before
    assert dst.reindex() == len(cat_before)
    assert _catalog(dst) == cat_before


def test_torn_last_line_of_a_source_segment_is_not_hostile(src: ArtifactStore, dst: ArtifactStore) -> None:
    src.backend.write_bytes(f"{MANIFESTS}/{new_id()}.jsonl", b'{"kind": "artif')  # a write in flight
    report = sync(src, dst)
    assert report.ok
    assert dst.read_bytes("n.txt@v2") == b"from the source\n" * 50


def test_versions_held_by_both_stores_are_appended_not_renumbered(src: ArtifactStore, dst: ArtifactStore) -> None:
    mine = dst.resolve("n.txt@v1")
    src.put(b"second from the source", name="n.txt", artifact_type="other")
    sync(src, dst)
    assert dst.resolve("n.txt@v1").id == mine.id  # a committed ref keeps its meaning
    assert dst.read_bytes("n.txt@v2") == b"from the source\n" * 50
    assert dst.read_bytes("n.txt@v3") == b"second from the source"
    dst.put(b"after", name="n.txt", artifact_type="other")
    assert dst.read_bytes("n.txt@v4") == b"after"
    before = _catalog(dst)
    dst.reindex()
    assert _catalog(dst) == before
    sync(src, dst)  # again: nothing new, nothing renumbered
    assert _catalog(dst) == before
    sync(dst, src)  # and back: the source keeps its own numbers
    assert src.read_bytes("n.txt@v1") == b"from the source\n" * 50


def test_sync_back_and_forth_with_champions_keeps_reindex_working(src: ArtifactStore, dst: ArtifactStore) -> None:
    for store, model in ((src, "a"), (dst, "b")):
        art = store.resolve("n.txt")
        store.promote_champion(model, global_score=1.0, success_rate=1.0, artifacts=[art])
    sync(src, dst)
    sync(dst, src)
    for store in (src, dst):
        seqs = [c.seq for c in store.champion_history()]
        assert sorted(seqs) == list(range(1, len(seqs) + 1))
        store.promote_champion("c", global_score=5.0, success_rate=1.0)
        before = [(c.seq, c.champion_id) for c in store.champion_history()]
        store.reindex()
        assert [(c.seq, c.champion_id) for c in store.champion_history()] == before


def test_interrupted_sync_is_finished_by_the_next_sync_and_by_open(src: ArtifactStore, dst: ArtifactStore,
                                                                   tmp_path: Path) -> None:
    src.put(b"more", name="more.txt", artifact_type="other")
    sync(src, dst, reindex=False)  # as if killed after copying the journals, before the catalog update
    pending = dst.catalog.sync_pending()
    assert pending is not None
    with artifactstore.open(tmp_path / "dst") as again:  # an open finishes it
        assert again.read_bytes("more.txt@v1") == b"more"
        assert again.read_bytes("n.txt@v2") == b"from the source\n" * 50
    src.put(b"even more", name="more.txt", artifact_type="other")
    report = sync(src, dst)  # and a re-run works
    assert report.ok
    assert dst.read_bytes("more.txt@v2") == b"even more"
