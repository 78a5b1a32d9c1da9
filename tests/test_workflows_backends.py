"""Whole workflows on every backend: local disk, memory, S3 (moto), GCS (fake-gcs-server), Azure (Azurite).

Each test runs one user-level workflow end to end against a real server on loopback
and checks the bucket itself through an independent client (``Raw``): blobs that gc
sweeps are really gone, a byte flipped or a blob deleted *in the bucket* is detected,
and a new catalog file pointing at the same bucket rebuilds everything.

Also here: ``test_sync_chain`` (local -> S3 -> GCS -> Azure -> local) and the
credentials tests (a planted secret appears in no repr, error, log record, bucket
object, catalog file, archive or CLI output).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import itertools
import json
import logging
import tarfile
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, cast

import fsspec
import pytest

import artifactstore
from artifactstore import ArtifactStore, gc
from artifactstore.archive import create_archive, import_archive
from artifactstore.errors import (
    ArtifactNotFoundError,
    ArtifactStoreError,
    BackendError,
    BlobMissingError,
    CorruptDataError,
    IntegrityError,
)
from artifactstore.ids import new_id
from artifactstore.packs import read_index
from artifactstore.sync import sync

# --- roots on every backend, and an independent view of the bucket -----------------------------


@dataclass
class Raw:
    """The bucket (folder, memory tree) seen through a client of its own, not the store's backend."""

    fs: Any
    base: str  # the store's root inside ``fs`` (no trailing slash)

    def _p(self, key: str) -> str:
        return f"{self.base}/{key}" if key else self.base

    def keys(self, prefix: str = "") -> set[str]:
        self.fs.invalidate_cache()
        try:
            found = self.fs.find(self._p(prefix).rstrip("/"), withdirs=False)
        except FileNotFoundError:
            return set()
        base = self.base.strip("/") + "/"
        out = set()
        for p in found:
            p = p.strip("/")
            if p.startswith(base):
                out.add(p[len(base):])
        return {k for k in out if not k.startswith("tmp/")}

    def read(self, key: str) -> bytes:
        data: bytes = self.fs.cat_file(self._p(key))
        return data

    def write(self, key: str, data: bytes) -> None:
        self.fs.pipe_file(self._p(key), data)
        self.fs.invalidate_cache()

    def delete(self, key: str) -> None:
        self.fs.rm_file(self._p(key))
        self.fs.invalidate_cache()

    def flip_byte(self, key: str, offset: int | None = None) -> None:
        data = bytearray(self.read(key))
        i = len(data) // 2 if offset is None else offset
        data[i] ^= 0x5A
        self.write(key, bytes(data))


@dataclass
class Root:
    """Where stores of one backend live in this test: ``url(name)`` roots, ``raw(name)`` views."""

    kind: str
    tmp: Path
    options: dict[str, Any]
    make_url: Callable[[str], str]
    make_raw: Callable[[str], Raw]
    cleanups: list[Callable[[], None]] = field(default_factory=list)

    def url(self, name: str = "store") -> str:
        return self.make_url(name)

    def raw(self, name: str = "store") -> Raw:
        return self.make_raw(name)

    def open(self, name: str = "store", catalog: str = "catalog.db", **kw: Any) -> ArtifactStore:
        """A store at root ``name`` whose catalog is the SQLite file ``tmp/<catalog>``."""
        return artifactstore.open(self.url(name), self.tmp / catalog, **{**self.options, **kw})


def _remote_root(kind: str, remote: Any, tmp: Path) -> Root:
    opts = dict(remote.storage_options)
    proto = remote.url.split("://", 1)[0]
    fs = fsspec.filesystem(proto, skip_instance_cache=True, use_listings_cache=False, **opts)
    return Root(kind, tmp, opts, lambda n: f"{proto}://{remote.bucket}/{n}", lambda n: Raw(fs, f"{remote.bucket}/{n}"))


BACKENDS = [
    "local",
    "memory",
    pytest.param("s3", marks=pytest.mark.s3),
    pytest.param("gcs", marks=pytest.mark.gcs),
    pytest.param("azure", marks=pytest.mark.azure),
]


@pytest.fixture(params=BACKENDS)
def root(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Root]:
    kind = request.param
    if kind == "local":
        lfs = fsspec.filesystem("file", auto_mkdir=True, skip_instance_cache=True)
        r = Root(kind, tmp_path, {}, lambda n: str(tmp_path / "roots" / n),
                 lambda n: Raw(lfs, str(tmp_path / "roots" / n)))
    elif kind == "memory":
        tag = f"wf-{new_id().lower()}"
        mfs = fsspec.filesystem("memory")
        r = Root(kind, tmp_path, {}, lambda n: f"memory://{tag}-{n}", lambda n: Raw(mfs, f"/{tag}-{n}"))

        def forget() -> None:
            for p in list(mfs.store):
                if p.startswith(f"/{tag}-"):
                    mfs.store.pop(p, None)
            for p in list(mfs.pseudo_dirs):
                if p.startswith(f"/{tag}-"):
                    mfs.pseudo_dirs.remove(p)

        r.cleanups.append(forget)
    else:
        remote = request.getfixturevalue({"s3": "s3_url", "gcs": "gcs_url", "azure": "azure_url"}[kind])
        r = _remote_root(kind, remote, tmp_path)
    yield r
    for c in r.cleanups:
        c()


