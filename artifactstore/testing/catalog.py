"""The catalog conformance suite: the contract tests every catalog must pass.

The built-in SQLite and PostgreSQL catalogs and every third-party catalog run the same
tests, one or more per method of :class:`artifactstore.catalog.base.Catalog`. A catalog's
test module subclasses :class:`CatalogTests` and supplies a ``catalog`` fixture that returns
a fresh, empty catalog (and closes it afterwards)::

    import pytest
    from artifactstore.testing import CatalogTests
    from my_plugin import DuckCatalog

    class TestDuckCatalog(CatalogTests):
        @pytest.fixture
        def catalog(self, tmp_path):
            c = DuckCatalog(f"duckdb:///{tmp_path}/catalog.duckdb")
            yield c
            c.close()

The suite checks results (filters, orderings, versions, aliases, evaluations and champions,
statistics, search, reindex), transaction semantics (``before_commit`` inside the
transaction, an exception aborting everything, the journal batch noted atomically) and the
locks that make a shared catalog safe (concurrent versions never repeated, one champion per
comparison, a lease never taken while a sweep of its digest runs, writers held while a
rebuild runs). The concurrency tests use threads on the one catalog object, which for a
pooled catalog means several database connections. Never disable an inherited test by
overriding it with one that cannot fail.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import itertools
import json
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from ..catalog.base import (
    FILTER_KEYS,
    ORDER_BY,
    AliasRow,
    Catalog,
    CatalogContents,
    FindFilters,
    JournalBatch,
    PackIndex,
)
from ..catalog.search import parse_query
from ..errors import CatalogError, InvalidInputError
from ..ids import new_id
from ..models import Artifact, ChampionRecord, StoreStats

__all__ = ["CatalogTests"]

#: Timestamps of the rows of the ``filled`` fixture: one second apart from here.
T0 = 1_700_000_000.0
_EQ = ("artifact_type", "model_id", "evaluation_id", "suite_name", "map_name", "episode_id", "name", "sha256")


def _row(name: str, *, content: bytes | None = None, created_at: float | None = None, **fields: Any) -> dict[str, Any]:
    """An insertable artifact row (the fields the store gives ``insert_artifacts``)."""
    data = content if content is not None else new_id().encode()
    sha = hashlib.sha256(data).hexdigest()
    row: dict[str, Any] = {
        "id": new_id(), "name": name, "artifact_type": "report", "sha256": sha, "size": len(data),
        "stored_size": max(1, len(data) // 2), "codec": "zstd", "blob_key": f"blobs/{sha[:2]}/{sha}.zst",
        "created_at": time.time() if created_at is None else created_at, "tags": [], "metadata": {},
    }
    row.update(fields)
    return row


def _canon(v: Any) -> str:
    return json.dumps(v, sort_keys=True, separators=(",", ":"))


def _matches(a: Artifact, f: FindFilters) -> bool:
    """The reference semantics of the filters (see ``FILTER_KEYS``)."""
    for key in _EQ:
        v = f.get(key)
        if v is None:
            continue
        got = getattr(a, key)
        if isinstance(v, (list, tuple, set, frozenset)):
            if got not in {str(x) for x in v}:
                return False
        elif got != str(v):
            return False
    ts = a.created_at.timestamp()
    if f.get("name_prefix") and not a.name.startswith(str(f["name_prefix"])):
        return False
    if f.get("created_after") is not None and not ts > float(f["created_after"]):
        return False
    if f.get("created_before") is not None and not ts < float(f["created_before"]):
        return False
    if f.get("id_after") is not None and not a.id > str(f["id_after"]):
        return False
    tags = f.get("tags")
    if tags:
        wanted = [tags] if isinstance(tags, str) else list(tags)
        if f.get("tags_mode", "any") == "all":
            if not all(t in a.tags for t in wanted):
                return False
        elif not any(t in a.tags for t in wanted):
            return False
    for k, v in (f.get("metadata") or {}).items():
        if k not in a.metadata or _canon(a.metadata[k]) != _canon(v):
            return False
    return True


def _expected_stats(arts: Sequence[Artifact]) -> StoreStats:
    """The reference statistics of ``arts`` (rows sharing a blob share its figures)."""
    blobs = {a.blob_key: a for a in arts}
    by_codec: dict[str, int] = {}
    for b in blobs.values():
        by_codec[b.codec] = by_codec.get(b.codec, 0) + b.stored_size
    return StoreStats(
        total_artifacts=len(arts), total_size_bytes=sum(a.size for a in arts), unique_blobs=len(blobs),
        unique_size_bytes=sum(b.size for b in blobs.values()),
        stored_size_bytes=sum(b.stored_size for b in blobs.values()),
        artifacts_by_type=dict(Counter(a.artifact_type for a in arts)),
        artifacts_by_model=dict(Counter(a.model_id for a in arts if a.model_id)), bytes_by_codec=by_codec,
    )


def _sort_key(order: str) -> tuple[Callable[[Artifact], Any], bool]:
    keys: dict[str, Callable[[Artifact], Any]] = {
        "created_at": lambda a: (a.created_at, a.id), "name": lambda a: (a.name, a.version),
        "size": lambda a: (a.size, a.id), "version": lambda a: (a.version, a.id), "id": lambda a: a.id,
    }
    plain = {"newest": "-created_at", "oldest": "created_at"}.get(order, order)
    return keys[plain.lstrip("-")], plain.startswith("-")


def _ids(arts: Sequence[Artifact]) -> list[str]:
    return [a.id for a in arts]


def _entry(cur: ChampionRecord | None, model_id: str, score: float, **kw: Any) -> dict[str, Any]:
    """A champion entry as the store's ``make_entry`` builds it."""
    return {
        "kind": "champion", "champion_id": new_id(), "seq_no": cur.seq + 1 if cur else 1, "model_id": model_id,
        "evaluation_id": kw.get("evaluation_id"), "timestamp": kw.get("timestamp", time.time()),
        "global_score": score, "success_rate": kw.get("success_rate", 0.5),
        "previous_champion": cur.champion_id if cur else None, "previous_model_id": cur.model_id if cur else None,
        "improvement_metrics": kw.get("improvement_metrics", {}), "metrics": kw.get("metrics", {}),
        "artifacts": list(kw.get("artifacts", [])),
    }


def _evaluation(evaluation_id: str, model_id: str, score: float, **kw: Any) -> dict[str, Any]:
    return {"kind": "evaluation", "evaluation_id": evaluation_id, "model_id": model_id,
            "timestamp": kw.pop("timestamp", time.time()), "global_score": score,
            "success_rate": kw.pop("success_rate", 0.5), **kw}


def _no_batch(*_args: Any) -> JournalBatch | None:
    return None


def _returning(batch: JournalBatch) -> Callable[[list[Artifact]], JournalBatch]:
    return lambda _arts: batch


