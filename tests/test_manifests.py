"""Example-based unit tests of artifactstore.manifests: the Journal, commit markers, check_entry, blob_key.

Journal tests run on a LocalBackend (appends to one segment file) and on memory:// (one
object per batch). The hypothesis properties (any bytes as a segment, mutated entries)
live in test_properties.py.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

from artifactstore import manifests
from artifactstore.backends.base import Backend
from artifactstore.backends.fsspec_backend import FsspecBackend, MemoryBackend
from artifactstore.backends.local import LocalBackend
from artifactstore.ids import new_id
from artifactstore.manifests import (
    COMMIT,
    FORMAT,
    KINDS,
    MANIFESTS,
    RECORDS,
    VERSIONS,
    Journal,
    blob_key,
    check_entry,
    committed_entries,
)

SUFFIXES = {"none": "", "zstd": ".zst", "gzip": ".gz"}


@pytest.fixture(params=["local", "memory"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    b: Backend
    if request.param == "local":
        b = LocalBackend(str(tmp_path / "root"))
    else:
        b = FsspecBackend(f"memory://manifests-{uuid.uuid4().hex}")
        assert isinstance(b, MemoryBackend)
    yield b
    for o in list(b.list("")):
        b.delete(o.key)
    b.close()


def _raw(entry: dict[str, Any]) -> bytes:
    return json.dumps(entry).encode() + b"\n"


def _names(entries: list[dict[str, Any]]) -> list[Any]:
    return [e.get("name") for e in entries]


# --- append and commit -------------------------------------------------------------------------


def test_append_returns_a_jsonl_key_in_the_folder(backend: Backend) -> None:
    key = Journal(backend, RECORDS).append([{"kind": "delete", "artifact_id": new_id()}])
    assert key.startswith(f"{RECORDS}/") and key.endswith(".jsonl")
    assert backend.exists(key)


def test_append_tags_format_seq_and_batch(backend: Backend) -> None:
    j = Journal(backend, MANIFESTS)
    batch = new_id()
    key = j.append([{"kind": "artifact", "name": "a"}, {"kind": "artifact", "name": "b"}], batch=batch)
    back = j.read_segment(key)
    assert _names(back) == ["a", "b"]
    for e in back:
        assert e["format"] == FORMAT == 2
        assert e["batch"] == batch
        assert isinstance(e["seq"], str)
    assert back[0]["seq"] != back[1]["seq"]


def test_append_keeps_given_format_and_seq(backend: Backend) -> None:
    j = Journal(backend, MANIFESTS)
    key = j.append([{"kind": "artifact", "name": "a", "format": 1, "seq": "s-1"}])
    (e,) = j.read_segment(key)
    assert e["format"] == 1 and e["seq"] == "s-1"
    assert "batch" not in e


def test_append_writes_one_compact_sorted_line_per_entry(backend: Backend) -> None:
    j = Journal(backend, MANIFESTS)
    key = j.append([{"name": "é", "kind": "artifact", "seq": "s", "format": 2}])
    assert backend.read_bytes(key) == '{"format":2,"kind":"artifact","name":"é","seq":"s"}\n'.encode()


def test_uncommitted_batch_is_invisible_until_its_marker(backend: Backend) -> None:
    j = Journal(backend, MANIFESTS)
    batch = new_id()
    j.append([{"kind": "artifact", "name": "a"}, {"kind": "artifact", "name": "b"}], batch=batch)
    assert j.read_committed() == []
    assert _names(list(j.read_all())) == ["a", "b"]  # the lines are there, they just do not count
    j.commit([batch])
    assert _names(j.read_committed()) == ["a", "b"]
    # The marker itself is written but left out of read_committed.
    assert [e["kind"] for e in j.read_all()] == ["artifact", "artifact", COMMIT]
    assert all(e["kind"] != COMMIT for e in j.read_committed())


def test_commit_marks_only_the_batches_it_names(backend: Backend) -> None:
    j = Journal(backend, MANIFESTS)
    b1, b2 = new_id(), new_id()
    j.append([{"kind": "artifact", "name": "one"}], batch=b1)
    j.append([{"kind": "artifact", "name": "two"}], batch=b2)
    j.commit([b2])
    assert _names(j.read_committed()) == ["two"]
    j.commit([b1])
    assert _names(j.read_committed()) == ["one", "two"]


def test_commit_is_idempotent(backend: Backend) -> None:
    j = Journal(backend, MANIFESTS)
    batch = new_id()
    j.append([{"kind": "artifact", "name": "a"}], batch=batch)
    j.commit([batch])
    j.commit([batch])
    assert _names(j.read_committed()) == ["a"]


def test_commit_of_no_batches_writes_nothing(backend: Backend) -> None:
    j = Journal(backend, MANIFESTS)
    j.commit([])
    assert j.segments() == []
    assert list(j.read_all()) == []


def test_entries_without_a_batch_count(backend: Backend) -> None:
    j = Journal(backend, RECORDS)
    j.append([{"kind": "delete", "artifact_id": "x"}])
    assert [e["artifact_id"] for e in j.read_committed()] == ["x"]


def test_format_1_lines_always_count(backend: Backend) -> None:
    backend.write_bytes(f"{MANIFESTS}/old.jsonl", _raw({"kind": "artifact", "name": "legacy"})
                        + _raw({"kind": "artifact", "name": "legacy2", "format": 1}))
    j = Journal(backend, MANIFESTS)
    batch = new_id()
    j.append([{"kind": "artifact", "name": "new"}], batch=batch)
    assert _names(j.read_committed()) == ["legacy", "legacy2"]
    j.commit([batch])
    assert sorted(_names(j.read_committed())) == ["legacy", "legacy2", "new"]


def test_read_committed_also_counts_pending_batches(backend: Backend) -> None:
    j = Journal(backend, MANIFESTS)
    pending, other = new_id(), new_id()
    j.append([{"kind": "artifact", "name": "pending"}], batch=pending)
    j.append([{"kind": "artifact", "name": "other"}], batch=other)
    assert _names(j.read_committed(also=[pending])) == ["pending"]
    assert _names(j.read_committed(also=iter([pending, other]))) == ["pending", "other"]
    assert _names(j.read_committed(also=["not-a-batch-here"])) == []
    assert j.read_committed() == []  # ``also`` marks nothing for later calls


def test_a_marker_in_another_segment_commits_the_batch(backend: Backend) -> None:
    batch = new_id()
    Journal(backend, MANIFESTS).append([{"kind": "artifact", "name": "a"}], batch=batch)
    Journal(backend, MANIFESTS).commit([batch])  # another store object: another segment on local disk
    j = Journal(backend, MANIFESTS)
    assert len(j.segments()) == 2
    assert _names(j.read_committed()) == ["a"]


def test_local_appends_share_one_segment_memory_writes_one_object_each(backend: Backend) -> None:
    j = Journal(backend, MANIFESTS)
    k1 = j.append([{"kind": "artifact", "name": "a"}])
    k2 = j.append([{"kind": "artifact", "name": "b"}])
    if backend.supports_append:
        assert k1 == k2
        assert j.segments() == [k1]
    else:
        assert k1 != k2
        assert j.segments() == sorted([k1, k2])
    assert _names(list(j.read_all())) == ["a", "b"]


def test_two_journals_on_one_folder_use_their_own_segments(backend: Backend) -> None:
    k1 = Journal(backend, MANIFESTS).append([{"kind": "artifact", "name": "a"}])
    k2 = Journal(backend, MANIFESTS).append([{"kind": "artifact", "name": "b"}])
    assert k1 != k2


# --- reading -----------------------------------------------------------------------------------


def test_torn_trailing_line_is_skipped(backend: Backend, caplog: pytest.LogCaptureFixture) -> None:
    key = f"{MANIFESTS}/seg.jsonl"
    backend.write_bytes(key, _raw({"kind": "artifact", "name": "a"}) + _raw({"kind": "artifact", "name": "b"})
                        + b'{"kind": "artifact", "na')
    j = Journal(backend, MANIFESTS)
    with caplog.at_level(logging.WARNING, logger="artifactstore.manifests"):
        assert _names(j.read_segment(key)) == ["a", "b"]
    assert any("line 3" in r.getMessage() and key in r.getMessage() and "torn write" in r.getMessage()
               for r in caplog.records)
    assert _names(j.read_committed()) == ["a", "b"]


def test_torn_line_of_invalid_utf8_is_skipped(backend: Backend) -> None:
    key = f"{MANIFESTS}/seg.jsonl"
    backend.write_bytes(key, _raw({"kind": "artifact", "name": "a"}) + b'{"name": "\xff\xfe')
    assert _names(Journal(backend, MANIFESTS).read_segment(key)) == ["a"]


def test_torn_line_of_a_committed_batch_loses_only_that_line(backend: Backend) -> None:
    batch = new_id()
    ok = _raw({"kind": "artifact", "name": "a", "batch": batch})
    marker = _raw({"kind": COMMIT, "batch": batch})
    backend.write_bytes(f"{MANIFESTS}/seg.jsonl", ok + marker + ok[:-10])
    assert _names(Journal(backend, MANIFESTS).read_committed()) == ["a"]


def test_blank_lines_and_non_objects_are_skipped(backend: Backend) -> None:
    key = f"{MANIFESTS}/seg.jsonl"
    backend.write_bytes(key, b"\n  \n" + _raw({"kind": "artifact", "name": "a"}) + b"[1, 2]\n3\n\"s\"\nnull\n\r\n"
                        + _raw({"kind": "artifact", "name": "b"}))
    assert _names(Journal(backend, MANIFESTS).read_segment(key)) == ["a", "b"]


def test_read_segment_of_a_missing_key_is_empty(backend: Backend) -> None:
    assert Journal(backend, MANIFESTS).read_segment(f"{MANIFESTS}/absent.jsonl") == []


def test_segments_lists_sorted_jsonl_objects_of_the_folder_only(backend: Backend) -> None:
    for key in (f"{MANIFESTS}/b.jsonl", f"{MANIFESTS}/a.jsonl", f"{MANIFESTS}/notes.txt", f"{MANIFESTS}/c.jsonl.tmp",
                f"{RECORDS}/r.jsonl", f"{MANIFESTS}x/m.jsonl", "manifests.jsonl", "blobs/sha256/aa/x.jsonl"):
        backend.write_bytes(key, _raw({"kind": "artifact", "name": key.replace("/", "_").replace(":", "_")}))
    assert Journal(backend, MANIFESTS).segments() == [f"{MANIFESTS}/a.jsonl", f"{MANIFESTS}/b.jsonl"]
    assert Journal(backend, RECORDS).segments() == [f"{RECORDS}/r.jsonl"]
    assert Journal(backend, VERSIONS).segments() == []


def test_read_all_reads_segments_in_key_order(backend: Backend) -> None:
    backend.write_bytes(f"{MANIFESTS}/2.jsonl", _raw({"kind": "artifact", "name": "c"}))
    backend.write_bytes(f"{MANIFESTS}/1.jsonl", _raw({"kind": "artifact", "name": "a"})
                        + _raw({"kind": "artifact", "name": "b"}))
    assert _names(list(Journal(backend, MANIFESTS).read_all())) == ["a", "b", "c"]


class _RemoteMemory(MemoryBackend):
    """memory:// flagged remote, so that read_all takes its concurrent path."""

    is_remote: ClassVar[bool] = True