# --- data ------------------------------------------------------------------------------------------

CSV = b"step,reward,done\n" + b"".join(f"{i},{(i % 7) / 7:.4f},{int(i % 50 == 0)}\n".encode() for i in range(20000))


def _noise(n: int, seed: str) -> bytes:
    """Incompressible bytes, deterministic (a SHA-256 counter stream)."""
    out = bytearray()
    i = 0
    while len(out) < n:
        out += hashlib.sha256(f"{seed}:{i}".encode()).digest()
        i += 1
    return bytes(out[:n])


class _Unseekable(io.RawIOBase):
    """A pipe-like binary stream: readable, not seekable, no name."""

    def __init__(self, data: bytes) -> None:
        super().__init__()
        self._b = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def readinto(self, b: Any) -> int:
        data = self._b.read(len(b))
        b[: len(data)] = data
        return len(data)


def _unseekable(data: bytes) -> BinaryIO:
    # put() reads any binary file object (a raw stream too); its Source type spells that BinaryIO
    return cast(BinaryIO, _Unseekable(data))


def _fill(store: ArtifactStore, tmp: Path) -> dict[str, tuple[artifactstore.Artifact, bytes]]:
    """A mixed set of artifacts: every source kind and codec; returns label -> (artifact, original bytes)."""
    out: dict[str, tuple[artifactstore.Artifact, bytes]] = {}
    csv_path = tmp / "episodes.csv"
    csv_path.write_bytes(CSV)
    video = _noise(300_000, "video")
    out["csv"] = (store.put(csv_path, artifact_type="episode_data", model_id="m1", evaluation_id="e1",
                            suite_name="nav", map_name="town01", tags=["csv", "episodes"],
                            metadata={"seed": 1, "split": "val"}), CSV)
    out["video"] = (store.put(video, artifact_type="video", name="m1/fail-0001.mp4", model_id="m1",
                              episode_id="ep1", tags=["failure"], metadata={"seed": 1}), video)
    rep1 = json.dumps({"score": 0.5, "episodes": list(range(200))}).encode()
    rep2 = json.dumps({"score": 0.7, "episodes": list(range(300))}).encode()
    out["report1"] = (store.put(io.BytesIO(rep1), artifact_type="report", name="report.json", model_id="m1",
                                codec="gzip", tags=["report"]), rep1)
    out["report2"] = (store.put(_unseekable(rep2), artifact_type="report", name="report.json", model_id="m2",
                                codec="zstd", tags=["report", "best"], metadata={"seed": 2}), rep2)
    cfg = b"lr: 0.001\nbatch: 64\n" * 200
    out["cfg"] = (store.put(cfg, artifact_type="configuration", name="cfg.yaml", model_id="m2", codec="zip"), cfg)
    trace = b'{"t": 1, "event": "collision"}\n' * 3000
    out["trace"] = (store.put(_unseekable(trace), artifact_type="trace", name="m2/trace.jsonl", model_id="m2",
                              codec="tar.gz"), trace)
    raw_log = b"plain log line\n" * 100
    out["log"] = (store.put(raw_log, artifact_type="log", name="run.log", codec="none"), raw_log)
    out["empty"] = (store.put(b"", artifact_type="log", name="empty.log"), b"")
    batch: list[dict[str, Any]] = [
        {"source": _noise(50_000, f"ckpt{i}"), "artifact_type": "model_checkpoint", "name": f"ckpt/step-{i}.bin",
         "model_id": "m2", "tags": ["ckpt"], "metadata": {"step": i}}
        for i in range(3)
    ]
    batch.append({"source": io.BytesIO(rep1), "artifact_type": "report", "name": "copy-of-report.json",
                  "model_id": "m1"})  # same content as report1: deduplicated
    arts = store.put_many(batch)
    for i, a in enumerate(arts[:3]):
        out[f"ckpt{i}"] = (a, batch[i]["source"])
    out["dup"] = (arts[3], rep1)
    return out


def _view(store: ArtifactStore) -> dict[str, Any]:
    """Everything a user can observe through the catalog."""
    arts = sorted((a.to_dict() for a in store.find()), key=lambda d: d["id"])
    names = sorted({a["name"] for a in arts})
    return {
        "artifacts": arts,
        "versions": {n: [(a.id, a.version) for a in store.versions(n)] for n in names},
        "aliases": {a["id"]: sorted(store.aliases(a["id"])) for a in arts},
        "evaluations": [e.to_dict() for e in store.evaluations()],
        "champions": [c.to_dict() for c in store.champion_history()],
        "champion": champ.to_dict() if (champ := store.champion()) else None,
        "stats": store.stats().to_dict(),
    }


# --- the core store --------------------------------------------------------------------------------