class CatalogTests:
    """Contract tests for :class:`~artifactstore.catalog.base.Catalog`.

    Subclasses provide the ``catalog`` fixture: a fresh, empty catalog, closed afterwards.
    """

    #: Threads in the concurrency tests.
    concurrent_writers: int = 6
    #: How long a test waits to conclude that a blocked writer is still blocked (seconds).
    blocked_wait: float = 0.4

    @pytest.fixture
    def catalog(self) -> Catalog:
        raise NotImplementedError(f"{type(self).__name__} must define a `catalog` fixture returning a fresh Catalog")

    @pytest.fixture
    def filled(self, catalog: Catalog) -> list[Artifact]:
        """Twelve artifacts with known fields, types, tags, metadata and shared blobs."""
        rows = []
        for i in range(12):
            content = f"content {i % 5}".encode() * (i + 1 if i % 5 != 4 else 1)
            rows.append(_row(
                ["alpha", "beta", "gamma"][i % 3], content=content if i % 5 != 4 else b"shared",
                created_at=T0 + i, artifact_type=["report", "video", "log"][i % 4 % 3],
                model_id=None if i % 4 == 3 else f"m{i % 2}", evaluation_id=f"e{i % 3}", suite_name=f"s{i % 2}",
                map_name=f"map{i % 4}", episode_id=f"ep{i}", codec=["zstd", "none"][i % 2],
                tags=["all", f"t{i % 3}"] + (["odd"] if i % 2 else []),
                metadata={"seed": i % 4, "lr": [0.1, 0.01][i % 2], "cfg": {"depth": i % 3, "w": [1, 2]}},
            ))
        # rows sharing a blob share its sizes and codec, as the store writes them
        for r in rows:
            if r["sha256"] == hashlib.sha256(b"shared").hexdigest():
                r.update(stored_size=3, codec="zstd")
        return catalog.insert_artifacts(rows)

    # --- the protocol itself ------------------------------------------------------------------

    def test_is_a_catalog(self, catalog: Catalog) -> None:
        assert isinstance(catalog, Catalog)
        assert isinstance(catalog.url, str) and catalog.url
        assert isinstance(catalog.dialect, str) and catalog.dialect

    # --- inserting --------------------------------------------------------------------------

    def test_insert_round_trips_every_field(self, catalog: Catalog) -> None:
        r = _row("reports/a.json", created_at=T0 + 0.25, artifact_type="evaluation_result", model_id="m",
                 evaluation_id="e", suite_name="s", map_name="m1", episode_id="ep", codec="none",
                 tags=["b", "a", "b", "c"], metadata={"x": 1, "nested": {"k": [1, 2.5, None, "é"]}, "flag": True})
        (a,) = catalog.insert_artifacts([r])
        assert (a.id, a.name, a.version, a.artifact_type) == (r["id"], "reports/a.json", 1, "evaluation_result")
        assert (a.sha256, a.size, a.stored_size, a.codec, a.blob_key) == (
            r["sha256"], r["size"], r["stored_size"], "none", r["blob_key"])
        assert (a.model_id, a.evaluation_id, a.suite_name, a.map_name, a.episode_id) == ("m", "e", "s", "m1", "ep")
        assert a.tags == ("b", "a", "c")  # the order given, without repeats
        assert a.metadata == {"x": 1, "nested": {"k": [1, 2.5, None, "é"]}, "flag": True}
        assert a.created_at.tzinfo is not None
        assert a.created_at.timestamp() == pytest.approx(T0 + 0.25, abs=1e-3)
        assert catalog.get(a.id) == a

    def test_optional_fields_default_to_none(self, catalog: Catalog) -> None:
        (a,) = catalog.insert_artifacts([_row("plain")])
        assert (a.model_id, a.evaluation_id, a.suite_name, a.map_name, a.episode_id) == (None,) * 5
        assert a.tags == () and a.metadata == {}
        assert catalog.get(a.id) == a

    def test_versions_count_per_name_in_row_order(self, catalog: Catalog) -> None:
        arts = catalog.insert_artifacts([_row("a"), _row("b"), _row("a"), _row("a")])
        assert [(a.name, a.version) for a in arts] == [("a", 1), ("b", 1), ("a", 2), ("a", 3)]
        more = catalog.insert_artifacts([_row("b"), _row("a")])
        assert [(a.name, a.version) for a in more] == [("b", 2), ("a", 4)]

    def test_versions_are_never_reused_after_a_delete(self, catalog: Catalog) -> None:
        a1, a2 = catalog.insert_artifacts([_row("a"), _row("a")])
        assert catalog.delete_artifacts([a2.id]) == [a2]
        (a3,) = catalog.insert_artifacts([_row("a")])
        assert a3.version == 3
        catalog.delete_artifacts([a1.id, a3.id])
        (a4,) = catalog.insert_artifacts([_row("a")])
        assert a4.version == 4

    def test_before_commit_sees_the_records_and_its_batch_is_noted(self, catalog: Catalog) -> None:
        seen: list[list[Artifact]] = []

        def before_commit(arts: list[Artifact]) -> JournalBatch:
            seen.append(arts)
            return JournalBatch("batch-1", "manifests")

        arts = catalog.insert_artifacts([_row("a"), _row("b")], before_commit=before_commit)
        assert seen[-1] == arts
        assert catalog.pending_batches() == [("batch-1", "manifests")]
        catalog.forget_batches_now(["batch-1"])
        assert catalog.pending_batches() == []

    def test_a_batch_forgets_settled_batches_in_its_transaction(self, catalog: Catalog) -> None:
        catalog.insert_artifacts([_row("a")], before_commit=lambda _a: JournalBatch("b1", "manifests"))
        catalog.set_alias("a", "x", catalog.find({})[0].id, before_commit=lambda: JournalBatch("b2", "records"))
        catalog.insert_artifacts([_row("a")], before_commit=lambda _a: JournalBatch("b3", "manifests",
                                                                                     settled=("b1", "b2")))
        assert catalog.pending_batches() == [("b3", "manifests")]

    def test_failing_before_commit_aborts_the_insert(self, catalog: Catalog) -> None:
        class Boom(Exception):
            pass

        def before_commit(_arts: list[Artifact]) -> JournalBatch:
            raise Boom

        with pytest.raises(Boom):
            catalog.insert_artifacts([_row("a"), _row("b")], before_commit=before_commit)
        assert catalog.count({}) == 0
        assert catalog.pending_batches() == []
        (a,) = catalog.insert_artifacts([_row("a")])
        assert a.version == 1  # the aborted insert took no number

    def test_duplicate_id_raises_and_inserts_nothing(self, catalog: Catalog) -> None:
        (a,) = catalog.insert_artifacts([_row("a")])
        dup = _row("b")
        dup["id"] = a.id
        with pytest.raises(CatalogError):
            catalog.insert_artifacts([_row("c"), dup])
        assert _ids(catalog.find({})) == [a.id]

    def test_insert_releases_the_rows_leases(self, catalog: Catalog) -> None:
        r = _row("a")
        token = catalog.take_lease(r["sha256"])
        catalog.insert_artifacts([r | {"leases": [token]}])
        catalog.delete_artifacts([r["id"]])
        done, skipped = catalog.sweep_blobs([(r["sha256"], r["blob_key"])], lambda _k: True)
        assert (done, skipped) == ([r["blob_key"]], 0)  # no lease left to protect it

    def test_concurrent_inserts_never_share_a_version(self, catalog: Catalog) -> None:
        def insert(_i: int) -> list[int]:
            return [a.version for a in catalog.insert_artifacts([_row("same"), _row("same")])]

        with ThreadPoolExecutor(self.concurrent_writers) as pool:
            versions = [v for vs in pool.map(insert, range(self.concurrent_writers * 2)) for v in vs]
        assert sorted(versions) == list(range(1, len(versions) + 1))

    # --- reading ----------------------------------------------------------------------------

    def test_lookups_of_what_does_not_exist_return_none(self, catalog: Catalog) -> None:
        assert catalog.get(new_id()) is None
        assert catalog.get_version("nothing", None) is None
        assert catalog.get_version("nothing", 1) is None
        assert catalog.get_alias("nothing", "latest") is None
        assert catalog.find({}) == [] and catalog.count({}) == 0

    def test_get_version(self, catalog: Catalog) -> None:
        a1, a2, a3 = catalog.insert_artifacts([_row("a"), _row("a"), _row("a")])
        assert catalog.get_version("a", 2) == a2
        assert catalog.get_version("a", None) == a3
        assert catalog.get_version("a", 0) == a3
        assert catalog.get_version("a", 4) is None
        catalog.delete_artifacts([a3.id])
        assert catalog.get_version("a", None) == a2
        assert catalog.get_version("a", 1) == a1

    def test_missing_and_existing_ids(self, catalog: Catalog) -> None:
        arts = catalog.insert_artifacts([_row(f"n{i}") for i in range(5)])
        ghosts = [new_id() for _ in range(3)]
        ask = [ghosts[0], arts[0].id, ghosts[1], ghosts[0], arts[3].id, ghosts[2]]
        assert catalog.missing_ids(ask) == ghosts
        assert catalog.existing_ids(ask) == {arts[0].id, arts[3].id}
        assert catalog.missing_ids([]) == [] and catalog.existing_ids([]) == set()

    def test_id_lookups_take_any_number_of_ids(self, catalog: Catalog) -> None:
        (a,) = catalog.insert_artifacts([_row("a")])
        many = [new_id() for _ in range(1500)]
        assert catalog.missing_ids([*many, a.id]) == many
        assert catalog.existing_ids([*many, a.id]) == {a.id}

    def test_ids_matching(self, catalog: Catalog) -> None:
        arts = catalog.insert_artifacts([_row(f"n{i}") for i in range(4)])
        a = arts[2]
        assert catalog.ids_matching(a.id) == [a.id]
        assert catalog.ids_matching(a.id[-10:]) == [a.id]  # a suffix
        assert a.id in catalog.ids_matching(a.id[:8])  # a prefix (ids of one process share it)
        assert catalog.ids_matching(a.id[:4], limit=2) == sorted(x.id for x in arts)[:2]
        assert catalog.ids_matching("") == []
        assert catalog.ids_matching("zz%") == [] and catalog.ids_matching("A") == []

    FIND_CASES: tuple[dict[str, Any], ...] = (
        {}, {"model_id": "m1"}, {"artifact_type": "video"}, {"artifact_type": ["video", "log"]},
        {"name": "beta"}, {"name": ("alpha", "gamma")}, {"suite_name": "s1", "map_name": "map2"},
        {"evaluation_id": "e0", "episode_id": "ep3"}, {"episode_id": ["ep1", "ep2", "nothing"]},
        {"name_prefix": "al"}, {"name_prefix": "%"}, {"name_prefix": "_eta"},
        {"created_after": T0 + 5}, {"created_before": T0 + 3}, {"created_after": T0 + 2, "created_before": T0 + 9},
        {"tags": "odd"}, {"tags": ["t1", "t2"]}, {"tags": ["t1", "odd"], "tags_mode": "all"},
        {"tags": ["t1", "t2"], "tags_mode": "all"}, {"tags": ["nothing"]},
        {"metadata": {"seed": 2}}, {"metadata": {"lr": 0.01, "seed": 3}},
        {"metadata": {"cfg": {"w": [1, 2], "depth": 1}}},
        {"metadata": {"seed": "2"}}, {"metadata": {"absent": 1}},
        {"model_id": None, "tags": None}, {"model_id": "m0", "tags": ["t0"], "metadata": {"seed": 0}},
    )

    @pytest.mark.parametrize("filters", FIND_CASES, ids=lambda f: json.dumps(f, sort_keys=True) or "all")
    def test_find_and_count_filter(self, catalog: Catalog, filled: list[Artifact], filters: dict[str, Any]) -> None:
        expected = sorted((a for a in filled if _matches(a, filters)), key=lambda a: (a.created_at, a.id),
                          reverse=True)
        assert catalog.find(filters) == expected
        assert catalog.count(filters) == len(expected)

    def test_sha256_and_id_after_filters(self, catalog: Catalog, filled: list[Artifact]) -> None:
        shared = hashlib.sha256(b"shared").hexdigest()
        assert {a.id for a in catalog.find({"sha256": shared})} == {a.id for a in filled if a.sha256 == shared}
        pivot = sorted(_ids(filled))[5]
        assert _ids(catalog.find({"id_after": pivot}, order_by="id")) == sorted(_ids(filled))[6:]

    def test_timestamps_in_any_form(self, catalog: Catalog, filled: list[Artifact]) -> None:
        after = _dt.datetime.fromtimestamp(T0 + 5, _dt.UTC)
        want = {a.id for a in filled if a.created_at.timestamp() > T0 + 5}
        assert {a.id for a in catalog.find({"created_after": after})} == want
        assert {a.id for a in catalog.find({"created_after": after.isoformat()})} == want
        assert {a.id for a in catalog.find({"created_after": after.replace(tzinfo=None)})} == want  # naive: UTC

    @pytest.mark.parametrize("order", ORDER_BY)
    def test_find_orders(self, catalog: Catalog, filled: list[Artifact], order: str) -> None:
        key, reverse = _sort_key(order)
        assert _ids(catalog.find({}, order_by=order)) == _ids(sorted(filled, key=key, reverse=reverse))
        assert _ids(catalog.find({"tags": "odd"}, order_by=order)) == _ids(
            sorted((a for a in filled if "odd" in a.tags), key=key, reverse=reverse))

    def test_limit_and_offset(self, catalog: Catalog, filled: list[Artifact]) -> None:
        everything = catalog.find({}, order_by="id")
        assert catalog.find({}, order_by="id", limit=4) == everything[:4]
        assert catalog.find({}, order_by="id", limit=4, offset=3) == everything[3:7]
        assert catalog.find({}, order_by="id", offset=10) == everything[10:]
        assert catalog.find({}, limit=0) == []

    @pytest.mark.parametrize("call", [
        {"order_by": "nonsense"}, {"limit": -1}, {"offset": -1},
        {"filters": {"tags": ["a"], "tags_mode": "some"}}, {"filters": {"metadata": ["seed", 1]}},
        {"filters": {"created_after": "not a time"}},
    ], ids=["order_by", "limit", "offset", "tags_mode", "metadata", "timestamp"])
    def test_find_rejects_invalid_arguments(self, catalog: Catalog, call: dict[str, Any]) -> None:
        call = dict(call)
        filters = call.pop("filters", {})
        with pytest.raises(InvalidInputError):
            catalog.find(filters, **call)

    def test_filter_keys_are_the_documented_ones(self) -> None:
        assert set(_EQ) | {"name_prefix", "created_after", "created_before", "id_after", "tags", "tags_mode",
                           "metadata"} == FILTER_KEYS

    def test_iter_all_pages_in_id_order(self, catalog: Catalog, filled: list[Artifact]) -> None:
        assert _ids(list(catalog.iter_all(batch=5))) == sorted(_ids(filled))
        assert _ids(list(catalog.iter_all(batch=2, filters={"tags": "odd"}))) == sorted(
            a.id for a in filled if "odd" in a.tags)
        it = catalog.iter_all(batch=3)
        first = next(it)
        catalog.insert_artifacts([_row("late")])  # a row committed during the iteration ...
        rest = list(it)
        assert len({first.id, *_ids(rest)}) == 1 + len(rest)  # ... never makes one repeat
        assert set(_ids(filled)) <= {first.id, *_ids(rest)}

    def test_stats(self, catalog: Catalog, filled: list[Artifact]) -> None:
        for filters in ({}, {"model_id": "m0"}, {"tags": "odd"}, {"name": "nothing"}):
            arts = [a for a in filled if _matches(a, filters)]
            blobs = {a.blob_key: a for a in arts}
            st = catalog.stats(filters) if filters else catalog.stats()
            assert st.total_artifacts == len(arts)
            assert st.total_size_bytes == sum(a.size for a in arts)
            assert st.unique_blobs == len(blobs)
            assert st.unique_size_bytes == sum(a.size for a in blobs.values())
            assert st.stored_size_bytes == sum(a.stored_size for a in blobs.values())
            by_codec: dict[str, int] = {}
            for a in blobs.values():
                by_codec[a.codec] = by_codec.get(a.codec, 0) + a.stored_size
            assert st.bytes_by_codec == by_codec
            by_type: dict[str, int] = {}
            by_model: dict[str, int] = {}
            for a in arts:
                by_type[a.artifact_type] = by_type.get(a.artifact_type, 0) + 1
                if a.model_id:
                    by_model[a.model_id] = by_model.get(a.model_id, 0) + 1
            assert st.artifacts_by_type == by_type
            assert st.artifacts_by_model == by_model

    def test_stats_stay_exact_through_random_changes(self, catalog: Catalog) -> None:
        """After every step of random sequences of puts, batches, deletes, edits, failed inserts,
        sync-style ingests (versions reserved, then a rebuild keeping the existing ids) and plain
        rebuilds, ``stats()`` equals the aggregate recomputed from ``find()``; so do filtered ones."""
        for seed in range(3):
            self._random_stats_run(catalog, random.Random(seed), steps=40)
            catalog.delete_artifacts(_ids(catalog.find({})))
            assert catalog.stats() == _expected_stats([])

    def _random_stats_run(self, catalog: Catalog, rng: random.Random, steps: int) -> None:
        contents = [f"blob {i}".encode() * (1 + i % 4) for i in range(10)]
        codecs = ["zstd", "none", "gzip"]

        def row() -> dict[str, Any]:
            i = rng.randrange(len(contents))
            # rows of one content share its blob, sizes and codec, as the store writes them
            return _row(f"n{rng.randrange(6)}", content=contents[i], codec=codecs[i % 3],
                        stored_size=len(contents[i]) // (1 + i % 3), created_at=T0 + rng.random() * 100,
                        artifact_type=rng.choice(["report", "video", "log"]),
                        model_id=rng.choice([None, "m1", "m2", "m3"]), tags=rng.sample(["x", "y", "z"], 1))

        def check(step: str) -> None:
            live = catalog.find({})
            assert catalog.stats() == _expected_stats(live), step
            for f in ({"model_id": "m1"}, {"tags": "x"}, {"artifact_type": ["video", "log"]}):
                assert catalog.stats(f) == _expected_stats([a for a in live if _matches(a, f)]), (step, f)

        for _ in range(steps):
            live = catalog.find({})
            op = rng.choice(["put", "put", "batch", "batch", "delete", "delete", "edit", "duplicate", "ingest",
                             "rebuild"])
            if op == "put":
                catalog.insert_artifacts([row()])
            elif op == "batch":
                catalog.insert_artifacts([row() for _ in range(rng.randrange(1, 9))])
            elif op == "delete" and live:
                victims = rng.sample(live, rng.randrange(1, min(4, len(live)) + 1))
                catalog.delete_artifacts([*_ids(victims), new_id()])
            elif op == "edit" and live:
                catalog.update_artifact(rng.choice(live).id, lambda cur: (("edited",), {"k": rng.random()}))
            elif op == "duplicate" and live:
                with pytest.raises(CatalogError):  # a failed insert counts nothing
                    catalog.insert_artifacts([row(), {**row(), "id": rng.choice(live).id}])
            elif op in ("ingest", "rebuild"):
                arts = list(live)
                last = {a.name: a.version for a in sorted(arts, key=lambda a: a.version)}
                if op == "ingest":  # a sync: numbers reserved, journals copied, then reindexed
                    arriving = [row() for _ in range(rng.randrange(1, 6))]
                    first = catalog.reserve_versions(Counter(r["name"] for r in arriving), sync_source="file:///src")
                    for r in arriving:
                        v = first[r["name"]]
                        first[r["name"]] = v + 1
                        last[r["name"]] = max(last.get(r["name"], 0), v)
                        arts.append(Artifact(**{k: r[k] for k in ("id", "name", "artifact_type", "sha256", "size",
                                                                   "stored_size", "codec", "blob_key", "model_id")},
                                             version=v, tags=tuple(r["tags"]),
                                             created_at=_dt.datetime.fromtimestamp(r["created_at"], _dt.UTC)))
                assert catalog.rebuild(lambda _p, arts=arts, last=last: CatalogContents(  # type: ignore[misc]
                    arts, last_versions=last)) == len(arts)
            check(op)

    def test_stats_stay_exact_under_concurrent_writers(self, catalog: Catalog) -> None:
        """Writers putting and deleting artifacts that share blobs, all at once: nothing is
        lost or counted twice (and, on a shared database, nobody deadlocks)."""
        contents = [f"shared {i}".encode() for i in range(5)]

        def work(worker: int) -> None:
            rng = random.Random(worker)
            for _ in range(8):
                arts = catalog.insert_artifacts([
                    _row(f"w{worker % 3}", content=rng.choice(contents), stored_size=3, codec="zstd",
                         model_id=f"m{rng.randrange(3)}") for _ in range(rng.randrange(1, 6))])
                catalog.delete_artifacts(_ids(rng.sample(arts, rng.randrange(len(arts) + 1))))

        with ThreadPoolExecutor(self.concurrent_writers) as pool:
            list(pool.map(work, range(self.concurrent_writers * 2)))
        assert catalog.stats() == _expected_stats(catalog.find({}))

    def test_blob_of_and_referenced_blob_keys(self, catalog: Catalog) -> None:
        r1 = _row("a", content=b"same")
        r2 = _row("b", content=b"same")
        r3 = _row("c", content=b"other")
        a1, a2, a3 = catalog.insert_artifacts([r1, r2, r3])
        assert catalog.blob_of(a1.sha256) == (a1.blob_key, a1.codec, a1.stored_size)
        assert catalog.blob_of(hashlib.sha256(b"never stored").hexdigest()) is None
        assert catalog.referenced_blob_keys() == {a1.blob_key, a3.blob_key}
        catalog.delete_artifacts([a1.id])
        assert catalog.blob_of(a1.sha256) == (a2.blob_key, a2.codec, a2.stored_size)
        catalog.delete_artifacts([a2.id])
        assert catalog.blob_of(a1.sha256) is None
        assert catalog.referenced_blob_keys() == {a3.blob_key}

    # --- search -----------------------------------------------------------------------------

    @pytest.fixture
    def searchable(self, catalog: Catalog) -> dict[str, Artifact]:
        rows = {
            "resnet": _row("models/resnet50.pt", created_at=T0 + 1, artifact_type="model", model_id="resnet-50",
                           tags=["vision", "baseline"], metadata={"optimizer": "adamw", "cfg": {"depth": 50}}),
            "vit": _row("models/vit-base.pt", created_at=T0 + 2, artifact_type="model", model_id="vit",
                        tags=["vision"], metadata={"optimizer": "sgd"}),
            "report": _row("reports/Zürich-eval.json", created_at=T0 + 3, artifact_type="evaluation_result",
                           model_id="resnet-50", tags=["final"], metadata={"note": "beats the baseline"}),
        }
        arts = catalog.insert_artifacts(list(rows.values()))
        return dict(zip(rows, arts, strict=True))

    @pytest.mark.parametrize(("text", "filters", "want"), [
        ("resnet50", {}, {"resnet"}),
        ("resnet*", {}, {"resnet", "report"}),  # prefix over the name and the model id
        ("vision", {}, {"resnet", "vit"}),
        ("vision -baseline", {}, {"vit"}),
        ("adamw", {}, {"resnet"}),
        ("depth 50", {}, {"resnet"}),
        ("zurich", {}, {"report"}),  # case and diacritics folded
        ('"beats the"', {}, {"report"}),
        ("baseline", {}, {"resnet", "report"}),
        ("baseline", {"artifact_type": "model"}, {"resnet"}),
        ("vision", {"tags": "baseline"}, {"resnet"}),
        ("nothing", {}, set()),
    ])
    def test_search(self, catalog: Catalog, searchable: dict[str, Artifact], text: str, filters: dict[str, Any],
                    want: set[str]) -> None:
        found = catalog.search(parse_query(text), filters)
        assert {a.id for a in found} == {searchable[k].id for k in want}
        assert len(found) == len(want)

    def test_search_limit_offset_and_errors(self, catalog: Catalog, searchable: dict[str, Artifact]) -> None:
        q = parse_query("vision")
        every = catalog.search(q, {}, limit=None)
        assert len(every) == 2
        assert catalog.search(q, {}, limit=1) == every[:1]
        assert catalog.search(q, {}, limit=1, offset=1) == every[1:]
        for bad in ({"limit": -1}, {"offset": -1}):
            with pytest.raises(InvalidInputError):
                catalog.search(q, {}, **bad)

    def test_search_follows_edits_and_deletes(self, catalog: Catalog, searchable: dict[str, Artifact]) -> None:
        vit = searchable["vit"]
        catalog.update_artifact(vit.id, lambda cur: (("transformer",), {"optimizer": "lion"}))
        assert catalog.search(parse_query("transformer lion"), {}) == [catalog.get(vit.id)]
        assert vit.id not in _ids(catalog.search(parse_query("sgd"), {}))
        assert _ids(catalog.search(parse_query("vision"), {})) == [searchable["resnet"].id]
        catalog.delete_artifacts([searchable["resnet"].id])
        assert catalog.search(parse_query("adamw"), {}) == []

    # --- aliases ----------------------------------------------------------------------------

    def test_set_move_and_read_aliases(self, catalog: Catalog) -> None:
        a1, a2 = catalog.insert_artifacts([_row("a"), _row("a")])
        catalog.set_alias("a", "best", a1.id)
        catalog.set_alias("a", "latest", a1.id)
        assert catalog.get_alias("a", "best") == a1
        assert catalog.aliases_of(a1.id) == ["best", "latest"]
        catalog.set_alias("a", "best", a2.id, before_commit=lambda: JournalBatch("alias-1", "records"))
        assert catalog.get_alias("a", "best") == a2
        assert catalog.aliases_of(a1.id) == ["latest"] and catalog.aliases_of(a2.id) == ["best"]
        assert catalog.get_alias("b", "best") is None
        assert catalog.pending_batches() == [("alias-1", "records")]

    def test_delete_alias(self, catalog: Catalog) -> None:
        (a,) = catalog.insert_artifacts([_row("a")])
        catalog.set_alias("a", "best", a.id)
        calls: list[str] = []

        def before_commit(artifact_id: str) -> JournalBatch:
            calls.append(artifact_id)
            return JournalBatch("unalias-1", "records")

        assert catalog.delete_alias("a", "best", before_commit=before_commit) == a.id
        assert calls == [a.id] and catalog.pending_batches() == [("unalias-1", "records")]
        assert catalog.get_alias("a", "best") is None
        assert catalog.delete_alias("a", "best", before_commit=before_commit) is None
        assert calls == [a.id]  # not called when there was nothing to remove

    def test_failing_before_commit_keeps_the_alias(self, catalog: Catalog) -> None:
        a1, a2 = catalog.insert_artifacts([_row("a"), _row("a")])
        catalog.set_alias("a", "best", a1.id)

        def boom(*_a: Any) -> JournalBatch:
            raise RuntimeError("journal append failed")

        with pytest.raises(RuntimeError):
            catalog.set_alias("a", "best", a2.id, before_commit=boom)
        with pytest.raises(RuntimeError):
            catalog.delete_alias("a", "best", before_commit=boom)
        assert catalog.get_alias("a", "best") == a1

    # --- deleting and editing ---------------------------------------------------------------

    def test_delete_artifacts(self, catalog: Catalog) -> None:
        a1, a2, a3 = catalog.insert_artifacts([_row("a", tags=["x"], metadata={"k": 1}), _row("a"), _row("b")])
        catalog.set_alias("a", "best", a1.id)
        seen: list[list[Artifact]] = []

        def before_commit(arts: list[Artifact]) -> JournalBatch:
            seen.append(arts)
            return JournalBatch("del-1", "records")

        gone = catalog.delete_artifacts([a1.id, new_id(), a3.id], before_commit=before_commit)
        assert sorted(_ids(gone)) == sorted([a1.id, a3.id]) and seen == [gone]
        assert catalog.get(a1.id) is None and catalog.get_alias("a", "best") is None
        assert catalog.find({"tags": "x"}) == [] and catalog.find({"metadata": {"k": 1}}) == []
        assert catalog.aliases_of(a1.id) == []
        assert catalog.find({}) == [a2]
        assert catalog.delete_artifacts([a1.id], before_commit=before_commit) == []
        assert len(seen) == 1  # not called when nothing was deleted
        assert catalog.pending_batches() == [("del-1", "records")]

    def test_delete_takes_any_number_of_ids(self, catalog: Catalog) -> None:
        arts = catalog.insert_artifacts([_row(f"n{i % 7}") for i in range(40)])
        ids = [new_id() for _ in range(1200)] + _ids(arts)
        assert sorted(_ids(catalog.delete_artifacts(ids))) == sorted(_ids(arts))
        assert catalog.count({}) == 0

    def test_concurrent_deletes_report_each_artifact_once(self, catalog: Catalog) -> None:
        arts = catalog.insert_artifacts([_row("a") for _ in range(10)])
        with ThreadPoolExecutor(self.concurrent_writers) as pool:
            results = list(pool.map(lambda _i: catalog.delete_artifacts(_ids(arts)), range(self.concurrent_writers)))
        assert sorted(i for r in results for i in _ids(r)) == sorted(_ids(arts))

    def test_update_artifact(self, catalog: Catalog) -> None:
        (a,) = catalog.insert_artifacts([_row("a", tags=["x", "y"], metadata={"k": 1, "drop": True})])
        catalog.set_alias("a", "best", a.id)
        seen: list[Artifact] = []

        def change(cur: Artifact) -> tuple[tuple[str, ...], dict[str, Any]]:
            seen.append(cur)
            return ("y", "z", "y"), {"k": 2, "new": {"deep": [1]}}

        def before_commit(new: Artifact) -> JournalBatch:
            seen.append(new)
            return JournalBatch("edit-1", "records")

        new = catalog.update_artifact(a.id, change, before_commit=before_commit)
        assert new is not None and seen == [a, new]
        assert new.tags == ("y", "z") and new.metadata == {"k": 2, "new": {"deep": [1]}}
        assert (new.id, new.name, new.version, new.sha256, new.blob_key, new.created_at) == (
            a.id, a.name, a.version, a.sha256, a.blob_key, a.created_at)
        assert catalog.get(a.id) == new and catalog.get_alias("a", "best") == new
        assert catalog.find({"tags": "x"}) == [] and catalog.find({"tags": "z"}) == [new]
        assert catalog.find({"metadata": {"k": 1}}) == [] and catalog.find({"metadata": {"k": 2}}) == [new]
        assert catalog.pending_batches() == [("edit-1", "records")]

    def test_update_of_unknown_id_returns_none(self, catalog: Catalog) -> None:
        def change(cur: Artifact) -> tuple[tuple[str, ...], dict[str, Any]]:
            raise AssertionError("change must not be called")

        assert catalog.update_artifact(new_id(), change) is None

    def test_failing_update_changes_nothing(self, catalog: Catalog) -> None:
        (a,) = catalog.insert_artifacts([_row("a", tags=["x"], metadata={"k": 1})])

        def boom(_new: Artifact) -> JournalBatch:
            raise RuntimeError("journal append failed")

        with pytest.raises(RuntimeError):
            catalog.update_artifact(a.id, lambda cur: (("y",), {}), before_commit=boom)
        assert catalog.get(a.id) == a and catalog.find({"tags": "x"}) == [a]

    def test_concurrent_updates_all_apply(self, catalog: Catalog) -> None:
        (a,) = catalog.insert_artifacts([_row("a")])

        def add(i: int) -> None:
            catalog.update_artifact(a.id, lambda cur: ((*cur.tags, f"t{i}"), {**cur.metadata, f"k{i}": i}))

        with ThreadPoolExecutor(self.concurrent_writers) as pool:
            list(pool.map(add, range(self.concurrent_writers * 2)))
        final = catalog.get(a.id)
        assert final is not None
        assert sorted(final.tags) == sorted(f"t{i}" for i in range(self.concurrent_writers * 2))
        assert len(final.metadata) == self.concurrent_writers * 2

    # --- reserved versions (sync) -----------------------------------------------------------

    def test_reserve_versions(self, catalog: Catalog) -> None:
        catalog.insert_artifacts([_row("a")])
        seen: list[dict[str, int]] = []

        def before_commit(first: dict[str, int]) -> JournalBatch:
            seen.append(first)
            return JournalBatch("versions-1", "versions")

        first = catalog.reserve_versions({"a": 3, "b": 2}, before_commit=before_commit)
        assert first == {"a": 2, "b": 1} and seen == [first]
        assert catalog.pending_batches() == [("versions-1", "versions")]
        assert catalog.sync_pending() is None
        a, b = catalog.insert_artifacts([_row("a"), _row("b")])
        assert (a.version, b.version) == (5, 3)

    def test_reserve_versions_marks_a_sync_pending_until_rebuilt(self, catalog: Catalog) -> None:
        assert catalog.sync_pending() is None
        assert catalog.reserve_versions({}, sync_source="file:///elsewhere") == {}
        assert catalog.sync_pending() == "file:///elsewhere"
        catalog.rebuild(lambda _p: CatalogContents([]))
        assert catalog.sync_pending() is None

    def test_failing_reserve_takes_nothing(self, catalog: Catalog) -> None:
        def boom(_first: dict[str, int]) -> JournalBatch:
            raise RuntimeError("journal append failed")

        with pytest.raises(RuntimeError):
            catalog.reserve_versions({"a": 5}, sync_source="file:///x", before_commit=boom)
        assert catalog.sync_pending() is None
        assert catalog.insert_artifacts([_row("a")])[0].version == 1

    # --- evaluations and champions ----------------------------------------------------------

    def test_upsert_and_get_evaluation(self, catalog: Catalog) -> None:
        e = _evaluation("e1", "m1", 0.75, timestamp=T0, success_rate=0.5, champion_rank=2,
                        metrics={"reward": 1.5, "per_map": {"a": [1, 2]}}, artifacts=["x", "y"],
                        metadata={"seed": 3}, repro={"git": "abc"})
        rec = catalog.upsert_evaluation(e, before_commit=lambda: JournalBatch("eval-1", "records"))
        assert (rec.evaluation_id, rec.model_id, rec.global_score, rec.success_rate) == ("e1", "m1", 0.75, 0.5)
        assert rec.timestamp.timestamp() == pytest.approx(T0) and rec.timestamp.tzinfo is not None
        assert (rec.is_champion, rec.champion_rank, rec.artifacts) == (False, 2, ("x", "y"))
        assert (rec.metrics, rec.metadata, rec.repro) == (e["metrics"], {"seed": 3}, {"git": "abc"})
        assert catalog.get_evaluation("e1") == rec
        assert catalog.pending_batches() == [("eval-1", "records")]
        again = catalog.upsert_evaluation(_evaluation("e1", "m2", 0.9, timestamp=T0 + 1))
        assert (again.model_id, again.global_score, again.metrics, again.artifacts) == ("m2", 0.9, {}, ())
        assert catalog.get_evaluation("e1") == again
        assert catalog.get_evaluation("e2") is None

    def test_evaluations_listing_and_scores(self, catalog: Catalog) -> None:
        for i in range(6):
            catalog.upsert_evaluation(_evaluation(f"e{i}", f"m{i % 2}", i / 10, timestamp=T0 + i,
                                                  is_champion=i in (1, 4)))
        assert [e.evaluation_id for e in catalog.evaluations()] == ["e5", "e4", "e3", "e2", "e1", "e0"]
        assert [e.evaluation_id for e in catalog.evaluations(order="timestamp")] == [f"e{i}" for i in range(6)]
        assert [e.evaluation_id for e in catalog.evaluations("m1")] == ["e5", "e3", "e1"]
        assert [e.evaluation_id for e in catalog.evaluations(champions_only=True)] == ["e4", "e1"]
        assert [e.evaluation_id for e in catalog.evaluations("m0", limit=2)] == ["e4", "e2"]
        assert catalog.evaluation_scores() == {f"e{i}": i / 10 for i in range(6)}

    def test_failing_upsert_records_nothing(self, catalog: Catalog) -> None:
        def boom() -> JournalBatch:
            raise RuntimeError("journal append failed")

        with pytest.raises(RuntimeError):
            catalog.upsert_evaluation(_evaluation("e1", "m", 0.5), before_commit=boom)
        assert catalog.get_evaluation("e1") is None and catalog.evaluations() == []

    def test_promote_builds_the_chain(self, catalog: Catalog) -> None:
        a1, a2 = catalog.insert_artifacts([_row("model.pt"), _row("report.json")])
        catalog.upsert_evaluation(_evaluation("e1", "m1", 0.4, artifacts=[a2.id]))
        ghost = new_id()
        currents: list[ChampionRecord | None] = []
        calls: list[tuple[dict[str, Any], list[Artifact]]] = []

        def make(model: str, score: float, **kw: Any) -> Callable[[ChampionRecord | None], dict[str, Any] | None]:
            def make_entry(cur: ChampionRecord | None) -> dict[str, Any] | None:
                currents.append(cur)
                if cur is not None and score <= cur.global_score:
                    return None
                return _entry(cur, model, score, **kw)
            return make_entry

        def before_commit(entry: dict[str, Any], aliased: list[Artifact]) -> JournalBatch:
            calls.append((entry, aliased))
            return JournalBatch(f"champ-{len(calls)}", "records")

        new, prev = catalog.promote(make("m1", 0.4, evaluation_id="e1", artifacts=[a1.id, ghost],
                                         metrics={"x": 1}), before_commit)
        assert new is not None and prev is None and currents == [None]
        assert (new.seq, new.model_id, new.evaluation_id, new.global_score) == (1, "m1", "e1", 0.4)
        assert new.artifacts == (a1.id, ghost) and new.metrics == {"x": 1} and new.previous_champion is None
        assert calls == [(calls[0][0], [a1])]  # only the artifact that exists got the alias
        assert catalog.get_alias("model.pt", "champion") == a1
        ev = catalog.get_evaluation("e1")
        assert ev is not None and ev.is_champion
        assert catalog.current_champion() == new

        declined, current = catalog.promote(make("m2", 0.3), before_commit)
        assert declined is None and current == new and len(calls) == 1

        third, prev3 = catalog.promote(make("m2", 0.6, artifacts=[a2.id], timestamp=T0), before_commit)
        assert third is not None and prev3 == new
        assert (third.seq, third.previous_champion, third.previous_model_id) == (2, new.champion_id, "m1")
        assert catalog.get_alias("report.json", "champion") == a2
        assert catalog.champion_history() == [third, new]
        assert catalog.champion_history(limit=1) == [third]
        assert catalog.champion_history(model_id="m1") == [new]
        assert catalog.champion_artifact_ids() == {a1.id, ghost, a2.id}
        assert catalog.pending_batches() == [("champ-1", "records"), ("champ-2", "records")]

    def test_a_champion_evaluation_stays_champion_when_rerecorded(self, catalog: Catalog) -> None:
        catalog.upsert_evaluation(_evaluation("e1", "m1", 0.4))
        catalog.promote(lambda cur: _entry(cur, "m1", 0.4, evaluation_id="e1"), _no_batch)
        rec = catalog.upsert_evaluation(_evaluation("e1", "m1", 0.45, is_champion=False))
        assert rec.is_champion and rec.global_score == 0.45
        assert [e.evaluation_id for e in catalog.evaluations(champions_only=True)] == ["e1"]

    def test_champion_artifact_ids_include_champion_evaluations(self, catalog: Catalog) -> None:
        catalog.upsert_evaluation(_evaluation("e1", "m1", 0.4, is_champion=True, artifacts=["a", "b"]))
        catalog.upsert_evaluation(_evaluation("e2", "m1", 0.5, artifacts=["c"]))
        assert catalog.champion_artifact_ids() == {"a", "b"}

    def test_failing_promotion_writes_nothing(self, catalog: Catalog) -> None:
        (a,) = catalog.insert_artifacts([_row("model.pt")])

        def boom(_entry: dict[str, Any], _aliased: list[Artifact]) -> JournalBatch:
            raise RuntimeError("journal append failed")

        with pytest.raises(RuntimeError):
            catalog.promote(lambda cur: _entry(cur, "m1", 0.5, artifacts=[a.id]), boom)
        assert catalog.current_champion() is None and catalog.champion_history() == []
        assert catalog.get_alias("model.pt", "champion") is None

    def test_concurrent_promotions_are_serialised(self, catalog: Catalog) -> None:
        seen: list[str | None] = []
        lock = threading.Lock()

        def promote(score: int) -> None:
            def make_entry(cur: ChampionRecord | None) -> dict[str, Any] | None:
                if cur is not None and score <= cur.global_score:
                    return None
                return _entry(cur, f"m{score}", float(score))

            def before_commit(entry: dict[str, Any], _aliased: list[Artifact]) -> None:
                with lock:
                    seen.append(entry["previous_champion"])

            catalog.promote(make_entry, before_commit)

        scores = [3, 1, 5, 2, 6, 4, 8, 7][: max(4, self.concurrent_writers)]
        with ThreadPoolExecutor(self.concurrent_writers) as pool:
            list(pool.map(promote, scores))
        chain = list(reversed(catalog.champion_history()))
        assert [c.seq for c in chain] == list(range(1, len(chain) + 1))
        assert all(b.global_score > a.global_score for a, b in itertools.pairwise(chain))
        assert all(b.previous_champion == a.champion_id for a, b in itertools.pairwise(chain))
        assert chain[-1].global_score == max(scores)
        assert len(seen) == len(set(seen)) == len(chain)  # no two winners saw the same current champion

    # --- leases and gc's sweep --------------------------------------------------------------

    def test_suspect_blob_marks(self, catalog: Catalog) -> None:
        a, b = "blobs/sha256/aa/" + "a" * 64, "blobs/sha256/bb/" + "b" * 64
        assert not catalog.is_blob_suspect(a)
        catalog.mark_blobs_suspect([a, b, a])
        assert catalog.is_blob_suspect(a) and catalog.is_blob_suspect(b)
        catalog.clear_blob_suspect([a, "blobs/never-marked"])
        assert not catalog.is_blob_suspect(a) and catalog.is_blob_suspect(b)
        catalog.mark_blobs_suspect([])
        catalog.clear_blob_suspect([])
        assert catalog.is_blob_suspect(b)

    def test_sweep_skips_referenced_and_leased_blobs(self, catalog: Catalog) -> None:
        live = _row("live")
        catalog.insert_artifacts([live])
        leased, orphan = (hashlib.sha256(x).hexdigest() for x in (b"leased", b"orphan"))
        token = catalog.take_lease(leased)
        deleted: list[str] = []

        def delete(key: str) -> bool:
            deleted.append(key)
            return not key.startswith("blobs/gone")

        cands = [(live["sha256"], live["blob_key"]), (leased, f"blobs/{leased}"), (orphan, f"blobs/{orphan}"),
                 ("0" * 64, "blobs/gone-already")]
        done, skipped = catalog.sweep_blobs(cands, delete)
        assert done == [f"blobs/{orphan}"] and skipped == 3
        assert sorted(deleted) == sorted([f"blobs/{orphan}", "blobs/gone-already"])
        catalog.release_leases_now([token])
        assert catalog.sweep_blobs([(leased, f"blobs/{leased}")], lambda _k: True) == ([f"blobs/{leased}"], 0)
        catalog.release_leases_now([])
        catalog.release_leases_now([new_id()])  # unknown tokens are ignored

    def test_sweep_delete_error_propagates(self, catalog: Catalog) -> None:
        sha = hashlib.sha256(b"x").hexdigest()

        def delete(_key: str) -> bool:
            raise OSError("backend down")

        with pytest.raises(OSError, match="backend down"):
            catalog.sweep_blobs([(sha, f"blobs/{sha}")], delete)

    def test_expire_leases(self, catalog: Catalog) -> None:
        sha = hashlib.sha256(b"x").hexdigest()
        catalog.take_lease(sha, ttl=-1.0)
        catalog.take_lease(sha, ttl=3600.0)
        assert catalog.expire_leases() == 1
        assert catalog.expire_leases() == 0
        assert catalog.sweep_blobs([(sha, f"blobs/{sha}")], lambda _k: True) == ([], 1)  # still leased

    def test_an_expired_lease_does_not_protect(self, catalog: Catalog) -> None:
        sha = hashlib.sha256(b"x").hexdigest()
        catalog.take_lease(sha, ttl=-1.0)
        assert catalog.sweep_blobs([(sha, f"blobs/{sha}")], lambda _k: True) == ([f"blobs/{sha}"], 0)

    def test_a_lease_waits_for_the_sweep_of_its_digest(self, catalog: Catalog) -> None:
        sha = hashlib.sha256(b"contended").hexdigest()
        taken = threading.Event()
        blocked: list[bool] = []

        def take() -> None:
            catalog.take_lease(sha)
            taken.set()

        def delete(_key: str) -> bool:
            t = threading.Thread(target=take)
            t.start()
            blocked.append(not taken.wait(self.blocked_wait))  # the lease must wait for the sweep
            return True

        assert catalog.sweep_blobs([(sha, f"blobs/{sha}")], delete) == ([f"blobs/{sha}"], 0)
        assert taken.wait(30) and blocked == [True]
        assert catalog.sweep_blobs([(sha, f"blobs/{sha}")], lambda _k: True) == ([], 1)  # now leased

    def test_lease_digest_decides_with_the_lease_taken(self, catalog: Catalog) -> None:
        r = _row("digest")
        sha, key = r["sha256"], r["blob_key"]
        seen: list[tuple[tuple[str, str, int] | None, int]] = []

        def decide(existing: tuple[str, str, int] | None, others: int) -> str:
            seen.append((existing, others))
            # leased before decide publishes anything: a sweep now skips the digest
            assert catalog.sweep_blobs([(sha, key)], lambda _k: True) == ([], 1)
            return "chosen"

        token, chosen = catalog.lease_digest(sha, 3600.0, decide)
        assert chosen == "chosen" and isinstance(token, str) and token
        assert seen == [(None, 0)]  # decide runs once
        second, _ = catalog.lease_digest(sha, 3600.0, decide)
        assert seen[1:] == [(None, 1)]  # the first's lease
        a = catalog.insert_artifacts([r | {"leases": [token, second]}])[0]
        catalog.lease_digest(sha, -1.0, decide)  # an already expired lease: counts for nobody
        assert seen[2:] == [((a.blob_key, a.codec, a.stored_size), 0)]
        catalog.delete_artifacts([a.id])
        assert catalog.sweep_blobs([(sha, key)], lambda _k: True) == ([key], 0)  # the leases are gone

    def test_failing_decide_leaves_no_lease(self, catalog: Catalog) -> None:
        sha = hashlib.sha256(b"failing decide").hexdigest()

        class Boom(Exception):
            pass

        def decide(_existing: tuple[str, str, int] | None, _others: int) -> None:
            raise Boom

        with pytest.raises(Boom):
            catalog.lease_digest(sha, 3600.0, decide)
        assert catalog.sweep_blobs([(sha, f"blobs/{sha}")], lambda _k: True) == ([f"blobs/{sha}"], 0)
        # and the digest is free again: the next caller decides at once
        assert catalog.lease_digest(sha, 3600.0, lambda _e, o: o)[1] == 0

    def test_one_decider_per_digest(self, catalog: Catalog) -> None:
        sha = hashlib.sha256(b"one decider").hexdigest()
        inside = threading.Event()
        go = threading.Event()
        order: list[str] = []

        def first(_e: tuple[str, str, int] | None, others: int) -> int:
            inside.set()
            assert go.wait(30)
            order.append("first")
            return others

        def second(_e: tuple[str, str, int] | None, others: int) -> int:
            order.append("second")
            return others

        results: dict[str, int] = {}
        t1 = threading.Thread(target=lambda: results.__setitem__("first", catalog.lease_digest(sha, 3600.0, first)[1]))
        t1.start()
        assert inside.wait(30)
        t2 = threading.Thread(
            target=lambda: results.__setitem__("second", catalog.lease_digest(sha, 3600.0, second)[1]))
        t2.start()
        t2.join(self.blocked_wait)
        blocked = t2.is_alive() and not order  # the second waits for the first's decide
        go.set()
        t1.join(30)
        t2.join(30)
        assert blocked and order == ["first", "second"]
        assert results == {"first": 0, "second": 1}  # the second sees the first's lease

    def test_lease_digest_holds_no_lock_while_deciding(self, catalog: Catalog) -> None:
        """decide may upload a large blob: writes of other content (and other digests'
        leases) must not wait for it."""
        sha = hashlib.sha256(b"slow upload").hexdigest()
        done: list[bool] = []

        def other_writes() -> None:
            catalog.insert_artifacts([_row("other")])
            catalog.lease_digest(hashlib.sha256(b"other content").hexdigest(), 3600.0, lambda _e, _o: None)
            done.append(True)

        def decide(_e: tuple[str, str, int] | None, _o: int) -> None:
            t = threading.Thread(target=other_writes)
            t.start()
            t.join(15)  # well below any lock wait that ends in an error
            assert not t.is_alive(), "a write of other content waited for a decide in progress"

        catalog.lease_digest(sha, 3600.0, decide)
        assert done == [True]

    # --- pending journal batches ------------------------------------------------------------

    def test_pending_batches_sorted_and_forgotten(self, catalog: Catalog) -> None:
        for b, folder in (("b3", "records"), ("b1", "manifests"), ("b2", "versions")):
            catalog.insert_artifacts([_row("a")], before_commit=_returning(JournalBatch(b, folder)))
        assert catalog.pending_batches() == [("b1", "manifests"), ("b2", "versions"), ("b3", "records")]
        catalog.forget_batches_now(["b2", "unknown", *(new_id() for _ in range(1200))])
        assert catalog.pending_batches() == [("b1", "manifests"), ("b3", "records")]
        catalog.forget_batches_now([])
        assert len(catalog.pending_batches()) == 2

    # --- rebuild (reindex) ------------------------------------------------------------------

    def _contents(self) -> tuple[CatalogContents, list[Artifact]]:
        arts = [
            Artifact(id=new_id(), name=n, version=v, artifact_type="report", sha256=s, size=10 * v, stored_size=v,
                     codec="zstd", created_at=_dt.datetime.fromtimestamp(T0 + i, _dt.UTC), model_id="m1",
                     tags=("rebuilt", f"v{v}"), metadata={"v": v}, blob_key=f"blobs/{s}")
            for i, (n, v, s) in enumerate([("a", 2, "1" * 64), ("a", 5, "2" * 64), ("b", 1, "3" * 64)])
        ]
        evals = [_evaluation("e1", "m1", 0.1, timestamp=T0), _evaluation("e2", "m2", 0.2, timestamp=T0 + 1),
                 _evaluation("e1", "m1", 0.3, timestamp=T0 + 2)]  # a later entry of e1 replaces the first
        c1 = _entry(None, "m1", 0.3, evaluation_id="e1", artifacts=[arts[0].id], timestamp=T0 + 3)
        c2 = _entry(None, "m2", 0.4, evaluation_id="e2", timestamp=T0 + 4) | {"seq_no": 2,
                                                                               "previous_champion": c1["champion_id"]}
        contents = CatalogContents(
            artifacts=arts, aliases=[AliasRow("a", "best", arts[1].id, T0)], last_versions={"a": 7, "b": 1},
            evaluations=evals, champions=[c1, c2, dict(c1)],  # a repeated champion_id counts once
        )
        return contents, arts

    def test_rebuild_replaces_everything(self, catalog: Catalog, filled: list[Artifact]) -> None:
        catalog.set_alias("alpha", "old", filled[0].id)
        catalog.upsert_evaluation(_evaluation("gone", "m9", 0.9))
        catalog.promote(lambda cur: _entry(cur, "m9", 0.9), _no_batch)
        contents, arts = self._contents()
        assert catalog.rebuild(lambda _pending: contents) == 3
        assert catalog.find({}, order_by="id") == sorted(arts, key=lambda a: a.id)
        assert catalog.get(filled[0].id) is None and catalog.get_alias("alpha", "old") is None
        assert catalog.get_alias("a", "best") == arts[1] and catalog.get_version("a", None) == arts[1]
        assert catalog.find({"tags": "rebuilt"}, order_by="id") == sorted(arts, key=lambda a: a.id)
        assert catalog.search(parse_query("rebuilt"), {}, limit=None) != []
        assert catalog.search(parse_query("alpha"), {}) == []
        a, b = catalog.insert_artifacts([_row("a"), _row("b")])
        assert (a.version, b.version) == (8, 2)  # numbers continue after last_versions
        assert catalog.get_evaluation("gone") is None
        e1, e2 = catalog.get_evaluation("e1"), catalog.get_evaluation("e2")
        assert e1 is not None and e2 is not None
        assert e1.global_score == 0.3 and e1.is_champion and e2.is_champion
        history = catalog.champion_history()
        assert [(c.seq, c.model_id) for c in history] == [(2, "m2"), (1, "m1")]
        assert catalog.current_champion() == history[0]
        assert catalog.champion_artifact_ids() == {arts[0].id}
        assert catalog.stats().total_artifacts == 5

    def test_rebuild_keeps_leases_and_pending_batches_and_passes_them(self, catalog: Catalog) -> None:
        r = _row("a")
        catalog.insert_artifacts([r], before_commit=lambda _a: JournalBatch("p1", "manifests"))
        catalog.reserve_versions({"a": 1}, before_commit=lambda _f: JournalBatch("p2", "versions"))
        token = catalog.take_lease(r["sha256"])
        seen: list[frozenset[str]] = []

        def build(pending: frozenset[str]) -> CatalogContents:
            seen.append(pending)
            return CatalogContents([])

        assert catalog.rebuild(build) == 0
        assert seen == [frozenset({"p1", "p2"})]
        assert catalog.pending_batches() == [("p1", "manifests"), ("p2", "versions")]
        assert catalog.count({}) == 0
        assert catalog.sweep_blobs([(r["sha256"], r["blob_key"])], lambda _k: True) == ([], 1)  # still leased
        catalog.release_leases_now([token])

    def test_failing_build_leaves_the_catalog_as_it_was(self, catalog: Catalog, filled: list[Artifact]) -> None:
        catalog.reserve_versions({}, sync_source="file:///src")

        def build(_pending: frozenset[str]) -> CatalogContents:
            raise RuntimeError("journal unreadable")

        with pytest.raises(RuntimeError):
            catalog.rebuild(build)
        assert catalog.find({}, order_by="id") == sorted(filled, key=lambda a: a.id)
        assert catalog.sync_pending() == "file:///src"

    def test_rebuild_only_if_fresh(self, catalog: Catalog) -> None:
        contents, _arts = self._contents()
        calls: list[frozenset[str]] = []

        def build(pending: frozenset[str]) -> CatalogContents:
            calls.append(pending)
            return contents

        assert catalog.rebuild(build, only_if_fresh=True, has_journals=lambda: True) == 3
        assert len(calls) == 1
        # rebuilt once: later opens do nothing, whatever the journals
        assert catalog.rebuild(build, only_if_fresh=True, has_journals=lambda: True) is None
        assert len(calls) == 1
        # an interrupted sync makes the next open rebuild again
        catalog.reserve_versions({"a": 1}, sync_source="file:///src")
        assert catalog.rebuild(build, only_if_fresh=True, has_journals=lambda: True) == 3
        assert len(calls) == 2 and catalog.sync_pending() is None
        # a plain rebuild always runs
        assert catalog.rebuild(build) == 3 and len(calls) == 3

    def test_rebuild_only_if_fresh_skips_a_store_without_journals(self, catalog: Catalog) -> None:
        def build(_pending: frozenset[str]) -> CatalogContents:
            raise AssertionError("nothing to rebuild")

        asked: list[bool] = []

        def has_journals() -> bool:
            asked.append(True)
            return False

        assert catalog.rebuild(build, only_if_fresh=True, has_journals=has_journals) is None
        assert asked == [True]
        # marked as rebuilt: later opens do not even ask
        assert catalog.rebuild(build, only_if_fresh=True, has_journals=lambda: True) is None

    def test_rebuild_only_if_fresh_keeps_a_catalog_written_through(self, catalog: Catalog) -> None:
        (a,) = catalog.insert_artifacts([_row("a")])

        def build(_pending: frozenset[str]) -> CatalogContents:
            raise AssertionError("a catalog written through from the start is not rebuilt")

        assert catalog.rebuild(build, only_if_fresh=True, has_journals=lambda: True) is None
        assert catalog.find({}) == [a]
        assert catalog.rebuild(build, only_if_fresh=True, has_journals=lambda: True) is None

    def test_writers_wait_for_a_rebuild(self, catalog: Catalog) -> None:
        done = threading.Event()
        blocked: list[bool] = []
        inserted: list[Artifact] = []

        def write() -> None:
            inserted.extend(catalog.insert_artifacts([_row("a")]))
            done.set()

        def build(_pending: frozenset[str]) -> CatalogContents:
            threading.Thread(target=write).start()
            blocked.append(not done.wait(self.blocked_wait))  # held until the rebuild commits
            return CatalogContents([], last_versions={"a": 4})

        assert catalog.rebuild(build) == 0
        assert done.wait(30) and blocked == [True]
        assert [a.version for a in inserted] == [5]  # applied after the rebuild, not lost by it
        assert catalog.find({}) == inserted

    def test_concurrent_rebuilds_run_one_at_a_time(self, catalog: Catalog) -> None:
        inside = 0
        most = 0
        lock = threading.Lock()

        def build(_pending: frozenset[str]) -> CatalogContents:
            nonlocal inside, most
            with lock:
                inside += 1
                most = max(most, inside)
            time.sleep(0.05)
            with lock:
                inside -= 1
            return CatalogContents([])

        with ThreadPoolExecutor(4) as pool:
            assert list(pool.map(lambda _i: catalog.rebuild(build), range(4))) == [0] * 4
        assert most == 1


    # --- the pack index (optional: catalogs that are a PackIndex) ---------------------------

    @pytest.fixture
    def packs(self, catalog: Catalog) -> PackIndex:
        if not isinstance(catalog, PackIndex):
            pytest.skip(f"{type(catalog).__name__} keeps no pack index (optional): its stores keep blobs loose")
        return catalog

    @staticmethod
    def _key(i: int, suffix: str = "") -> str:
        sha = hashlib.sha256(b"%d" % i).hexdigest()
        return f"blobs/sha256/{sha[:2]}/{sha}{suffix}"

    def test_pack_index_adds_locates_and_lists(self, packs: PackIndex) -> None:
        p1, p2 = "a" * 32, "b" * 32
        packs.add_pack_members(p1, [(self._key(1), 0, 10), (self._key(2), 10, 5)])
        packs.add_pack_members(p2, [(self._key(2), 0, 5), (self._key(3, ".zst"), 5, 7)])  # key 2: first row stays
        assert packs.pack_locations([self._key(1), self._key(2), self._key(4)]) == {
            self._key(1): (p1, 0, 10), self._key(2): (p1, 10, 5)}
        assert packs.pack_locations([]) == {}
        assert packs.pack_rows(p2) == [(self._key(3, ".zst"), p2, 5, 7)]
        assert packs.pack_rows() == sorted([(self._key(1), p1, 0, 10), (self._key(2), p1, 10, 5),
                                            (self._key(3, ".zst"), p2, 5, 7)])

    def test_blobs_of_agrees_with_blob_of(self, packs: PackIndex, catalog: Catalog) -> None:
        rows = [_row(f"n{i}", content=b"%d" % (i % 7)) for i in range(40)]
        arts = catalog.insert_artifacts(rows)
        never = hashlib.sha256(b"never stored").hexdigest()
        absent = [hashlib.sha256(b"absent %d" % i).hexdigest() for i in range(600)]
        shas = absent[:300] + [a.sha256 for a in arts] + [never] * 3 + absent[300:]
        many = packs.blobs_of(shas * 2)  # repeats, and more digests than one statement takes
        assert set(many) == {a.sha256 for a in arts}
        for sha, found in many.items():
            assert found == catalog.blob_of(sha)
        catalog.delete_artifacts([a.id for a in arts if a.sha256 == arts[0].sha256])
        assert arts[0].sha256 not in packs.blobs_of(shas)
        assert packs.blobs_of([]) == {}

    def test_pack_index_moves_and_drops_a_pack(self, packs: PackIndex) -> None:
        old, new = "c" * 32, "d" * 32
        keys = [self._key(i) for i in range(600)]  # more than one statement's worth of parameters
        packs.add_pack_members(old, [(k, i * 3, 3) for i, k in enumerate(keys)])
        packs.move_pack_members(old, new, [(k, i, 3) for i, k in enumerate(keys[:2])])
        assert packs.pack_rows(old) == []
        assert packs.pack_rows(new) == sorted([(keys[0], new, 0, 3), (keys[1], new, 1, 3)])
        packs.move_pack_members(new, None, [])
        assert packs.pack_rows() == []

    def test_rebuild_replaces_the_pack_index(self, packs: PackIndex, catalog: Catalog) -> None:
        packs.add_pack_members("e" * 32, [(self._key(1), 0, 1)])
        catalog.rebuild(lambda _p: CatalogContents([], packs=[(self._key(2), "f" * 32, 4, 2),
                                                            (self._key(2), "0" * 32, 0, 2)]))
        assert packs.pack_rows() == [(self._key(2), "f" * 32, 4, 2)]  # the first row of a key wins
        catalog.rebuild(lambda _p: CatalogContents([]))  # packs=None: left as it is
        assert packs.pack_rows() == [(self._key(2), "f" * 32, 4, 2)]
