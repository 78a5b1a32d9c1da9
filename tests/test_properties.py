"""Property-based tests (hypothesis): names and refs, manifest lines, archive and sync input.

Properties:

- names and refs: every safe name round-trips through ``validate_name`` and ``parse_ref``
  (plain, ``@vN``, ``:alias``); any text at all is either accepted as a name that stays
  inside a folder when joined to it and is valid UTF-8, or rejected with InvalidNameError;
  ``put`` with arbitrary text in its string arguments stores it or raises a typed error
  having changed nothing;
- manifest lines: arbitrary bytes as a journal segment never raise and yield only objects;
  ``check_entry`` never raises on any JSON value or any mutation of a valid entry; valid
  entries round-trip through ``Journal.append`` and ``read_committed``; a batch counts
  only with its marker;
- archive import: a real archive with random mutations (fields, bytes, member names) is
  imported or refused typed, with the target unchanged and nothing written outside it;
- sync: a source store whose journals gain random or mutated lines syncs or is refused
  typed, the destination unchanged on refusal, nothing written outside it.

CI runs a modest number of examples (profile ``ci``); ``ARTIFACTSTORE_HYPOTHESIS=long`` runs
many more (profile ``long``).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import posixpath
import tarfile
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import artifactstore
from artifactstore import ArtifactStore
from artifactstore.backends.fsspec_backend import FsspecBackend
from artifactstore.errors import ArtifactStoreError, InvalidNameError
from artifactstore.ids import new_id
from artifactstore.manifests import MANIFESTS, RECORDS, Journal, blob_key, check_entry, committed_entries
from artifactstore.refs import Ref, parse_ref, validate_alias, validate_name

settings.register_profile("ci", max_examples=40, deadline=None, database=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("long", max_examples=2000, deadline=None, database=None,
                          suppress_health_check=[HealthCheck.too_slow])
#: The profile of this module's tests (applied per test: other modules keep their own settings).
FAST = settings.get_profile(os.environ.get("ARTIFACTSTORE_HYPOTHESIS", "ci"))
#: The slow properties (a store per example) run a quarter as many examples.
SLOW = settings(FAST, max_examples=max(10, FAST.max_examples // 4))

# --- strategies ------------------------------------------------------------------------------

_SEG_CHARS = st.characters(categories=["L", "N"]) | st.sampled_from(list("._- +=,()[]!'~&$#"))
segment = st.text(_SEG_CHARS, min_size=1, max_size=12).filter(lambda s: s not in (".", "..") and "%" not in s)
valid_name = st.lists(segment, min_size=1, max_size=4).map("/".join).filter(
    lambda n: not n.startswith("~") and len(n) <= 1024)
valid_alias = st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9._-]{0,20}\Z").filter(
    lambda a: not (a.startswith("v") and a[1:].isdigit() and a[1:2] != "0"))
hostile_text = st.text(max_size=40) | st.sampled_from([
    "../x", "a/../../b", "/etc/passwd", "C:\\x", "a\\b", "~/x", "%2e%2e/x", "a/%252e%252e/b", "a\x00b", "a\ud800",
    "\u202egnp.exe", "a//b", "./a", "a/.", "", " ", "x@v1", "x:y", "con", "a" * 2000, "\ufeffa", "a\u2028b",
])
json_value = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)

SUFFIXES = {"none": "", "zstd": ".zst", "gzip": ".gz"}


def _valid_entry(name: str, data: bytes, version: int = 1) -> dict[str, Any]:
    sha = hashlib.sha256(data).hexdigest()
    return {"kind": "artifact", "id": new_id(), "name": name, "version": version, "sha256": sha, "codec": "none",
            "blob_key": blob_key(sha, ""), "size": len(data), "stored_size": len(data), "artifact_type": "other",
            "created_at": "2026-01-01T00:00:00+00:00", "metadata": {"k": 1}, "tags": ["t"], "model_id": None,
            "evaluation_id": None, "suite_name": None, "map_name": None, "episode_id": None}


# --- names and refs ----------------------------------------------------------------------------


@FAST
@given(valid_name, st.integers(1, 10**9), valid_alias)
def test_valid_names_round_trip(name: str, version: int, alias: str) -> None:
    assert validate_name(name) == name
    assert parse_ref(name) == Ref(name=name)
    assert parse_ref(f"{name}@v{version}") == Ref(name=name, version=version)
    assert parse_ref(f"{name}@{version}") == Ref(name=name, version=version)
    assert validate_alias(alias) == alias
    assert parse_ref(f"{name}:{alias}") == Ref(name=name, alias=alias)


def test_ids_parse_as_ids() -> None:
    for _ in range(50):
        i = new_id()
        assert parse_ref(i) == Ref(artifact_id=i)


def _stays_inside(name: str) -> bool:
    from urllib.parse import unquote

    for form in {name, unquote(name), unquote(unquote(name))}:
        joined = posixpath.normpath(posixpath.join("/base", form))
        if not joined.startswith("/base/"):
            return False
    return True


@FAST
@given(hostile_text)
def test_any_text_is_a_safe_name_or_rejected_typed(text: str) -> None:
    try:
        name = validate_name(text)
    except InvalidNameError:
        pass
    else:
        assert name == text
        name.encode("utf-8")  # a manifest line and a key must be able to hold it
        assert _stays_inside(name) and "\\" not in name and not any(ord(c) < 32 for c in name)
    try:
        ref = parse_ref(text)
    except InvalidNameError:
        return
    assert ref.artifact_id is not None or ref.name is not None
    if ref.name is not None:
        assert validate_name(ref.name) == ref.name
    if ref.alias is not None:
        assert validate_alias(ref.alias) == ref.alias


@contextmanager
def _store() -> Iterator[tuple[ArtifactStore, Path]]:
    with tempfile.TemporaryDirectory(prefix="prop-") as d, artifactstore.open(Path(d) / "store") as s:
        yield s, Path(d)


def _files(root: Path, skip: Path | None = None) -> dict[str, str]:
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_file() and not (skip is not None and (p == skip or skip in p.parents)):
            out[str(p.relative_to(root))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def _store_state(s: ArtifactStore) -> tuple[Any, ...]:
    root = s.backend.local_path("")
    assert root is not None
    blobs = sorted(str(p.relative_to(root)) for p in (root / "blobs").rglob("*") if p.is_file())
    return tuple(sorted(a.id for a in s.find(limit=None))), tuple(blobs)


@SLOW
@given(name=hostile_text, model=hostile_text, tag=hostile_text, atype=hostile_text)
def test_put_with_arbitrary_text_stores_or_refuses_typed(name: str, model: str, tag: str, atype: str) -> None:
    with _store() as (s, _d):
        s.put(b"seed", name="seed.txt", artifact_type="other")
        before = _store_state(s)
        try:
            a = s.put(b"payload", name=name, artifact_type=atype or "other", model_id=model or None, tags=[tag])
        except ArtifactStoreError:
            assert _store_state(s) == before, "a refused put changed the store"
            return
        assert s.read_bytes(a) == b"payload" and s.resolve(a.ref).id == a.id


# --- manifest lines ----------------------------------------------------------------------------


@FAST
@given(st.binary(max_size=2000) | st.lists(st.text(max_size=60), max_size=8).map(lambda ls: "\n".join(ls).encode(
    "utf-8", "surrogatepass")))
def test_any_bytes_as_a_segment_never_raise(raw: bytes) -> None:
    backend = FsspecBackend(f"memory://prop-{uuid.uuid4().hex}")
    backend.write_bytes("manifests/x.jsonl", raw)
    entries = Journal(backend, MANIFESTS).read_segment("manifests/x.jsonl")
    assert all(isinstance(e, dict) for e in entries)
    for e in entries:
        assert check_entry(e, MANIFESTS, SUFFIXES) is None or isinstance(check_entry(e, MANIFESTS, SUFFIXES), str)
    committed_entries(entries)


@FAST
@given(json_value, st.sampled_from([MANIFESTS, RECORDS, "versions"]))
def test_check_entry_never_raises_on_any_json(value: Any, folder: str) -> None:
    assert check_entry(value, folder, SUFFIXES) is None or isinstance(check_entry(value, folder, SUFFIXES), str)


_FIELDS = [*sorted(_valid_entry("a", b"").keys()), "batch", "format", "seq", "kind"]


@FAST
@given(valid_name, st.binary(max_size=64), st.sampled_from(_FIELDS), json_value | hostile_text)
def test_check_entry_on_mutated_entries(name: str, data: bytes, field: str, value: Any) -> None:
    e = _valid_entry(name, data)
    assert check_entry(e, MANIFESTS, SUFFIXES) is None
    e[field] = value
    why = check_entry(e, MANIFESTS, SUFFIXES)
    assert why is None or isinstance(why, str)
    if why is None and field == "blob_key":
        assert value == e["blob_key"] and str(value).startswith("blobs/sha256/")
    if why is None and field == "name":
        assert validate_name(value) == value


@FAST
@given(st.lists(st.tuples(valid_name, st.binary(max_size=32)), min_size=1, max_size=5), st.booleans())
def test_valid_entries_round_trip_and_count_only_with_their_marker(items: list[tuple[str, bytes]],
                                                                   commit: bool) -> None:
    backend = FsspecBackend(f"memory://prop-{uuid.uuid4().hex}")
    journal = Journal(backend, MANIFESTS)
    entries = [_valid_entry(n, d, i + 1) for i, (n, d) in enumerate(items)]
    batch = new_id()
    journal.append([dict(e) for e in entries], batch=batch)
    if commit:
        journal.commit([batch])
    back = list(journal.read_all())
    assert [{k: v for k, v in e.items() if k not in ("batch", "format", "seq")} for e in back
            if e["kind"] == "artifact"] == entries
    assert all(check_entry(e, MANIFESTS, SUFFIXES) is None for e in back)
    got = journal.read_committed()
    assert len(got) == (len(entries) if commit else 0)
    assert len(journal.read_committed(also=[batch])) == len(entries)


# --- archive import -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def archive_members(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[str, bytes]]:
    """The members of a real archive (an index, two manifests, two artifacts)."""
    from artifactstore.archive import create_archive

    d = tmp_path_factory.mktemp("archive")
    with artifactstore.open(d / "src") as s:
        s.put(b"alpha " * 50, name="a/one.txt", artifact_type="other", metadata={"k": 1}, tags=["x"])
        s.put(b"beta", name="two.bin", artifact_type="model", model_id="m1")
        create_archive(s, d / "a.tar")
    with tarfile.open(d / "a.tar") as tf:
        return [(m.name, tf.extractfile(m).read()) for m in tf.getmembers() if m.isfile()]  # type: ignore[union-attr]


def _mutate_json(data: bytes, path: list[str | int], value: Any) -> bytes:
    try:
        doc = json.loads(data)
    except ValueError:
        return data
    cur = doc
    for p in path[:-1]:
        if isinstance(cur, dict) and isinstance(p, str) and p in cur:
            cur = cur[p]
        elif isinstance(cur, list) and isinstance(p, int) and cur:
            cur = cur[p % len(cur)]
        else:
            break
    last = path[-1]
    if isinstance(cur, dict) and isinstance(last, str):
        cur[last if last in cur else next(iter(cur), last)] = value
    elif isinstance(cur, list) and cur and isinstance(last, int):
        cur[last % len(cur)] = value
    return json.dumps(doc).encode()


mutation = st.one_of(
    st.tuples(st.just("json"), st.integers(0, 10), st.lists(st.sampled_from(
        ["artifacts", "id", "name", "sha256", "size", "version", "metadata", "tags", "blob_key", "format",
         "created_at", "artifact_type", 0, 1]), min_size=1, max_size=3), json_value | hostile_text),
    st.tuples(st.just("bytes"), st.integers(0, 10), st.binary(max_size=80)),
    st.tuples(st.just("rename"), st.integers(0, 10), hostile_text),
    st.tuples(st.just("add"), hostile_text, st.binary(max_size=40)),
    st.tuples(st.just("drop"), st.integers(0, 10)),
)


@SLOW
@given(st.lists(mutation, min_size=1, max_size=3))
def test_archive_import_of_mutated_archives(archive_members: list[tuple[str, bytes]], muts: list[Any]) -> None:
    members = list(archive_members)
    for m in muts:
        if m[0] == "json":
            i = m[1] % len(members)
            members[i] = (members[i][0], _mutate_json(members[i][1], m[2], m[3]))
        elif m[0] == "bytes":
            i = m[1] % len(members)
            members[i] = (members[i][0], m[2])
        elif m[0] == "rename" and m[2]:
            i = m[1] % len(members)
            members[i] = (m[2], members[i][1])
        elif m[0] == "add" and m[1]:
            members.append((m[1], m[2]))
        elif m[0] == "drop" and len(members) > 1:
            members.pop(m[1] % len(members))
    assume(members != archive_members)
    with _store() as (s, d):
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT, errors="surrogateescape") as tf:
            for name, data in members:
                # Raw bytes for names that are not valid UTF-8 (lone surrogates), as a hostile tool writes them.
                ti = tarfile.TarInfo(name[:200].encode("utf-8", "surrogatepass").decode("utf-8", "surrogateescape"))
                ti.size = len(data)
                tf.addfile(ti, io.BytesIO(data))
        (d / "in.tar").write_bytes(buf.getvalue())
        outside = _files(d, skip=d / "store")
        before = _store_state(s)
        from artifactstore.archive import import_archive

        try:
            import_archive(s, d / "in.tar")
        except ArtifactStoreError:
            assert _store_state(s) == before, "a refused import changed the store"
        else:
            rep = s.verify()
            assert not rep.corrupt and not rep.missing
        assert _files(d, skip=d / "store") == outside, "the import wrote outside the store"


# --- sync input ------------------------------------------------------------------------------------


line = st.one_of(
    json_value.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=60),
    st.tuples(valid_name | hostile_text, st.binary(max_size=16), st.sampled_from(_FIELDS),
              json_value | hostile_text | st.sampled_from(["../../outside", "/etc/passwd", "blobs/../x"])).map(
        lambda t: json.dumps({**_valid_entry("n.txt", t[1]), "name": t[0], t[2]: t[3]}, ensure_ascii=False).encode(
            "utf-8", "surrogatepass")),
    st.tuples(st.sampled_from(["delete", "alias", "champion", "evaluation", "edit", "unalias", "version", "commit"]),
              st.dictionaries(st.sampled_from(["artifact_id", "name", "alias", "batch", "champion_id", "seq_no",
                                               "model_id", "evaluation_id", "version", "timestamp"]),
                              json_value | hostile_text, max_size=5)).map(
        lambda t: json.dumps({"kind": t[0], **t[1]}, ensure_ascii=False).encode("utf-8", "surrogatepass")),
)


@SLOW
@given(st.lists(line, min_size=1, max_size=4), st.sampled_from([MANIFESTS, RECORDS]), st.booleans())
def test_sync_from_a_source_with_random_journal_lines(lines: list[bytes], folder: str, with_marker: bool) -> None:
    from artifactstore.sync import sync

    with tempfile.TemporaryDirectory(prefix="prop-sync-") as tmp:
        d = Path(tmp)
        with artifactstore.open(d / "src") as src:
            src.put(b"from the source", name="n.txt", artifact_type="other")
            batch = new_id()
            body = b"".join(
                (ln.rstrip(b"}") + f',"batch":"{batch}"}}'.encode() if ln.endswith(b"}") and with_marker else ln)
                + b"\n" for ln in lines)
            if with_marker:
                body += json.dumps({"kind": "commit", "batch": batch}).encode() + b"\n"
            src.backend.write_bytes(f"{folder}/{new_id()}.jsonl", body)
        with artifactstore.open(d / "dst") as dst:
            dst.put(b"the destination's own", name="n.txt", artifact_type="other")
            mine = dst.resolve("n.txt")
            outside = _files(d, skip=d / "dst")
            before = _store_state(dst)
            reported: set[str] = set()
            with artifactstore.open(d / "src") as src:
                try:
                    report = sync(src, dst)
                    reported = {*report.missing_source, *report.corrupt_source}
                except ArtifactStoreError:
                    assert _store_state(dst) == before, "a refused sync changed the destination"
            assert _files(d, skip=d / "dst") == outside, "sync wrote outside the destination"
            assert dst.resolve(mine.id).ref == mine.ref  # the destination's refs keep their meaning
            rep = dst.verify()
            assert not rep.corrupt
            # A source entry whose blob the source lacks comes over as missing, and the report says so.
            assert {dst.resolve(i).blob_key for i in rep.missing} <= reported, (rep, reported)
            assert dst.reindex() == dst.count()