def test_core_store_workflow(root: Root, tmp_path: Path) -> None:
    with root.open() as store:
        data = _fill(store, tmp_path)
        a = {k: v[0] for k, v in data.items()}

        # codecs: as asked, and auto picks zstd for CSV and nothing for incompressible bytes
        assert a["csv"].codec == "zstd" and a["csv"].stored_size < a["csv"].size / 3
        assert a["video"].codec == "none" and a["video"].stored_size == a["video"].size
        assert [a[k].codec for k in ("report1", "report2", "cfg", "trace", "log")] == \
            ["gzip", "zstd", "zip", "tar.gz", "none"]
        assert a["csv"].name == "episodes.csv"  # a path's base name
        assert a["dup"].blob_key == a["report1"].blob_key and a["dup"].sha256 == a["report1"].sha256
        assert a["empty"].size == 0

        # every artifact reads back byte for byte, through read_bytes, get and a verifying stream
        for label, (art, original) in data.items():
            assert store.read_bytes(art.id) == original, label
        out = store.get("episodes.csv", tmp_path)
        assert out == tmp_path / "episodes.csv" and out.read_bytes() == CSV
        dest = tmp_path / "got" / "video.bin"
        dest.parent.mkdir()
        assert store.get(a["video"].id, dest).read_bytes() == data["video"][1]
        assert sorted(p.name for p in dest.parent.iterdir()) == ["video.bin"]  # no .part left
        with store.open("m1/fail-0001.mp4") as f:
            chunks = []
            while chunk := f.read(7777):
                chunks.append(chunk)
        assert b"".join(chunks) == data["video"][1]

        # refs, versions, aliases
        assert store.resolve("report.json").id == a["report2"].id
        assert store.resolve("report.json@v1").id == a["report1"].id
        assert [v.id for v in store.versions("report.json")] == [a["report1"].id, a["report2"].id]
        store.set_alias("report.json@v1", "baseline")
        assert store.resolve("report.json:baseline").id == a["report1"].id
        assert store.aliases(a["report1"].id) == ["baseline"]

        # find with filters
        def ids(arts: Iterable[artifactstore.Artifact]) -> set[str]:
            return {x.id for x in arts}

        assert ids(store.find()) == ids(a.values()) and store.count() == len(a)
        assert ids(store.find(artifact_type="video")) == {a["video"].id}
        assert ids(store.find(artifact_type=["report", "configuration"])) == \
            {a["report1"].id, a["report2"].id, a["cfg"].id, a["dup"].id}
        assert ids(store.find(model_id="m2", artifact_type="model_checkpoint")) == {a[f"ckpt{i}"].id for i in range(3)}
        assert ids(store.find(tags=["failure", "csv"])) == {a["video"].id, a["csv"].id}
        assert ids(store.find(tags=["report", "best"], tags_mode="all")) == {a["report2"].id}
        assert ids(store.find(metadata={"seed": 1})) == {a["csv"].id, a["video"].id}
        assert ids(store.find(metadata={"step": 2})) == {a["ckpt2"].id}
        assert ids(store.find(name_prefix="m1/")) == {a["video"].id}
        assert ids(store.find(suite_name="nav", map_name="town01", evaluation_id="e1")) == {a["csv"].id}
        assert ids(store.find(episode_id="ep1")) == {a["video"].id}
        assert ids(store.find(created_after=a["trace"].created_at)) >= {a["log"].id, a["empty"].id}
        assert a["csv"].id not in ids(store.find(created_after=a["trace"].created_at))
        assert [x.size for x in store.find(order_by="-size", limit=2)] == sorted([len(CSV), 300_000], reverse=True)
        assert store.count(model_id="m1") == 4  # csv, video, report1 and its copy

        stats = store.stats()
        assert stats.total_artifacts == len(a)
        assert stats.unique_blobs == len(a) - 1  # the duplicate report shares its blob
        assert stats.dedup_saved_bytes == len(data["report1"][1])

        report = store.verify()
        assert report.ok and report.checked == sorted(x.id for x in a.values())

        # what the bucket holds: one blob per unique content, manifests, records, store.json
        raw = root.raw()
        keys = raw.keys()
        blobs = {k for k in keys if k.startswith("blobs/")}
        # on local disk, put_many's small blobs are members of packs (artifactstore/packs.py)
        packed = {m[0] for k in keys if k.startswith("packs/") for m in read_index(io.BytesIO(raw.read(k)),
                                                                                  len(raw.read(k)))}
        assert blobs | packed == {x.blob_key for x in a.values()} and not blobs & packed
        assert bool(packed) == (store.blobs.packs_apply())
        assert "store.json" in keys and any(k.startswith("manifests/") for k in keys)
        assert any(k.startswith("records/") for k in keys)  # the alias
        assert raw.read(a["log"].blob_key) == data["log"][1]  # codec none: the bytes as they are