def test_read_all_on_a_remote_backend_keeps_the_order() -> None:
    b = _RemoteMemory(f"memory://manifests-remote-{uuid.uuid4().hex}")
    try:
        for i in range(12):
            b.write_bytes(f"{MANIFESTS}/{i:03d}.jsonl", _raw({"kind": "artifact", "name": f"{i}-a"})
                          + _raw({"kind": "artifact", "name": f"{i}-b"}))
        got = _names(list(Journal(b, MANIFESTS).read_all(workers=3)))
        assert got == [f"{i}-{s}" for i in range(12) for s in "ab"]
    finally:
        for o in list(b.list("")):
            b.delete(o.key)


# --- segment rotation and failed appends (local disk) ------------------------------------------


class _FailingAppends(LocalBackend):
    """Local disk whose next append writes only part of its data, then fails (a full disk)."""

    fail_next = False

    def append_bytes(self, key: str, data: bytes) -> None:
        if self.fail_next:
            self.fail_next = False
            super().append_bytes(key, data[: len(data) // 2])
            raise OSError(28, "No space left on device")
        super().append_bytes(key, data)


def test_a_failed_append_moves_to_a_new_segment(tmp_path: Path) -> None:
    b = _FailingAppends(str(tmp_path / "root"))
    j = Journal(b, MANIFESTS)
    first = j.append([{"kind": "artifact", "name": "a"}])
    b.fail_next = True
    with pytest.raises(OSError, match="No space left"):
        j.append([{"kind": "artifact", "name": "lost"}])
    second = j.append([{"kind": "artifact", "name": "b"}])
    assert second != first
    assert j.segments() == sorted([first, second])
    # The torn half line stays at the end of the first segment; nothing was glued to it.
    assert not b.read_bytes(first).endswith(b"\n")
    assert _names(j.read_committed()) == ["a", "b"]


def test_segment_rotates_past_the_size_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(manifests, "_ROTATE_BYTES", 100)
    j = Journal(LocalBackend(str(tmp_path / "root")), MANIFESTS)
    k1 = j.append([{"kind": "artifact", "name": "a" * 120}])  # over the limit once written
    k2 = j.append([{"kind": "artifact", "name": "b"}])
    k3 = j.append([{"kind": "artifact", "name": "c"}])
    assert k1 != k2
    assert k2 == k3  # the new segment is still below the limit
    assert _names(list(j.read_all())) == ["a" * 120, "b", "c"]


# --- committed_entries -------------------------------------------------------------------------


def test_committed_entries_keeps_order_and_drops_markers() -> None:
    entries = [
        {"kind": "artifact", "name": "1", "batch": "b1"},
        {"kind": "artifact", "name": "legacy"},
        {"kind": COMMIT, "batch": "b2"},
        {"kind": "artifact", "name": "2", "batch": "b2"},
        {"kind": "artifact", "name": "3", "batch": "b3"},
        {"kind": COMMIT, "batch": "b1"},  # a marker after its entries still counts
    ]
    assert _names(committed_entries(entries)) == ["1", "legacy", "2"]
    assert _names(committed_entries(entries, also=["b3"])) == ["1", "legacy", "2", "3"]
    assert committed_entries([]) == []


def test_committed_entries_ignore_non_string_batches() -> None:
    entries: list[dict[str, Any]] = [
        {"kind": COMMIT, "batch": 7},
        {"kind": COMMIT},
        {"kind": "artifact", "name": "int-batch", "batch": 7},
        {"kind": "artifact", "name": "null-batch", "batch": None},
        {"kind": "artifact", "name": "list-batch", "batch": ["b"]},
    ]
    assert committed_entries(entries) == []
    assert committed_entries(entries, also=["7", "None"]) == []


def test_committed_entries_accepts_a_generator() -> None:
    gen = (e for e in [{"kind": "artifact", "name": "a", "batch": "b"}, {"kind": COMMIT, "batch": "b"}])
    assert _names(committed_entries(gen)) == ["a"]


# --- blob_key ----------------------------------------------------------------------------------


def test_blob_key_layout() -> None:
    sha = hashlib.sha256(b"hello").hexdigest()
    assert blob_key(sha, "") == f"blobs/sha256/{sha[:2]}/{sha}"
    assert blob_key(sha, ".zst") == f"blobs/sha256/2c/{sha}.zst"
    assert blob_key("ab" + "0" * 62, ".gz") == "blobs/sha256/ab/ab" + "0" * 62 + ".gz"


# --- check_entry -------------------------------------------------------------------------------

_TS = "2026-01-01T00:00:00+00:00"


def _artifact(**over: Any) -> dict[str, Any]:
    sha = hashlib.sha256(b"data").hexdigest()
    e: dict[str, Any] = {
        "kind": "artifact", "id": new_id(), "name": "suite/report.json", "version": 1, "sha256": sha,
        "codec": "zstd", "blob_key": blob_key(sha, ".zst"), "size": 4, "stored_size": 13, "artifact_type": "report",
        "created_at": _TS, "metadata": {"k": 1}, "tags": ["t"], "model_id": "m1", "evaluation_id": None,
        "suite_name": "s", "map_name": None, "episode_id": None, "format": 2, "seq": new_id(), "batch": new_id(),
    }
    e.update(over)
    return e


_VALID: list[tuple[str, dict[str, Any]]] = [
    (MANIFESTS, {"kind": COMMIT, "batch": new_id()}),
    (RECORDS, {"kind": COMMIT, "batch": "0a-1"}),
    (VERSIONS, {"kind": COMMIT, "batch": new_id()}),
    (RECORDS, {"kind": "delete", "artifact_id": new_id()}),
    (VERSIONS, {"kind": "version", "artifact_id": new_id(), "version": 3, "name": "a/b"}),
    (RECORDS, {"kind": "edit", "artifact_id": new_id(), "metadata": {"a": 1}, "tags": []}),
    (RECORDS, {"kind": "edit", "artifact_id": new_id()}),
    (RECORDS, {"kind": "alias", "name": "a/b", "alias": "prod", "artifact_id": new_id()}),
    (RECORDS, {"kind": "unalias", "name": "a/b", "alias": "prod", "artifact_id": new_id()}),
    (RECORDS, {"kind": "evaluation", "evaluation_id": "e1", "model_id": "m1", "global_score": 0.5,
               "success_rate": 1, "timestamp": _TS}),
    (RECORDS, {"kind": "evaluation", "evaluation_id": "e1", "model_id": "m1", "global_score": 0.5,
               "success_rate": 0.0, "timestamp": 1_700_000_000}),
    (RECORDS, {"kind": "champion", "champion_id": new_id(), "seq_no": 1, "model_id": "m1", "global_score": 2.0,
               "success_rate": 0.25, "timestamp": "2026-01-01T00:00:00Z"}),
]


def test_check_entry_accepts_a_valid_artifact() -> None:
    assert check_entry(_artifact(), MANIFESTS, SUFFIXES) is None
    sha = hashlib.sha256(b"data").hexdigest()
    assert check_entry(_artifact(codec="none", blob_key=blob_key(sha, "")), MANIFESTS, SUFFIXES) is None
    # Optional fields may be absent; format-1 entries have no batch.
    minimal = {k: v for k, v in _artifact().items() if k not in ("metadata", "tags", "model_id", "batch", "format",
                                                                   "seq")}
    assert check_entry(minimal, MANIFESTS, SUFFIXES) is None
    assert check_entry(_artifact(created_at=1_700_000_000.5), MANIFESTS, SUFFIXES) is None
    assert check_entry(_artifact(created_at="2026-01-01T00:00:00"), MANIFESTS, SUFFIXES) is None  # naive: UTC


@pytest.mark.parametrize(("folder", "entry"), _VALID, ids=[f"{f}-{e['kind']}" for f, e in _VALID])
def test_check_entry_accepts_each_valid_kind(folder: str, entry: dict[str, Any]) -> None:
    assert check_entry(entry, folder, SUFFIXES) is None


_BAD_ARTIFACT: list[tuple[dict[str, Any], str]] = [
    ({"id": "not-an-id"}, "bad artifact id 'not-an-id'"),
    ({"id": None}, "bad artifact id None"),
    ({"version": 0}, "bad version 0"),
    ({"version": True}, "bad version True"),
    ({"version": "1"}, "bad version '1'"),
    ({"version": 1.0}, "bad version 1.0"),
    ({"sha256": "ABC"}, "bad sha256 'ABC'"),
    ({"sha256": "A" * 64}, f"bad sha256 {'A' * 64!r}"),
    ({"codec": "brotli"}, "unknown codec 'brotli'"),
    ({"codec": None}, "unknown codec None"),
    ({"size": -1}, "bad size -1"),
    ({"size": False}, "bad size False"),
    ({"stored_size": "13"}, "bad stored_size '13'"),
    ({"artifact_type": ""}, "bad artifact_type"),
    ({"artifact_type": "x" * 129}, "bad artifact_type"),
    ({"artifact_type": "a\nb"}, "bad artifact_type"),
    ({"created_at": "yesterday"}, "bad created_at"),
    ({"created_at": float("nan")}, "bad created_at"),
    ({"created_at": 1e20}, "bad created_at"),
    ({"created_at": None}, "bad created_at"),
    ({"metadata": []}, "bad metadata or tags"),
    ({"tags": "t"}, "bad metadata or tags"),
    ({"model_id": ""}, "bad model_id"),
    ({"evaluation_id": 3}, "bad evaluation_id"),
    ({"suite_name": "x" * 256}, "bad suite_name"),
    ({"map_name": "a\tb"}, "bad map_name"),
    ({"episode_id": ["e"]}, "bad episode_id"),
    ({"batch": "NOT-HEX"}, "bad batch id"),
    ({"batch": 5}, "bad batch id"),
    ({"batch": "0" * 41}, "bad batch id"),
]


@pytest.mark.parametrize(("over", "reason"), _BAD_ARTIFACT, ids=[r for _, r in _BAD_ARTIFACT])
def test_check_entry_reason_for_each_bad_artifact_field(over: dict[str, Any], reason: str) -> None:
    assert check_entry(_artifact(**over), MANIFESTS, SUFFIXES) == reason


def test_check_entry_reason_for_a_blob_key_outside_the_content_address() -> None:
    sha = hashlib.sha256(b"data").hexdigest()
    for key in ("../../etc/passwd", blob_key(sha, ""), blob_key(sha, ".gz"), f"blobs/sha256/00/{sha}.zst", None):
        why = check_entry(_artifact(blob_key=key), MANIFESTS, SUFFIXES)
        assert why == f"blob key {key!r} is not the content address of {sha[:12]}... (zstd)"


def test_check_entry_reports_bad_names_and_aliases_with_the_name_check_message() -> None:
    assert check_entry(_artifact(name="../x"), MANIFESTS, SUFFIXES) == (
        "invalid name '../x': '..' segment (path traversal)")
    assert check_entry(_artifact(name=None), MANIFESTS, SUFFIXES) == "invalid name 'None': a name must be a string"
    alias = {"kind": "alias", "name": "a", "alias": "v1", "artifact_id": new_id()}
    why = check_entry(alias, RECORDS, SUFFIXES)
    assert why is not None and why.startswith("invalid name 'v1': an alias is 1-128")
    version = {"kind": "version", "artifact_id": new_id(), "version": 1, "name": "/abs"}
    assert check_entry(version, VERSIONS, SUFFIXES) == "invalid name '/abs': absolute path"


@pytest.mark.parametrize("value", [[], "entry", 3, None, ["kind", "artifact"]])
def test_check_entry_reason_for_non_objects(value: Any) -> None:
    assert check_entry(value, MANIFESTS, SUFFIXES) == "not a JSON object"


def test_check_entry_reason_for_kinds_of_another_folder() -> None:
    assert check_entry(_artifact(), RECORDS, SUFFIXES) == "unknown entry kind 'artifact' in records/"
    assert check_entry({"kind": "delete", "artifact_id": new_id()}, MANIFESTS, SUFFIXES) == (
        "unknown entry kind 'delete' in manifests/")
    assert check_entry({"kind": "alias"}, VERSIONS, SUFFIXES) == "unknown entry kind 'alias' in versions/"
    assert check_entry({"kind": COMMIT, "batch": "ab"}, "elsewhere", SUFFIXES) == (
        "unknown entry kind 'commit' in elsewhere/")
    assert check_entry({}, MANIFESTS, SUFFIXES) == "unknown entry kind None in manifests/"
    assert check_entry({"kind": 1}, MANIFESTS, SUFFIXES) == "unknown entry kind 1 in manifests/"


def test_every_folder_accepts_commit_markers() -> None:
    assert all(COMMIT in kinds for kinds in KINDS.values())
    assert set(KINDS) == {MANIFESTS, RECORDS, VERSIONS}


def test_check_entry_reason_for_a_marker_without_batch() -> None:
    assert check_entry({"kind": COMMIT}, MANIFESTS, SUFFIXES) == "bad commit marker"


def test_check_entry_reason_for_a_marker_with_a_bad_batch() -> None:
    assert check_entry({"kind": COMMIT, "batch": "xyz"}, MANIFESTS, SUFFIXES) == "bad batch id"
    assert check_entry({"kind": COMMIT, "batch": ""}, MANIFESTS, SUFFIXES) == "bad batch id"
    assert check_entry({"kind": COMMIT, "batch": None}, MANIFESTS, SUFFIXES) == "bad batch id"


_BAD_RECORDS: list[tuple[str, dict[str, Any], str]] = [
    (RECORDS, {"kind": "delete", "artifact_id": "x"}, "bad artifact id 'x'"),
    (RECORDS, {"kind": "delete"}, "bad artifact id None"),
    (VERSIONS, {"kind": "version", "artifact_id": "x", "version": 1, "name": "a"}, "bad artifact id 'x'"),
    (VERSIONS, {"kind": "version", "artifact_id": new_id(), "version": 0, "name": "a"}, "bad version"),
    (VERSIONS, {"kind": "version", "artifact_id": new_id(), "version": "2", "name": "a"}, "bad version"),
    (RECORDS, {"kind": "edit", "artifact_id": 1}, "bad artifact id"),
    (RECORDS, {"kind": "edit", "artifact_id": new_id(), "metadata": "m"}, "bad metadata or tags"),
    (RECORDS, {"kind": "edit", "artifact_id": new_id(), "tags": {"t": 1}}, "bad metadata or tags"),
    (RECORDS, {"kind": "alias", "name": "a", "alias": "prod", "artifact_id": "x"}, "bad artifact id"),
    (RECORDS, {"kind": "unalias", "name": "a", "alias": "prod"}, "bad artifact id"),
    (RECORDS, {"kind": "evaluation", "evaluation_id": "", "model_id": "m", "global_score": 1, "success_rate": 1,
               "timestamp": _TS}, "bad evaluation or model id"),
    (RECORDS, {"kind": "evaluation", "evaluation_id": "e", "global_score": 1, "success_rate": 1,
               "timestamp": _TS}, "bad evaluation or model id"),
    (RECORDS, {"kind": "evaluation", "evaluation_id": "e", "model_id": "m", "global_score": float("inf"),
               "success_rate": 1, "timestamp": _TS}, "bad scores"),
    (RECORDS, {"kind": "evaluation", "evaluation_id": "e", "model_id": "m", "global_score": True,
               "success_rate": 1, "timestamp": _TS}, "bad scores"),
    (RECORDS, {"kind": "evaluation", "evaluation_id": "e", "model_id": "m", "global_score": 1,
               "success_rate": 1, "timestamp": "not a time"}, "bad scores"),
    (RECORDS, {"kind": "champion", "champion_id": "c", "seq_no": 1, "model_id": "m", "global_score": 1,
               "success_rate": 1, "timestamp": _TS}, "bad champion id"),
    (RECORDS, {"kind": "champion", "champion_id": new_id(), "seq_no": "1", "model_id": "m", "global_score": 1,
               "success_rate": 1, "timestamp": _TS}, "bad champion number or model id"),
    (RECORDS, {"kind": "champion", "champion_id": new_id(), "seq_no": 1, "model_id": "m\n", "global_score": 1,
               "success_rate": 1, "timestamp": _TS}, "bad champion number or model id"),
    (RECORDS, {"kind": "champion", "champion_id": new_id(), "seq_no": 1, "model_id": "m", "global_score": 1,
               "success_rate": "1", "timestamp": _TS}, "bad scores"),
    (RECORDS, {"kind": "champion", "champion_id": new_id(), "seq_no": 1, "model_id": "m", "global_score": 1,
               "success_rate": 1}, "bad scores"),
]


@pytest.mark.parametrize(("folder", "entry", "reason"), _BAD_RECORDS,
                         ids=[f"{e['kind']}-{r}" for _, e, r in _BAD_RECORDS])
def test_check_entry_reason_for_each_bad_record(folder: str, entry: dict[str, Any], reason: str) -> None:
    assert check_entry(entry, folder, SUFFIXES) == reason


def test_check_entry_uses_the_suffix_of_the_given_codec_table() -> None:
    sha = hashlib.sha256(b"data").hexdigest()
    e = _artifact(codec="lz4", blob_key=blob_key(sha, ".lz4"))
    assert check_entry(e, MANIFESTS, SUFFIXES) == "unknown codec 'lz4'"
    assert check_entry(e, MANIFESTS, {**SUFFIXES, "lz4": ".lz4"}) is None


def test_entries_written_by_the_journal_pass_check_entry(backend: Backend) -> None:
    j = Journal(backend, MANIFESTS)
    batch = new_id()
    art = _artifact()
    del art["batch"], art["format"], art["seq"]
    j.append([art], batch=batch)
    j.commit([batch])
    back = list(j.read_all())
    assert len(back) == 2
    assert all(check_entry(e, MANIFESTS, SUFFIXES) is None for e in back)


# --- fixed after these tests found them: "$" matched before a trailing newline; booleans as numbers


def test_check_entry_refuses_a_trailing_newline_in_ids_digests_and_batches() -> None:
    sha = hashlib.sha256(b"data").hexdigest()
    assert check_entry(_artifact(id=new_id() + "\n"), MANIFESTS, SUFFIXES) is not None
    assert check_entry(_artifact(sha256=sha + "\n", blob_key=blob_key(sha + "\n", ".zst")), MANIFESTS,
                       SUFFIXES) is not None
    assert check_entry(_artifact(batch=new_id() + "\n"), MANIFESTS, SUFFIXES) is not None
    assert check_entry({"kind": COMMIT, "batch": new_id() + "\n"}, MANIFESTS, SUFFIXES) is not None
    assert check_entry({"kind": "delete", "artifact_id": new_id() + "\n"}, RECORDS, SUFFIXES) is not None


def test_check_entry_refuses_booleans_as_version_and_seq_no() -> None:
    version = {"kind": "version", "artifact_id": new_id(), "version": True, "name": "a/b"}
    assert check_entry(version, VERSIONS, SUFFIXES) == "bad version"
    champion = {"kind": "champion", "champion_id": new_id(), "seq_no": True, "model_id": "m1", "global_score": 2.0,
                "success_rate": 0.25, "timestamp": _TS}
    assert check_entry(champion, RECORDS, SUFFIXES) is not None
