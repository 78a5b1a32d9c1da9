"""Full-text search (store.search, CLI search) on SQLite FTS5 and PostgreSQL tsvector."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import artifactstore
from artifactstore import ArtifactStore
from artifactstore.catalog import schema as S
from artifactstore.catalog import search
from artifactstore.catalog.base import CatalogContents
from artifactstore.catalog.schema import SCHEMA_VERSION
from artifactstore.catalog.search import parse_query
from artifactstore.catalog.sql import SQLCatalog
from artifactstore.cli.main import cli
from artifactstore.errors import CatalogError, InvalidInputError, InvalidQueryError
from helpers import sql_catalog

HOSTILE = ['"', '""', '"unclosed', "NEAR(a b)", "NEAR(", "'; --", "'; DROP TABLE artifacts; --", "*", "**", "a*b*",
           "AND", "OR NOT", "(", ")", "a:*", "!a", "a & b | c", "a <-> b", "\x00", "\x01\x02", "\ud800",
           "résumé", "日本語", "-", "--", "-\"x\"", "^a", "col:val", "{a b}", "+a", "'", "\\", "%_%"]


def _fill(s: ArtifactStore) -> dict[str, str]:
    ids = {}
    ids["name_hit"] = s.put(b"1", name="resnet50-eval.json", artifact_type="evaluation_result",
                            model_id="resnet50_v2", evaluation_id="eval-2024-01", suite_name="nav",
                            map_name="forest", tags=["champion", "café"],
                            metadata={"config": {"lr": 0.001, "optimizer": "AdamW"}, "note": "exact words here"}).id
    time.sleep(0.002)
    ids["meta_hit"] = s.put(b"2", name="vit-small.log", artifact_type="log", model_id="vit_small",
                            metadata={"note": "other words", "base": "resnet"}).id
    time.sleep(0.002)
    ids["episode"] = s.put(b"3", name="episode-7.csv", artifact_type="episode_data", model_id="vit_small",
                           episode_id="ep-7", map_name="desert", metadata={"words": ["exact", "other"]}).id
    return ids


def test_words_prefixes_phrases_exclusion(any_store: ArtifactStore) -> None:
    s = any_store
    ids = _fill(s)

    def names(q: str, **f: Any) -> list[str]:
        return [a.id for a in s.search(q, **f)]

    assert names("resnet50") == [ids["name_hit"]]
    assert names("resnet") == [ids["meta_hit"]]
    assert names("resnet*") == [ids["name_hit"], ids["meta_hit"]]  # name hit outranks a metadata hit
    assert names("RESN*") == [ids["name_hit"], ids["meta_hit"]]
    assert names('"exact words"') == [ids["name_hit"]]
    assert set(names("exact words")) == {ids["name_hit"], ids["episode"]}
    assert names("words -exact") == [ids["meta_hit"]]
    assert set(names('words -"exact words"')) == {ids["episode"], ids["meta_hit"]}
    assert names("cafe") == names("CAFÉ") == [ids["name_hit"]]  # diacritics and case ignored
    assert names("config.lr") == [ids["name_hit"]]  # nested metadata key
    assert names("adamw") == names("optimizer adamw") == [ids["name_hit"]]
    assert names("0.001") == [ids["name_hit"]]
    assert names("forest nav eval-2024-01") == [ids["name_hit"]]  # map, suite, evaluation
    assert names("ep-7 desert") == [ids["episode"]]
    assert names("episode_data") == [ids["episode"]]
    assert names("nothingmatches") == []
    assert names(ids["episode"]) == [ids["episode"]]  # by id
    assert names(s.get_artifact(ids["meta_hit"]).sha256[:10] + "*") == [ids["meta_hit"]]


def test_filters_limit_offset_delete_versions(any_store: ArtifactStore) -> None:
    s = any_store
    ids = _fill(s)
    assert set(a.id for a in s.search("words", model_id="vit_small")) == {ids["episode"], ids["meta_hit"]}
    assert [a.id for a in s.search("words", model_id="vit_small", artifact_type="log")] == [ids["meta_hit"]]
    assert [a.id for a in s.search("words", tags=["champion"])] == [ids["name_hit"]]
    assert [a.id for a in s.search("words", metadata={"base": "resnet"})] == [ids["meta_hit"]]
    assert len(s.search("words", limit=1)) == 1
    two = [a.id for a in s.search("words", model_id="vit_small")]
    assert [a.id for a in s.search("words", model_id="vit_small", limit=1, offset=1)] == two[1:]
    with pytest.raises(InvalidInputError):
        s.search("words", colour="red")
    s.delete(ids["meta_hit"])
    assert [a.id for a in s.search("words", model_id="vit_small")] == [ids["episode"]]
    v1 = s.put(b"a", name="report.txt", artifact_type="report", metadata={"stage": "draft"})
    v2 = s.put(b"b", name="report.txt", artifact_type="report", metadata={"stage": "final"})
    assert [a.id for a in s.search("report")] == [v2.id, v1.id]
    assert [(a.version, a.id) for a in s.search("report draft")] == [(1, v1.id)]


# Values whose tokens collide (same words, other separators, a prefix of another value, accents,
# a value that is all punctuation): the filter's words only narrow the full-text match, the SQL
# filter still decides.
TRICKY = ["vit50_v2", "vit50-v2", "vit50v2", "vit50_v2_extra", "v2_vit50", "Vit50_V2", "café", "cafe", "___", ""]


def test_filtered_search_equals_search_then_filter(any_store: ArtifactStore) -> None:
    s = any_store
    arts = []
    for i, value in enumerate(TRICKY * 2):
        arts.append(s.put(f"{i}".encode(), name=f"{value or 'plain'}/run{i % 3}.json", artifact_type=value or "log",
                          model_id=value or None, evaluation_id=f"ev-{value}", map_name=value or None,
                          tags=[value or "none", f"t{i % 2}"], metadata={"words": "common words", "i": i}))
    everything = [a for a in s.search("words", limit=None)]
    assert len(everything) == len(arts)
    for value in TRICKY:
        if not value:
            continue
        for key in ("model_id", "artifact_type", "evaluation_id", "map_name"):
            want = value if key != "evaluation_id" else f"ev-{value}"
            filters: dict[str, Any] = {key: want}
            got = {a.id for a in s.search("words", limit=None, **filters)}
            assert got == {a.id for a in everything if getattr(a, key) == want}, (key, want)
        got = {a.id for a in s.search("words", limit=None, tags=[value])}
        assert got == {a.id for a in everything if value in a.tags}, value
        got = {a.id for a in s.search("words", limit=None, tags=[value, "t1"], tags_mode="all")}
        assert got == {a.id for a in everything if value in a.tags and "t1" in a.tags}, value
    one = arts[3]
    assert [a.id for a in s.search("words", name=one.name, model_id=one.model_id)] == [
        a.id for a in everything if a.name == one.name and a.model_id == one.model_id]


QUERIES = ["resnet", "resn*", "words", '"exact words"', "words -exact", "vit", "log", "cafe", "report", "ep 7"]


def _stored_oldest_first(cat: SQLCatalog) -> bool:
    """Whether the search index's rows are stored in created_at order (the order a search walks
    them): PostgreSQL's heap order, SQLite's rowids."""
    key = "doc_id" if cat.dialect == "sqlite" else "ctid"
    with cat.engine.connect() as conn:
        stored = list(conn.execute(sa.text(f"SELECT artifact_id FROM search_docs ORDER BY {key}")).scalars())
    return stored == [a.id for a in cat.find({}, order_by="created_at")]


def test_reindex_gives_identical_results(any_store: ArtifactStore) -> None:
    s = any_store
    _fill(s)
    s.delete(s.put(b"gone", name="gone-words.txt", artifact_type="log").id)
    for i in range(20):
        s.put(f"{i}".encode(), name=f"run-{i % 3}.json", artifact_type="evaluation_result", model_id=f"m{i % 4}", tags=[f"t{i % 2}"],
              metadata={"step": i, "words": "some words"})
    before = {q: [a.id for a in s.search(q, limit=None)] for q in QUERIES}
    assert s.reindex() == 23
    after = {q: [a.id for a in s.search(q, limit=None)] for q in QUERIES}
    assert before == after
    assert not any("gone" in s.get_artifact(i).name for ids in after.values() for i in ids)


def test_rebuild_stores_the_index_oldest_first(tmp_path: Path, catalog_url: str) -> None:
    """Reindex writes the index rows in created_at order whatever order the manifests came in
    (ids here are not in created_at order), as a catalog that grew has them."""
    with artifactstore.open(tmp_path / "store", catalog=catalog_url) as s:
        cat = sql_catalog(s)
        _many(cat, 300)
        arts = cat.find({}, order_by="id")
        assert arts != cat.find({}, order_by="created_at")
        expected = [a.id for a in cat.search(parse_query("eighth"), {}, limit=None)]
        assert cat.rebuild(lambda _pending: CatalogContents(artifacts=arts)) == 300
        assert _stored_oldest_first(cat)
        assert [a.id for a in cat.search(parse_query("eighth"), {}, limit=None)] == expected


def test_migration_from_v3_builds_the_index(tmp_path: Path, catalog_url: str) -> None:
    with artifactstore.open(tmp_path / "store", catalog=catalog_url) as s:
        ids = _fill(s)
        expected = {q: [a.id for a in s.search(q, limit=None)] for q in QUERIES}
        # Make it a v3 catalog: the v3 schema is v4 without the search tables.
        cat = sql_catalog(s)
        with cat.engine.begin() as conn:
            if cat.dialect == "sqlite":
                conn.execute(sa.text("DROP TABLE search_fts"))
            conn.execute(sa.text("DROP TABLE search_docs"))
            conn.execute(sa.text("UPDATE as_meta SET value = '3' WHERE key = 'schema_version'"))
    with artifactstore.open(tmp_path / "store", catalog=catalog_url) as s:
        cat = sql_catalog(s)
        assert cat.schema_version_found == 3
        with cat.engine.connect() as conn:
            v = conn.execute(sa.text("SELECT value FROM as_meta WHERE key = 'schema_version'")).scalar()
            assert v == str(SCHEMA_VERSION) and SCHEMA_VERSION >= 4  # v3 -> 4 (search), then later ones
        assert {q: [a.id for a in s.search(q, limit=None)] for q in QUERIES} == expected
        assert s.search("resnet50")[0].id == ids["name_hit"]


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_queries(any_store: ArtifactStore, text: str) -> None:
    _fill(any_store)
    try:
        out = any_store.search(text)
    except InvalidQueryError:
        return
    assert isinstance(out, list)


def test_empty_queries_are_typed_errors(store: ArtifactStore) -> None:
    for text in ["", "   ", '"', "-word", "***", "-\"a b\"", "x" * 20_000, " ".join(f"w{i}" for i in range(100))]:
        with pytest.raises(InvalidQueryError):
            store.search(text)
    with pytest.raises(InvalidInputError):
        store.search(123)  # type: ignore[arg-type]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(max_size=60))
def test_any_text_never_breaks_the_engine_sqlite(store: ArtifactStore, text: str) -> None:
    if not hasattr(store, "_filled"):
        _fill(store)
        store._filled = True  # type: ignore[attr-defined]
    try:
        parse_query(text)
    except InvalidQueryError:
        with pytest.raises(InvalidQueryError):
            store.search(text)
        return
    assert isinstance(store.search(text), list)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(alphabet=st.sampled_from('ab "*-():&|!\'<>\\.%_^é\x00'), max_size=30))
def test_syntax_soup_never_breaks_postgresql(tmp_path: Path, pg_catalog_url: str, text: str) -> None:
    global _PG_STORE
    if _PG_STORE is None or _PG_STORE[0] != pg_catalog_url:
        _PG_STORE = (pg_catalog_url, artifactstore.open(tmp_path / "pgstore", catalog=pg_catalog_url))
        _fill(_PG_STORE[1])
    try:
        assert isinstance(_PG_STORE[1].search(text), list)
    except InvalidQueryError:
        pass


_PG_STORE: tuple[str, ArtifactStore] | None = None


def test_cli_search_table_and_json(tmp_path: Path) -> None:
    root = tmp_path / "store"
    with artifactstore.open(root) as s:
        ids = _fill(s)
    runner = CliRunner()
    res = runner.invoke(cli, ["--store", str(root), "search", "words", "--model", "vit_small"], prog_name="artifactstore")
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    assert lines[0].split() == ["ID", "REF", "TYPE", "MODEL", "SIZE", "CREATED"]
    assert len(lines) == 3 and {"episode-7.csv", "vit-small.log"} == {ln.split()[1].split("@")[0] for ln in lines[1:]}
    res = runner.invoke(cli, ["--store", str(root), "search", "resn*", "--json"], prog_name="artifactstore")
    assert res.exit_code == 0
    assert [a["id"] for a in json.loads(res.stdout)] == [ids["name_hit"], ids["meta_hit"]]
    res = runner.invoke(cli, ["--store", str(root), "search", "--type", "log", "--limit", "1", "words"])
    assert res.exit_code == 0 and "vit-small.log" in res.stdout
    res = runner.invoke(cli, ["--store", str(root), "search", "zzz"])
    assert res.exit_code == 0 and res.stdout == "" and "no artifacts match" in res.stderr
    res = runner.invoke(cli, ["--store", str(root), "search", '"'])
    assert res.exit_code == 1 and "invalid search query" in res.stderr


def _tokens_reference(text: str) -> list[str]:
    # the definition, without the ASCII fast path
    import unicodedata

    folded = unicodedata.normalize("NFKD", text.casefold())
    folded = "".join(ch for ch in folded if not unicodedata.combining(ch))
    return [t[:100] for t in re.findall(r"[^\W_]+", folded)]


@pytest.mark.parametrize("text", [
    "", "ResNet50_v2-final.JSON", "a" * 150 + " b", "ÉCOLE école Straße ﬁnal", "mixed ascii and ünïcödé",
    "\x00\x7f tabs\tand\nnewlines", "İstanbul ǅ ﬀ", "٣٤ digits ²³",
])
def test_tokens_fast_path_matches_the_definition(text: str) -> None:
    from artifactstore.catalog.search import tokens

    assert tokens(text) == _tokens_reference(text)


def test_tokens_of_every_ascii_character_match_the_definition() -> None:
    from artifactstore.catalog.search import tokens

    every = "".join(chr(i) for i in range(128))
    for i in range(0, 128, 7):
        text = every[i:] + every[:i]
        assert tokens(text) == _tokens_reference(text)


def _many(cat: SQLCatalog, n: int) -> None:
    """``n`` artifacts (three to a created_at, so ties are broken by id) with words of known
    frequencies: ``every`` in all, ``eighth`` in 1 of 8, ``rare`` in 1 of 300; the phrase ``alpha
    beta`` in 1 of 10, its words apart (``alpha x beta``) in 1 of 10 more, and ``tail`` ending the
    name where ``head`` starts the type (a phrase across two columns)."""
    rows: list[dict[str, Any]] = []
    for i in range(n):
        note = ["every", "alpha beta" if i % 10 == 0 else "alpha x beta" if i % 10 == 1 else "gamma"]
        if i % 8 == 0:
            note.append("eighth")
        if i % 300 == 7:
            note.append("rare")
        rows.append({
            "id": f"{i * 7919 % 100_003:08x}-0000-0000-0000-{i:012x}", "name": f"run{i % 4}/n-{i}-tail.json",
            "artifact_type": "head" if i % 2 else "log", "sha256": f"{i:064x}", "size": 1, "stored_size": 1,
            "codec": "none", "blob_key": "blobs/x", "created_at": 1.7e9 + i // 3, "model_id": f"m{i % 5}",
            "evaluation_id": None, "suite_name": None, "map_name": None, "episode_id": None,
            "tags": [f"t{i % 3}"], "metadata": {"note": " ".join(note), "i": i},
        })
    for i in range(0, n, 1000):
        cat.insert_artifacts(rows[i : i + 1000])


PATH_QUERIES: list[tuple[str, dict[str, Any]]] = [
    ("every", {}), ("eighth", {}), ("rare", {}), ("eighth", {"model_id": "m3"}), ("every", {"tags": ["t1"]}),
    ('"alpha beta"', {}), ('"alpha be"*', {}), ("alpha beta", {}), ('"alpha beta" eighth', {}), ("eigh*", {}),
    ("every -eighth", {}), ('every -"alpha beta"', {"artifact_type": "head"}), ('"tail head"', {}),
    ("run1 every", {"created_after": 1.7e9 + 200}),
]


def _ran(cat: SQLCatalog, text: str) -> set[str]:
    """The parts of a PostgreSQL search's plan that read search_docs rows (EXPLAIN ANALYZE)."""
    sel = search.search_select("postgresql", parse_query(text), S.artifacts, [], {}, limit=50)
    comp = sel.compile(cat.engine)
    with cat.engine.connect() as conn:
        lines = [r[0] for r in conn.exec_driver_sql("EXPLAIN ANALYZE " + str(comp), comp.params)]
    ran, cte = set(), ""
    for line in lines:
        if line.lstrip().startswith("CTE "):
            cte = line.split()[1]
        elif any(f"{scan} on search_docs" in line for scan in ("Index Scan Backward using ix_search_docs_created",
                 "Bitmap Heap Scan", "Seq Scan")) and "never executed" not in line:
            ran.add(cte)
    return ran