def test_corruption_and_loss_in_the_bucket_are_detected(root: Root, tmp_path: Path) -> None:
    with root.open() as store:
        video = _noise(200_000, "corrupt-me")
        plain = store.put(video, artifact_type="video", name="v.mp4")  # auto -> none
        packed = store.put(CSV, artifact_type="episode_data", name="e.csv")  # auto -> zstd
        gone = store.put(b"will vanish " * 1000, artifact_type="log", name="gone.log", codec="gzip")
        fine = store.put(b"stays intact", artifact_type="log", name="fine.log")
        assert (plain.codec, packed.codec) == ("none", "zstd")
        raw = root.raw()
        raw.flip_byte(plain.blob_key)
        raw.flip_byte(packed.blob_key, offset=packed.stored_size - 20)
        raw.delete(gone.blob_key)

        report = store.verify()
        assert report.corrupt == sorted([plain.id, packed.id])
        assert report.missing == [gone.id]
        assert report.checked == sorted([plain.id, packed.id, gone.id, fine.id]) and not report.ok

        with pytest.raises(IntegrityError), store.open(plain.id) as f:
            f.read()
        with pytest.raises(IntegrityError):
            store.read_bytes(plain.id)
        dest = tmp_path / "out"
        dest.mkdir()
        with pytest.raises(IntegrityError):
            store.get(plain.id, dest / "v.mp4")
        # A damaged zstd frame: the codec contract's CorruptDataError (an IntegrityError).
        with pytest.raises(CorruptDataError, match=packed.id):
            store.read_bytes(packed.id)
        with pytest.raises(BlobMissingError):
            store.get(gone.id, dest / "gone.log")
        with pytest.raises(BlobMissingError):
            store.open(gone.id)
        assert list(dest.iterdir()) == []  # nothing half-written
        assert store.read_bytes(fine.id) == b"stays intact"


# --- gc ----------------------------------------------------------------------------------------------


def test_gc_plan_and_apply_remove_blobs_from_the_bucket(root: Root, tmp_path: Path) -> None:
    with root.open() as store:
        ckpts = [store.put(_noise(40_000, f"gc{i}"), artifact_type="model_checkpoint", name="ckpt.bin")
                 for i in range(4)]
        shared = store.put(b"shared content " * 500, artifact_type="report", name="a.json")
        shared_too = store.put(b"shared content " * 500, artifact_type="report", name="b.json")
        champ = store.put(b"champion video" * 1000, artifact_type="video", name="champ.mp4")
        store.record_evaluation("e1", "m1", global_score=0.9, success_rate=0.9, artifacts=[champ.id])
        store.promote_champion("m1", evaluation_id="e1", global_score=0.9, success_rate=0.9, artifacts=[champ.id])
        later = [store.put(f"later video {i}".encode() * 1000, artifact_type="video", name="champ.mp4")
                 for i in range(2)]  # v2 goes, v3 is the newest; v1 stays as the champion's
        doomed = store.put(b"deleted by hand" * 100, artifact_type="log", name="doomed.log")
        store.delete(doomed.id)
        raw = root.raw()
        orphan = "blobs/sha256/ee/" + "ee" * 32 + ".zst"  # a crashed writer's leftover
        raw.write(orphan, b"not referenced by anything")
        assert doomed.blob_key in raw.keys("blobs/")

        # with the default grace period nothing recent is swept
        assert gc.plan(store, ["keep_all"]).orphan_blobs == []

        policies = ["keep_top_k:k=1,per=name", "keep_champions"]
        before = raw.keys()
        p = gc.plan(store, policies, grace_seconds=0)
        assert set(p.delete_ids) == {c.id for c in ckpts[:3]} | {later[0].id}
        assert sorted(k for k, _ in p.orphan_blobs) == sorted([orphan, doomed.blob_key])
        freed = sum(c.stored_size for c in ckpts[:3]) + later[0].stored_size
        freed += doomed.stored_size + len(b"not referenced by anything")
        assert p.freed_bytes == freed
        assert raw.keys() == before and store.count() == 9  # a plan changes nothing

        result = gc.apply(store, p)
        assert result.deleted_artifacts == 4
        assert result.swept_blobs == 3 + 1 + 2 and result.freed_bytes == freed
        survivors = store.find()
        assert {a.id for a in survivors} == {ckpts[3].id, shared.id, shared_too.id, champ.id, later[1].id}
        assert raw.keys("blobs/") == {a.blob_key for a in survivors}  # really gone from the bucket
        assert store.verify().ok
        assert store.resolve("champ.mp4:champion").id == champ.id

        again = gc.plan(store, policies, grace_seconds=0)
        assert again.delete == [] and again.orphan_blobs == [] and again.freed_bytes == 0
        assert gc.apply(store, again).swept_blobs == 0
        expected = _view(store)

    # the deletions are records in the bucket: a new catalog agrees
    with root.open(catalog="fresh.db") as again_store:
        assert _view(again_store) == expected


# --- archives --------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["tar.gz", "tar.zst"])
def test_archive_create_and_import_into_another_store(root: Root, tmp_path: Path, fmt: str) -> None:
    with root.open() as store:
        data = _fill(store, tmp_path)
        store.record_evaluation("e1", "m1", global_score=0.6, success_rate=0.7, metrics={"collisions": 3},
                                artifacts=[data["report1"][0].id, data["video"][0].id])
        path = tmp_path / f"export.{fmt}"
        info = create_archive(store, path, fmt=fmt)
        assert info.count == len(data) and info.content_bytes == sum(len(b) for _, b in data.values())
        source_arts = {a.id: a for a in store.find()}

    with root.open("imported", catalog="imported.db") as other:
        rep = import_archive(other, path)
        assert sorted(rep.imported) == sorted(source_arts) and rep.evaluations == ["e1"]
        for label, (art, original) in data.items():
            got = other.resolve(art.id)
            assert other.read_bytes(got.id) == original, label
            for f in ("name", "artifact_type", "sha256", "size", "model_id", "tags", "metadata", "created_at",
                      "evaluation_id", "suite_name", "map_name", "episode_id"):
                assert getattr(got, f) == getattr(source_arts[art.id], f), (label, f)
        assert [v.id for v in other.versions("report.json")] == [data["report1"][0].id, data["report2"][0].id]
        ev = other.evaluation("e1")
        assert ev.metrics == {"collisions": 3} and set(ev.artifacts) == {data["report1"][0].id, data["video"][0].id}
        assert other.verify().ok
        assert import_archive(other, path).imported == []  # twice: nothing new
        imported_blobs = root.raw("imported").keys("blobs/")
        assert imported_blobs == {a.blob_key for a in other.find()}


# --- evaluations, champions and reindex -------------------------------------------------------------


def _campaign(store: ArtifactStore) -> dict[str, Any]:
    """Four evaluations of three models; three promotions win, one loses."""
    arts = {}
    for i, (model, score) in enumerate([("m1", 0.5), ("m2", 0.4), ("m3", 0.7), ("m4", 0.9)]):
        rep = store.put(json.dumps({"model": model, "score": score}).encode(), artifact_type="report",
                        name="report.json", model_id=model, evaluation_id=f"e{i + 1}")
        vid = store.put(_noise(20_000, model), artifact_type="video", name=f"{model}/failure.mp4", model_id=model,
                        evaluation_id=f"e{i + 1}")
        arts[model] = (rep, vid)
        store.record_evaluation(f"e{i + 1}", model, global_score=score, success_rate=score + 0.05,
                                metrics={"collisions": 10 - i, "route_completion": score},
                                artifacts=[rep.id, vid.id], repro={"git_sha": f"abc{i}"},
                                timestamp=1_700_000_000 + i)
    c1 = store.promote_champion("m1", evaluation_id="e1", global_score=0.5, success_rate=0.55,
                                artifacts=[arts["m1"][0].id])
    lost = store.promote_champion("m2", evaluation_id="e2", global_score=0.4, success_rate=0.45,
                                  artifacts=[arts["m2"][0].id])
    c3 = store.promote_champion("m3", evaluation_id="e3", global_score=0.7, success_rate=0.75,
                                artifacts=[arts["m3"][0].id, arts["m3"][1].id], metrics={"note": "big step"})
    c4 = store.promote_champion("m4", evaluation_id="e4", global_score=0.9, success_rate=0.95,
                                artifacts=[arts["m4"][0].id])
    return {"arts": arts, "chain": [c1, c3, c4], "lost": lost}


def test_champion_promotion_with_evaluation_history(root: Root) -> None:
    with root.open() as store:
        camp = _campaign(store)
        c1, c3, c4 = camp["chain"]
        arts = camp["arts"]
        assert camp["lost"] is None  # 0.4 is not better than 0.5
        assert store.champion() == c4
        history = store.champion_history()
        assert [c.champion_id for c in history] == [c4.champion_id, c3.champion_id, c1.champion_id]
        assert [c.seq for c in history] == [3, 2, 1]
        assert (c4.previous_champion, c3.previous_champion, c1.previous_champion) == \
            (c3.champion_id, c1.champion_id, None)
        assert (c4.previous_model_id, c3.previous_model_id) == ("m3", "m1")
        assert c3.improvement_metrics["score_improvement"] == pytest.approx(0.2)
        assert c4.improvement_metrics["relative_score_improvement"] == pytest.approx(0.2 / 0.7)
        assert c3.metrics == {"note": "big step"}
        # the champion alias follows the newest champion's artifacts
        assert store.resolve("report.json:champion").id == arts["m4"][0].id
        assert store.resolve("m3/failure.mp4:champion").id == arts["m3"][1].id
        assert [e.evaluation_id for e in store.evaluations()] == ["e4", "e3", "e2", "e1"]
        assert [e.evaluation_id for e in store.evaluations("m2")] == ["e2"]
        e3 = store.evaluation("e3")
        assert e3.metrics == {"collisions": 8, "route_completion": 0.7} and e3.repro == {"git_sha": "abc2"}
        assert set(e3.artifacts) == set(a.id for a in arts["m3"])
        assert store.evaluation("e4").is_champion and not store.evaluation("e2").is_champion
        assert store.champion_history(model_id="m3") == [c3]
        # re-recording an evaluation replaces it
        store.record_evaluation("e2", "m2", global_score=0.41, success_rate=0.45)
        assert store.evaluation("e2").global_score == 0.41 and store.evaluation("e2").artifacts == ()
        # a worse score never displaces the champion; only_if_better=False does
        assert store.promote_champion("m2", global_score=0.89, success_rate=1.0) is None
        forced = store.promote_champion("m2", evaluation_id="e2", global_score=0.41, success_rate=0.45,
                                        only_if_better=False)
        assert forced is not None and forced.previous_champion == c4.champion_id and store.champion() == forced