def test_newest_candidates_the_same_on_every_path(tmp_path: Path, catalog_url: str,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A search ranks the newest CANDIDATES matches, whichever way the engine finds them (on
    PostgreSQL, the walk in created_at order (a frequent query: all of it, or a sample then more)
    and the GIN indexes (a rare query, or WALK_ROWS = 0) give the same results, the newest
    CANDIDATES of every match)."""
    with artifactstore.open(tmp_path / "store", catalog=catalog_url) as s:
        cat = sql_catalog(s)
        _many(cat, 3000)
        # "newest": by created_at then id on PostgreSQL, by insertion order on SQLite (its rowid)
        order: Any = (lambda a: (a.created_at, a.id)) if cat.dialect == "postgresql" else (lambda a: int(a.id[-12:], 16))
        monkeypatch.setattr(search, "CANDIDATES", 10**9)
        full = [cat.search(parse_query(q), f, limit=None) for q, f in PATH_QUERIES]
        monkeypatch.setattr(search, "CANDIDATES", 100)
        first: list[list[str]] = []
        # (WALK_ROWS, WALK_SAMPLE): only the walk; a sample then more of the walk for `eighth`;
        # the GIN indexes for `eighth` after a sample; only the GIN indexes
        for walk, sample in ((10**9, 10**9), (3000, 200), (400, 100), (0, 0)):
            monkeypatch.setattr(search, "WALK_ROWS", walk)
            monkeypatch.setattr(search, "WALK_SAMPLE", sample)
            for k, (q, f) in enumerate(PATH_QUERIES):
                got = [a.id for a in cat.search(parse_query(q), f, limit=None)]
                assert set(got) == {a.id for a in sorted(full[k], key=order, reverse=True)[:100]}, (walk, q, f)
                if walk == 10**9:
                    first.append(got)
                assert got == first[k], (walk, q, f)
                assert [a.id for a in cat.search(parse_query(q), f, limit=7, offset=5)] == got[5:12]
            if cat.dialect == "postgresql" and walk == 3000:  # which path ran
                assert _ran(cat, "every") == {"walk1"}
                assert _ran(cat, "eighth") == {"walk1", "walk2"}
                assert _ran(cat, "rare") == {"walk1", "every"}
        counts = {q: len(hits) for (q, f), hits in zip(PATH_QUERIES, full, strict=True) if not f}
        assert counts["every"] == 3000 and counts["eighth"] == 375 and counts["rare"] == 10
        assert counts['"alpha beta"'] == counts['"alpha be"*'] == 300 and counts["alpha beta"] == 600
        assert counts['"tail head"'] == 0  # a phrase matches within one column, on both engines
        assert counts['"alpha beta" eighth'] == 75 and counts["every -eighth"] == 2625


def test_migration_from_v6_builds_the_walk_and_pairs(tmp_path: Path, catalog_url: str) -> None:
    with artifactstore.open(tmp_path / "store", catalog=catalog_url) as s:
        _fill(s)
        cat = sql_catalog(s)
        _many(cat, 60)  # ids not in created_at order
        expected = {q: [a.id for a in s.search(q, limit=None)] for q in QUERIES}
        with cat.engine.begin() as conn:
            if cat.dialect == "postgresql":  # the v6 index: no created_at, no pairs
                conn.execute(sa.text("DROP TABLE search_pairs"))
                conn.execute(sa.text("ALTER TABLE search_docs DROP COLUMN created_at"))
            conn.execute(sa.text("UPDATE as_meta SET value = '6' WHERE key = 'schema_version'"))
    with artifactstore.open(tmp_path / "store", catalog=catalog_url) as s:
        cat = sql_catalog(s)
        assert cat.schema_version_found == 6 and SCHEMA_VERSION >= 7
        assert {q: [a.id for a in s.search(q, limit=None)] for q in QUERIES} == expected
        assert [a.name for a in s.search('"exact words"')] == ["resnet50-eval.json"]
        if cat.dialect == "postgresql":  # rebuilt (SQLite's index is unchanged by v7)
            assert _stored_oldest_first(cat)
        new = s.put(b"n", name="after-migration.txt", artifact_type="log", metadata={"note": "exact words again"})
        assert [a.id for a in s.search('"exact words" again')] == [new.id]


def test_postgresql_searches_are_planned_for_their_words(tmp_path: Path, pg_catalog_url: str,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """psycopg prepares a statement run five times; with PG_SEARCH_SETTINGS PostgreSQL still plans
    each search for its own words (a generic plan took 50-120 ms instead of 5-10 at 100k), here
    even in a session set to generic plans, and the settings end with the search's transaction."""
    with artifactstore.open(tmp_path / "store", catalog=pg_catalog_url) as s:
        cat = sql_catalog(s)
        _many(cat, 200)
        with cat.engine.connect() as conn:
            with conn.begin():
                conn.exec_driver_sql("SET plan_cache_mode = force_generic_plan")
                jit = conn.exec_driver_sql("SHOW jit").scalar()
            try:
                for text in ["every", "eighth", "rare"] * 4:
                    with conn.begin():
                        for stmt in search.PG_SEARCH_SETTINGS:
                            conn.exec_driver_sql(stmt)
                        sel = search.search_select("postgresql", parse_query(text), S.artifacts, [], {}, limit=50)
                        conn.execute(sel).fetchall()
                with conn.begin():
                    plans = conn.execute(sa.text(
                        "SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE statement LIKE :s"
                    ), {"s": "WITH walk1%"}).all()
                    assert plans and all(generic == 0 for generic, _ in plans) and sum(c for _, c in plans) >= 5
                    assert conn.exec_driver_sql("SHOW plan_cache_mode").scalar() == "force_generic_plan"
                    assert conn.exec_driver_sql("SHOW jit").scalar() == jit
            finally:
                with conn.begin():
                    conn.exec_driver_sql("RESET plan_cache_mode")
        monkeypatch.setattr(search, "PG_SEARCH_SETTINGS", ("SELECT 1 / 0",))  # the catalog's searches run them
        with pytest.raises(CatalogError, match="division by zero"):
            s.search("every")


def test_a_document_too_large_for_its_pairs_still_indexes_and_matches(any_store: ArtifactStore) -> None:
    """Thousands of long tags: more pairs than a PostgreSQL tsvector holds (1 MB). The artifact is
    stored and found, by words and by phrases (on PostgreSQL its phrases are then tested across
    its columns, as before v7)."""
    tags = [f"t{i} " + "x" * 94 + f"{i:06d}" for i in range(6000)]  # doc 0.7 MB, its pairs 1.3 MB
    big = any_store.put(b"big", name="many-tags.bin", artifact_type="log", tags=tags)
    small = any_store.put(b"small", name="few-tags.bin", artifact_type="log", tags=["t17 other"])
    assert [a.id for a in any_store.search('"t17 xxxx"*')] == [big.id]
    assert {a.id for a in any_store.search("t17")} == {big.id, small.id}
    assert [a.id for a in any_store.search('"t17 other"')] == [small.id]