def test_reindex_from_the_bucket_with_a_new_catalog_file(root: Root, tmp_path: Path) -> None:
    with root.open(catalog="first.db") as store:
        data = _fill(store, tmp_path)
        camp = _campaign(store)
        store.set_alias(data["report1"][0].id, "baseline")
        store.set_alias(data["ckpt1"][0].id, "best")
        store.set_alias(data["ckpt2"][0].id, "best")  # moved
        store.delete(data["cfg"][0].id)
        store.delete(data["report2"][0].id)  # a version in the middle of report.json's history
        store.record_evaluation("e9", "m9", global_score=0.1, success_rate=0.1, metadata={"k": [1, 2]})
        expected = _view(store)
        n = store.count()
        next_report_version = max(a.version for a in store.versions("report.json")) + 1
        assert expected["aliases"][data["ckpt2"][0].id] == ["best"] and expected["champion"] is not None

    # the catalog is lost: delete the file (and its WAL) ...
    for p in tmp_path.glob("first.db*"):
        p.unlink()
    # ... and a NEW catalog file pointing at the same bucket rebuilds everything when opened
    with root.open(catalog="second.db") as rebuilt:
        assert _view(rebuilt) == expected
        assert rebuilt.resolve("report.json:champion").id == camp["arts"]["m4"][0].id
        assert rebuilt.resolve("ckpt/step-1.bin:best").id == data["ckpt1"][0].id
        assert rebuilt.resolve("ckpt/step-2.bin:best").id == data["ckpt2"][0].id
        with pytest.raises(ArtifactNotFoundError):
            rebuilt.resolve(data["cfg"][0].id)
        for label, (art, original) in data.items():
            if label not in ("cfg", "report2"):
                assert rebuilt.read_bytes(art.id) == original, label
        assert rebuilt.verify().ok
        # explicit reindex gives the same again, and version numbers continue where they were
        assert rebuilt.reindex() == n
        assert _view(rebuilt) == expected
        new = rebuilt.put(b"{}", artifact_type="report", name="report.json")
        assert new.version == next_report_version
        # the champion chain continues from the rebuilt one
        c5 = rebuilt.promote_champion("m5", global_score=0.95, success_rate=0.99)
        assert c5 is not None and c5.seq == 4 and c5.previous_champion == expected["champion"]["champion_id"]


# --- sync across every backend --------------------------------------------------------------------


@pytest.mark.s3
@pytest.mark.gcs
@pytest.mark.azure
def test_sync_chain(tmp_path: Path, s3_url: Any, gcs_url: Any, azure_url: Any) -> None:
    """local -> S3 -> GCS -> Azure -> local: every hop verifies and matches the source exactly."""
    hops = [
        (str(tmp_path / "src"), {}),
        (s3_url.url, dict(s3_url.storage_options)),
        (gcs_url.url, dict(gcs_url.storage_options)),
        (azure_url.url, dict(azure_url.storage_options)),
        (str(tmp_path / "back-home"), {}),
    ]
    stores = [artifactstore.open(u, tmp_path / f"cat-{i}.db", **o) for i, (u, o) in enumerate(hops)]
    try:
        src = stores[0]
        data = _fill(src, tmp_path)
        _campaign(src)
        src.set_alias(data["ckpt0"][0].id, "best")
        src.delete(data["log"][0].id)
        expected = _view(src)
        for a, b in itertools.pairwise(stores):
            report = sync(a, b)
            assert report.ok, (b.url, report.to_dict())
            assert report.blobs_copied == len({x["blob_key"] for x in expected["artifacts"]})
            assert b.verify().ok, b.url
            assert _view(b) == expected, b.url
            again = sync(a, b)
            assert (again.blobs_copied, again.segments_copied) == (0, 0), b.url
        home = stores[-1]
        for label, (art, original) in data.items():
            if label != "log":
                assert home.read_bytes(art.id) == original, label
        with pytest.raises(ArtifactNotFoundError):
            home.resolve(data["log"][0].id)
        assert home.resolve("ckpt/step-0.bin:best").id == data["ckpt0"][0].id
    finally:
        for s in stores:
            s.close()


# --- credentials never leak -----------------------------------------------------------------------

PLANTED = "PLANTEDsecretQ7x9Zk2Vw"  # distinctive, matches no real key


class _Finder:
    def __init__(self, secrets: list[str]) -> None:
        self.secrets = [s for s in secrets if s]
        self.checked: list[str] = []

    def check(self, where: str, data: str | bytes) -> None:
        self.checked.append(where)
        blob = data if isinstance(data, bytes) else data.encode("utf-8", "replace")
        for s in self.secrets:
            assert s.encode() not in blob, f"secret {s[:6]}... found in {where}"


@dataclass
class _CredCase:
    url: str
    options: dict[str, Any]
    cli_options: list[str]
    secrets: list[str]
    bad_options: dict[str, Any]  # the same credentials against a bucket that does not exist
    raw: Raw


def _cred_case(kind: str, request: pytest.FixtureRequest) -> _CredCase:
    from artifactstore.testing import servers

    if kind == "s3":
        remote = request.getfixturevalue("s3_url")
        key, secret, token = f"AKIA{PLANTED.upper()[:16]}", f"{PLANTED}-secret/+=", f"{PLANTED}-session"
        opts = {"endpoint_url": remote.server.endpoint, "key": key, "secret": secret, "token": token}
        cli = ["-o", f"endpoint_url={remote.server.endpoint}", "-o", f"key={key}", "-o", f"secret={secret}",
               "-o", f"token={token}"]
        secrets = [key, secret, token]
    else:
        remote = request.getfixturevalue("azure_url")
        conn = servers.azurite_connection_string(remote.server.endpoint)
        sas = f"sv=2024-01-01&ss=b&srt=sco&sp=rwdl&se=2099-01-01&sig={PLANTED}sigVALUE%3D"
        opts = {"connection_string": conn, "account_name": servers.AZURITE_ACCOUNT, "sas_token": sas}
        cli = ["-o", f"connection_string={conn}", "-o", f"account_name={servers.AZURITE_ACCOUNT}",
               "-o", f"sas_token={sas}"]
        secrets = [servers.AZURITE_KEY, sas, f"{PLANTED}sigVALUE"]
    proto = remote.url.split("://", 1)[0]
    fs = fsspec.filesystem(proto, skip_instance_cache=True, use_listings_cache=False, **dict(remote.storage_options))
    return _CredCase(remote.url, opts, cli, secrets, {**opts, "retry": False}, Raw(fs, remote.bucket))


@pytest.mark.parametrize("kind", [pytest.param("s3", marks=pytest.mark.s3),
                                  pytest.param("azure", marks=pytest.mark.azure)])
def test_credentials_never_leak(kind: str, request: pytest.FixtureRequest, tmp_path: Path,
                                caplog: pytest.LogCaptureFixture) -> None:
    from click.testing import CliRunner

    from artifactstore.cli.common import State
    from artifactstore.cli.main import cli

    case = _cred_case(kind, request)
    find = _Finder(case.secrets)
    caplog.set_level(logging.DEBUG, logger="artifactstore")  # every artifactstore record; WARNING+ from all
    catalog = tmp_path / "catalog.db"

    with artifactstore.open(case.url, catalog, **case.options) as store:
        for what in (repr(store), str(store), store.url, repr(store.backend), repr(store.catalog),
                     str(store.catalog.url), repr(getattr(store.backend, "fs", None))):
            find.check("repr", what)
        data = _fill(store, tmp_path)
        _campaign(store)
        store.set_alias(data["ckpt0"][0].id, "best")
        store.delete(data["log"][0].id)
        assert store.verify().ok
        gc.apply(store, gc.plan(store, ["keep_top_k:k=2,per=artifact_type", "keep_champions"], grace_seconds=0))
        store.reindex()
        archive = create_archive(store, tmp_path / "export.tar.gz")
        # errors: a missing artifact, a missing blob
        errors: list[BaseException] = []
        try:
            store.resolve("no-such-artifact")
        except ArtifactNotFoundError as exc:
            errors.append(exc)
        victim = store.put(b"never read, so never in the read cache", artifact_type="log", name="victim.log")
        store.backend.delete(victim.blob_key)
        try:
            store.read_bytes(victim.id)
        except BlobMissingError as exc:
            errors.append(exc)
        assert len(errors) == 2

    # a bad request: the same credentials, a bucket that does not exist
    bad_url = case.url.replace(case.url.split("://", 1)[1].split("/", 1)[0], "no-such-bucket-" + new_id().lower())
    with pytest.raises(ArtifactStoreError) as info:
        artifactstore.open(bad_url, tmp_path / "bad.db", **case.bad_options).close()
    errors.append(info.value)
    assert isinstance(info.value, BackendError)
    # and an endpoint where nothing listens (a transient failure, retried, then reported)
    dead = dict(case.bad_options)
    if kind == "s3":
        dead["endpoint_url"] = "http://127.0.0.1:9"
        dead["config_kwargs"] = {"retries": {"total_max_attempts": 1}, "connect_timeout": 2}
    else:
        from artifactstore.testing import servers

        dead["connection_string"] = servers.azurite_connection_string("http://127.0.0.1:9")
        dead["connection_timeout"] = 2
    started = time.monotonic()
    with pytest.raises(ArtifactStoreError) as info:
        artifactstore.open(case.url, tmp_path / "dead.db", **dead).close()
    assert time.monotonic() - started < 15  # retry=False: no client-side retries either (Azure: 81 s before)
    errors.append(info.value)
    for err in errors:
        find.check(f"error {type(err).__name__}", str(err))
        find.check(f"error repr {type(err).__name__}", repr(err))
        find.check(f"traceback {type(err).__name__}", "".join(traceback.format_exception(err)))

    # the bucket: every object, whole
    keys = case.raw.keys()
    assert any(k.startswith("store/manifests/") for k in keys) and any(k.startswith("store/records/") for k in keys)
    for k in keys:
        find.check(f"bucket object {k}", case.raw.read(k))

    # the catalog file(s)
    cat_files = list(tmp_path.glob("catalog.db*"))
    assert cat_files
    for p in cat_files:
        find.check(p.name, p.read_bytes())

    # the local read cache and anything else under the user cache folder
    for p in (tmp_path / "xdg-cache").rglob("*"):
        if p.is_file():
            find.check(f"cache file {p.name}", p.read_bytes())

    # the archive, as it is and decompressed
    raw_archive = archive.path.read_bytes()
    find.check("archive", raw_archive)
    find.check("archive (decompressed)", gzip.decompress(raw_archive))
    with tarfile.open(archive.path) as tf:
        index = tf.extractfile("index.json")
        assert index is not None
        assert json.loads(index.read())["source"] == case.url

    # the CLI: listing, stats, verify (fails: a blob is missing), an unknown ref, --debug, a bad bucket
    runner = CliRunner()
    base = ["--store", case.url, "--catalog", f"sqlite:///{catalog}", *case.cli_options]
    runs = [
        ([*base, "ls"], 0),
        ([*base, "--json", "ls"], 0),
        ([*base, "stats"], 0),
        ([*base, "verify"], 1),
        ([*base, "get", "no-such-artifact", str(tmp_path)], 1),
        ([*base, "--debug", "ls"], 0),
        (["--store", bad_url, "--catalog", f"sqlite:///{tmp_path / 'bad2.db'}", *case.cli_options,
          "-o", "retry=false", "ls"], 1),
    ]
    for args, code in runs:
        res = runner.invoke(cli, args, obj=State(), catch_exceptions=True)
        shown = " ".join(a for a in args if not a.startswith(("key=", "secret=", "token=", "connection_string=",
                                                               "sas_token=")))
        assert res.exit_code == code, (shown, res.output, res.stderr)
        find.check(f"cli stdout {shown}", res.stdout)
        find.check(f"cli stderr {shown}", res.stderr)
        if res.exception is not None and not isinstance(res.exception, SystemExit):
            find.check(f"cli exception {shown}", "".join(traceback.format_exception(res.exception)))

    # log records: all of artifactstore's (DEBUG up), and WARNING+ from every logger
    assert any(r.name.startswith("artifactstore") for r in caplog.records)
    for r in caplog.records:
        find.check(f"log {r.name}", r.getMessage())
        if r.exc_info:
            find.check(f"log traceback {r.name}", "".join(traceback.format_exception(*r.exc_info)))
    assert len(find.checked) > 20


# --- the default catalog of a remote root ---------------------------------------------------------


@pytest.mark.s3
def test_default_catalog_is_per_endpoint_not_per_url(s3_url: Any) -> None:
    """s3://same-name/store on two servers: two stores, two default catalogs (in the user cache dir)."""
    from artifactstore.testing import servers

    other = servers.start_moto()
    try:
        bucket = servers.create_bucket(other)
        fs = fsspec.filesystem("s3", skip_instance_cache=True, **dict(other.storage_options))
        fs.mkdir(s3_url.bucket)
        with artifactstore.open(s3_url.url, **s3_url.storage_options) as a:
            a.put(b"only on the first server", artifact_type="log", name="a.log")
            first_catalog = a.catalog.url
        with artifactstore.open(s3_url.url, **dict(other.storage_options)) as b:
            assert b.catalog.url != first_catalog
            assert b.find() == []
            b.put(b"only on the second server", artifact_type="log", name="b.log")
        with artifactstore.open(s3_url.url, **s3_url.storage_options) as a:
            assert a.catalog.url == first_catalog  # the same endpoint finds its catalog again
            assert [x.name for x in a.find()] == ["a.log"] and a.read_bytes("a.log") == b"only on the first server"
        # a new machine (or a wiped cache folder): the default catalog is rebuilt from the bucket
        for f in Path(first_catalog.split("sqlite:///", 1)[1]).parent.iterdir():
            f.unlink()
        with artifactstore.open(s3_url.url, **s3_url.storage_options) as a:
            assert [x.name for x in a.find()] == ["a.log"] and a.verify().ok
        servers.delete_bucket(other, bucket)
    finally:
        other.stop()


def test_location_key_names_endpoint_and_account_without_secrets() -> None:
    from artifactstore.backends.options import location_key
    from artifactstore.testing import servers

    conn1 = servers.azurite_connection_string("http://127.0.0.1:10000")
    conn2 = servers.azurite_connection_string("http://127.0.0.1:10001")
    k1, k2 = location_key({"connection_string": conn1}), location_key({"connection_string": conn2})
    assert k1 != k2 and servers.AZURITE_KEY not in k1 + k2
    assert location_key({}) == "" and location_key({"key": "k", "secret": "s", "token": "anon"}) == ""
    ep = location_key({"endpoint_url": f"http://user:{PLANTED}@minio:9000/"})
    assert PLANTED not in ep and "minio:9000" in ep
    assert location_key({"account_name": "acct1"}) != location_key({"account_name": "acct2"})


def test_percent_encoded_and_access_token_secrets_are_scrubbed() -> None:
    """gcsfs validates a ``token=`` access token with GET /tokeninfo?access_token=<percent-encoded>;
    a failure's message carried it (found with token="ya29.<...>/<...>+<...>")."""
    from artifactstore.backends.retry import NO_RETRY, RemoteCalls
    from artifactstore.redact import scrub

    token = f"ya29.{PLANTED}/x+y="
    calls = RemoteCalls("gs://b/store", {"token": token}, NO_RETRY)

    def fail() -> None:
        from urllib.parse import quote

        raise ConnectionError(f"Max retries exceeded with url: /tokeninfo?access_token={quote(token, safe='')} (x)")

    with pytest.raises(BackendError) as info:
        calls("connect", "", fail)
    assert PLANTED not in str(info.value) and "access_token=***" in str(info.value)
    assert scrub("GET /t?refresh_token=abc&id_token=def") == "GET /t?refresh_token=***&id_token=***"
