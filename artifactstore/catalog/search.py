"""Full-text search over the catalog: the query language, the indexed documents, and the
per-engine index (SQLite FTS5, PostgreSQL ``tsvector`` + GIN) behind one interface.

Both engines index the same pre-tokenised text: :func:`tokens` lowercases (casefold),
strips diacritics and splits on everything that is not a letter or digit, so a word
matches the same artifacts on SQLite and PostgreSQL. A document has four weighted
columns: ``name``; ``fields`` (type, model, evaluation, suite, map, episode, id,
sha256); ``tags``; ``meta`` (metadata flattened to ``key.sub value`` pairs).

User text never reaches an engine's query parser as typed: :func:`parse_query` turns
it into :class:`SearchQuery` terms made only of letters and digits, and
:func:`fts5_query` / :func:`tsquery` build the engine's syntax from those, quoted.
The engine string is passed as a bound parameter.

On PostgreSQL, ``search_docs`` also holds each artifact's ``created_at`` (the order of "newest")
and ``search_pairs`` its adjacent word pairs (:func:`word_pairs`), which a phrase looks up
(:func:`pairs_query`); :func:`search_select` describes the plan.

The index is kept in the same transaction as the catalog rows:
:func:`index_artifacts` after inserting artifacts, :func:`unindex` before deleting
them, :func:`clear` when reindex replaces everything. A change to an artifact's tags
or metadata must call ``unindex`` then ``index_artifacts`` for it in its transaction.
"""

from __future__ import annotations

import functools
import itertools
import re
import sqlite3
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from ..errors import CatalogError, InvalidInputError, InvalidQueryError
from ..models import Artifact
from . import dbapi

__all__ = [
    "CANDIDATES",
    "MAX_QUERY_CHARS",
    "MAX_TERMS",
    "PG_SEARCH_SETTINGS",
    "WALK_ROWS",
    "WALK_SAMPLE",
    "SearchQuery",
    "Term",
    "check_fts5",
    "clear",
    "create_index",
    "document",
    "document_of",
    "filter_terms",
    "fts5_query",
    "index_artifacts",
    "pairs_query",
    "parse_query",
    "rebuild_from_rows",
    "search_docs",
    "search_select",
    "tokens",
    "tsquery",
    "unindex",
    "word_pairs",
]

#: Longest query text accepted, and most terms in one query (both give InvalidQueryError).
MAX_QUERY_CHARS = 10_000
MAX_TERMS = 64
_MAX_TOKEN = 100  # longer runs are cut (PostgreSQL skips lexemes over 2 KB; keep both engines alike)
_MAX_META_CHARS = 64 << 10  # of flattened metadata text per artifact
_CHUNK = 500
# Runs of letters and digits: "_", "-", "." and the rest separate ("resnet50" is one word,
# found by "resnet50" or "resnet*").
_WORD = re.compile(r"[^\W_]+")

# Column weights: a name hit outranks a model/type/tag hit, which outranks a metadata hit.
_FTS_RANK = "bm25(search_fts, 10.0, 4.0, 4.0, 1.0)"

_table_meta = sa.MetaData()
#: One row per artifact: the four document columns (space-separated tokens). On SQLite,
#: ``doc_id`` is the FTS5 rowid (external content); on PostgreSQL a generated ``doc``
#: tsvector column carries the GIN index.
search_docs = sa.Table(
    "search_docs",
    _table_meta,
    sa.Column("artifact_id", sa.String(36), nullable=False, unique=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("fields", sa.Text, nullable=False),
    sa.Column("tags", sa.Text, nullable=False),
    sa.Column("meta", sa.Text, nullable=False),
)
_fts = sa.table("search_fts")
_INSERT_DOC = sa.insert(search_docs)
_INSERT_FTS = sa.text("INSERT INTO search_fts(rowid, name, fields, tags, meta) "
                      "SELECT doc_id, name, fields, tags, meta FROM search_docs WHERE artifact_id = :id")

_SQLITE_DDL = (
    "CREATE TABLE IF NOT EXISTS search_docs (doc_id INTEGER PRIMARY KEY, artifact_id VARCHAR(36) NOT NULL UNIQUE, "
    "name TEXT NOT NULL, fields TEXT NOT NULL, tags TEXT NOT NULL, meta TEXT NOT NULL)",
    "CREATE VIRTUAL TABLE IF NOT EXISTS search_fts USING fts5(name, fields, tags, meta, content='search_docs', "
    "content_rowid='doc_id', tokenize='unicode61 remove_diacritics 2', prefix='2 3')",
)
#: PostgreSQL (schema v7): besides the text and its ``doc`` tsvector, ``created_at`` (the artifact's,
#: copied from its row when indexed) with an ordered index, so that "the newest matches" walks
#: search_docs alone; and in ``search_pairs`` the document's adjacent word pairs (:func:`word_pairs`)
#: as lexemes, so that a phrase is looked up in a GIN index instead of rechecking the positions in
#: every document holding all its words (see :func:`search_select`). The pairs have a table of
#: their own: in search_docs they doubled the row the walk reads (0.4 -> 0.9 us a document).
_PG_DDL = (
    "CREATE TABLE IF NOT EXISTS search_docs (artifact_id VARCHAR(36) PRIMARY KEY, name TEXT NOT NULL, "
    "fields TEXT NOT NULL, tags TEXT NOT NULL, meta TEXT NOT NULL, created_at DOUBLE PRECISION NOT NULL, "
    "doc tsvector GENERATED ALWAYS AS ("
    "setweight(to_tsvector('simple', name), 'A') || setweight(to_tsvector('simple', fields), 'B') || "
    "setweight(to_tsvector('simple', tags), 'B') || setweight(to_tsvector('simple', meta), 'C')) STORED)",
    "CREATE INDEX IF NOT EXISTS ix_search_docs_doc ON search_docs USING GIN (doc)",
    "CREATE INDEX IF NOT EXISTS ix_search_docs_created ON search_docs (created_at, artifact_id)",
    "CREATE TABLE IF NOT EXISTS search_pairs (artifact_id VARCHAR(36) PRIMARY KEY, pairs tsvector NOT NULL)",
    "CREATE INDEX IF NOT EXISTS ix_search_pairs ON search_pairs USING GIN (pairs)",
)
_pg_meta = sa.MetaData()
#: The PostgreSQL tables as written (the generated ``doc`` never is) and as searched.
_pg_docs_write = sa.Table(
    "search_docs",
    _pg_meta,
    sa.Column("artifact_id", sa.String(36), primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("fields", sa.Text, nullable=False),
    sa.Column("tags", sa.Text, nullable=False),
    sa.Column("meta", sa.Text, nullable=False),
    sa.Column("created_at", sa.Float(precision=53), nullable=False),
)
_pg_docs = sa.Table(
    "search_docs",
    sa.MetaData(),
    sa.Column("artifact_id", sa.String(36), primary_key=True),
    sa.Column("created_at", sa.Float(precision=53), nullable=False),
    sa.Column("doc", postgresql.TSVECTOR),
)
_pg_pairs = sa.Table(
    "search_pairs",
    _pg_meta,
    sa.Column("artifact_id", sa.String(36), primary_key=True),
    sa.Column("pairs", postgresql.TSVECTOR, nullable=False),
)


# --- text -> tokens ----------------------------------------------------------------------

def tokens(text: str) -> list[str]:
    """The index's tokens of ``text``: casefolded, diacritics removed, split on non-alphanumerics."""
    if text.isascii():  # the common case, the same result: NFKD and casefold of ASCII are lower()
        folded = text.lower()
    else:
        folded = unicodedata.normalize("NFKD", text.casefold())
        folded = "".join(ch for ch in folded if not unicodedata.combining(ch))
    return [t[:_MAX_TOKEN] for t in _WORD.findall(folded)]


def _flatten(prefix: str, value: Any, out: list[str], key: bool = True) -> None:
    # "key.sub value" pairs; a list gives its key once, then its values
    if isinstance(value, Mapping):
        for k, v in value.items():
            _flatten(f"{prefix}.{k}" if prefix else str(k), v, out)
    elif isinstance(value, (list, tuple)):
        if prefix and key:
            out.append(prefix)
        for v in value:
            _flatten(prefix, v, out, key=False)
    else:
        if prefix and key:
            out.append(prefix)
        if value is not None:
            out.append("true" if value is True else "false" if value is False else str(value))


def document(
    *, artifact_id: str, name: str, artifact_type: str, sha256: str, model_id: str | None = None,
    evaluation_id: str | None = None, suite_name: str | None = None, map_name: str | None = None,
    episode_id: str | None = None, tags: Iterable[str] = (), metadata: Mapping[str, Any] | None = None,
) -> dict[str, str]:
    """The ``search_docs`` row of one artifact (its indexed text, tokenised)."""
    fields = [artifact_type, model_id, evaluation_id, suite_name, map_name, episode_id]
    hexes = tokens(f"{artifact_id} {sha256}")
    meta: list[str] = []
    _flatten("", dict(metadata or {}), meta)
    meta_text = " ".join(meta)[:_MAX_META_CHARS]
    return {
        "artifact_id": artifact_id,
        "name": " ".join(tokens(name)),
        "fields": " ".join([t for f in fields if f for t in tokens(f)] + hexes),
        "tags": " ".join(t for tag in tags for t in tokens(tag)),
        "meta": " ".join(tokens(meta_text)),
    }


def document_of(a: Artifact) -> dict[str, str]:
    """:func:`document` of an :class:`~artifactstore.models.Artifact`."""
    return document(
        artifact_id=a.id, name=a.name, artifact_type=a.artifact_type, sha256=a.sha256, model_id=a.model_id,
        evaluation_id=a.evaluation_id, suite_name=a.suite_name, map_name=a.map_name, episode_id=a.episode_id,
        tags=a.tags, metadata=a.metadata,
    )


_PAIR = "/"  # joins the two words of a pair lexeme; never inside a token (letters and digits only)
_DOC_COLUMNS = ("name", "fields", "tags", "meta")
# A tsvector holds at most 1 MB; the pairs of a document past this size (thousands of long tags)
# are replaced by _ANY_PAIR, which every pairs query accepts (the phrase is then tested by `doc`
# alone, across its columns as before v7).
_MAX_PAIRS_BYTES = 256 << 10
_ANY_PAIR = _PAIR


def word_pairs(doc: Mapping[str, str]) -> list[str]:
    """The adjacent word pairs of a :func:`document` row, within each column, as ``"word/next"``
    (each once): PostgreSQL's ``pairs`` lexemes. A phrase can only match a document holding
    each of its pairs, so :func:`pairs_query` narrows a phrase search through their GIN index."""
    out: dict[str, None] = {}
    for column in _DOC_COLUMNS:
        toks = doc[column].split()
        out.update((a + _PAIR + b, None) for a, b in itertools.pairwise(toks))
    if sum(len(p.encode()) + 6 for p in out) > _MAX_PAIRS_BYTES:
        return [_ANY_PAIR]
    return list(out)


# --- the query language ------------------------------------------------------------------

@dataclass(frozen=True)
class Term:
    """One query term: consecutive ``tokens`` (a phrase when more than one), its last token
    a prefix when ``prefix``, and excluded from results when ``negated``."""

    tokens: tuple[str, ...]
    prefix: bool = False
    negated: bool = False


@dataclass(frozen=True)
class SearchQuery:
    """A parsed search: every positive term must match, no negated term may."""

    text: str
    terms: tuple[Term, ...]

    @property
    def positive(self) -> tuple[Term, ...]:
        return tuple(t for t in self.terms if not t.negated)

    @property
    def negative(self) -> tuple[Term, ...]:
        return tuple(t for t in self.terms if t.negated)


_RAW_TERM = re.compile(r'(-?)"([^"]*)("?)(\*?)|(\S+)')


def parse_query(text: str) -> SearchQuery:
    """Parse user search text into terms; never fails on any string but an empty query.

    Syntax: words (all must match, in any field), ``"exact words"`` (a phrase),
    ``resnet*`` (prefix), ``-word`` or ``-"some words"`` (exclude). A word containing
    punctuation (``resnet-50``, ``config.lr``) is the phrase of its parts. Anything that
    is not a letter or digit is a separator, so engine syntax in the text (``NEAR(``,
    ``AND``, ``'; --``, ``:*``) is only ever words. Raises :class:`InvalidQueryError`
    when nothing is left to match, and for text over :data:`MAX_QUERY_CHARS` or over
    :data:`MAX_TERMS` terms.
    """
    if not isinstance(text, str):
        raise InvalidInputError(f"search text must be a string, not {type(text).__name__}")
    if len(text) > MAX_QUERY_CHARS:
        raise InvalidQueryError(text, f"longer than {MAX_QUERY_CHARS} characters")
    terms: list[Term] = []
    for m in _RAW_TERM.finditer(text):
        if m.group(5) is not None:  # a bare word
            word = m.group(5)
            negated = word.startswith("-") and len(word) > 1
            if negated:
                word = word[1:]
            prefix = word.endswith("*")
            toks = tokens(word)
        else:  # a quoted phrase (an unclosed quote runs to the end)
            negated = m.group(1) == "-"
            prefix = m.group(4) == "*"
            toks = tokens(m.group(2))
        if toks:
            terms.append(Term(tuple(toks), prefix, negated))
    terms = list(dict.fromkeys(terms))
    if len(terms) > MAX_TERMS:
        raise InvalidQueryError(text, f"more than {MAX_TERMS} terms")
    if not terms:
        raise InvalidQueryError(text, "no words to search for")
    if not any(not t.negated for t in terms):
        raise InvalidQueryError(text, "only excluded terms; add a word to search for")
    return SearchQuery(text, tuple(terms))


#: Filters on these columns imply words in the document's ``fields`` column (see :func:`document`).
_FIELD_FILTERS = ("artifact_type", "model_id", "evaluation_id", "suite_name", "map_name", "episode_id", "sha256")


def filter_terms(filters: Mapping[str, Any]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """``(column, tokens)`` phrases that every artifact passing these filters has in its document.

    An equality filter ``model_id="vit50_v2"`` means the document's ``fields`` column holds the
    phrase ``vit50 v2``; a name filter, the ``name`` column the name's tokens; a tag that every
    result must carry, the ``tags`` column its tokens. Added to the full-text query they let the
    engine intersect posting lists instead of joining every match of a common word to its row
    to test the filter (a word in a third of 100k artifacts with a 1-in-40 model filter: 100 ms
    -> 25 ms on SQLite). They are a superset test only: the exact SQL filters still apply.
    Lists (``IN`` filters) and tags in ``any`` mode with several tags add nothing.
    """
    out: list[tuple[str, tuple[str, ...]]] = []

    def add(column: str, value: Any) -> None:
        if isinstance(value, str):
            toks = tuple(tokens(value))
            if toks:
                out.append((column, toks))

    for key in _FIELD_FILTERS:
        add("fields", filters.get(key))
    add("name", filters.get("name"))
    tags = filters.get("tags")
    if isinstance(tags, str):
        add("tags", tags)
    elif isinstance(tags, (list, tuple)) and (len(tags) == 1 or filters.get("tags_mode") == "all"):
        for tag in tags:
            add("tags", tag)
    return tuple(dict.fromkeys(out))


def _fts5_term(t: Term) -> str:
    # tokens hold only letters and digits; doubling quotes is belt and braces
    phrase = '"' + " ".join(tok.replace('"', '""') for tok in t.tokens) + '"'
    return phrase + " *" if t.prefix else phrase


def fts5_query(q: SearchQuery, narrow: Sequence[tuple[str, tuple[str, ...]]] = ()) -> str:
    """The FTS5 MATCH expression of ``q`` (every token quoted), and of each ``narrow``
    phrase (:func:`filter_terms`) in its column."""
    parts = [_fts5_term(t) for t in q.positive]
    parts += [f"{column} : " + _fts5_term(Term(toks)) for column, toks in narrow]
    out = " AND ".join(parts)
    if len(parts) > 1:
        out = f"({out})"
    for t in q.negative:
        out += " NOT " + _fts5_term(t)
    return out


def _ts_term(t: Term) -> str:
    parts = ["'" + tok.replace("'", "''") + "'" for tok in t.tokens]
    if t.prefix:
        parts[-1] += ":*"
    return "(" + " <-> ".join(parts) + ")"


#: PostgreSQL weights of the document columns (the generated ``doc`` column).
_PG_WEIGHT = {"name": "A", "fields": "B", "tags": "B", "meta": "C"}


def tsquery(q: SearchQuery, narrow: Sequence[tuple[str, tuple[str, ...]]] = ()) -> str:
    """The ``to_tsquery('simple', ...)`` text of ``q`` (every lexeme quoted), and of each
    ``narrow`` phrase restricted to its column's weight."""
    parts = [_ts_term(t) for t in q.positive]
    for column, toks in narrow:
        w = _PG_WEIGHT[column]
        parts.append("(" + " <-> ".join("'" + tok.replace("'", "''") + f"':{w}" for tok in toks) + ")")
    out = " & ".join(parts)
    for t in q.negative:
        out += " & !" + _ts_term(t)
    return out


def pairs_query(q: SearchQuery) -> str | None:
    """The ``tsquery`` text (literal lexemes: cast, not parsed) over ``pairs`` that every document
    matching ``q`` holds: each positive phrase's adjacent pairs (the last a prefix when the phrase
    is); ``None`` when the query has no phrase. (Not the filters' phrases of :func:`filter_terms`:
    their SQL filters decide, so their pairs would only cost a lookup.)"""
    parts: list[str] = []
    for t in q.positive:
        toks = t.tokens
        for i in range(len(toks) - 1):
            lexeme = "'" + (toks[i] + _PAIR + toks[i + 1]).replace("'", "''") + "'"
            parts.append(lexeme + (":*" if t.prefix and i == len(toks) - 2 else ""))
    if not parts:
        return None
    return "(" + " & ".join(dict.fromkeys(parts)) + f") | '{_ANY_PAIR}'"


# --- the index ---------------------------------------------------------------------------

@functools.lru_cache(maxsize=1)
def _fts5_error() -> str | None:
    try:
        con = sqlite3.connect(":memory:")
        try:
            con.execute("CREATE VIRTUAL TABLE probe USING fts5(x, tokenize='unicode61 remove_diacritics 2')")
        finally:
            con.close()
    except sqlite3.Error as exc:
        return str(exc)
    return None


def check_fts5() -> None:
    """Raise :class:`CatalogError` when this Python's sqlite3 module lacks FTS5."""
    err = _fts5_error()
    if err is not None:
        raise CatalogError(
            f"this Python's sqlite3 module (SQLite {sqlite3.sqlite_version}) has no usable FTS5 ({err}); "
            "the catalog's search index needs it: use a Python built with FTS5 (python.org and distribution "
            "builds are) or a PostgreSQL catalog"
        )


def create_index(conn: sa.Connection) -> None:
    """Create the search tables and index (idempotent)."""
    if conn.dialect.name == "sqlite":
        check_fts5()
    for stmt in _SQLITE_DDL if conn.dialect.name == "sqlite" else _PG_DDL:
        conn.execute(sa.text(stmt))


def index_artifacts(conn: sa.Connection, docs: Sequence[Mapping[str, str]]) -> None:
    """Add these :func:`document` rows to the index (artifacts not indexed yet, whose
    ``artifacts`` rows are there: PostgreSQL copies their ``created_at``)."""
    if not docs:
        return
    if conn.dialect.name == "postgresql":
        from . import schema as S

        # created_at from the artifact's own row (inserted first), so that the copy sorts exactly as
        # artifacts.created_at does
        a = S.artifacts
        conn.execute(
            sa.insert(_pg_docs_write).values(
                created_at=sa.select(a.c.created_at).where(a.c.id == sa.bindparam("aid")).scalar_subquery()),
            [{**d, "aid": d["artifact_id"]} for d in docs],
        )
        conn.execute(
            sa.insert(_pg_pairs).values(
                pairs=sa.func.array_to_tsvector(sa.bindparam("pair_list", type_=postgresql.ARRAY(sa.Text)))),
            [{"artifact_id": d["artifact_id"], "pair_list": word_pairs(d)} for d in docs],
        )
        return
    dbapi.run_many(conn, _INSERT_DOC, [dict(d) for d in docs])
    if conn.dialect.name == "sqlite":
        dbapi.run_many(conn, _INSERT_FTS, [{"id": d["artifact_id"]} for d in docs])


def unindex(conn: sa.Connection, artifact_ids: Sequence[str]) -> None:
    """Remove these artifacts from the index."""
    for i in range(0, len(artifact_ids), _CHUNK):
        chunk = list(artifact_ids[i : i + _CHUNK])
        if conn.dialect.name == "sqlite":
            # external content: FTS5 removes a row given the exact values it indexed
            conn.execute(
                sa.text(
                    "INSERT INTO search_fts(search_fts, rowid, name, fields, tags, meta) "
                    "SELECT 'delete', doc_id, name, fields, tags, meta FROM search_docs WHERE artifact_id IN :ids"
                ).bindparams(sa.bindparam("ids", expanding=True)),
                {"ids": chunk},
            )
        conn.execute(sa.delete(search_docs).where(search_docs.c.artifact_id.in_(chunk)))
        if conn.dialect.name == "postgresql":
            conn.execute(sa.delete(_pg_pairs).where(_pg_pairs.c.artifact_id.in_(chunk)))


def clear(conn: sa.Connection) -> None:
    """Empty the index (reindex refills it with :func:`index_artifacts`)."""
    if conn.dialect.name == "sqlite":
        conn.execute(sa.text("INSERT INTO search_fts(search_fts) VALUES ('delete-all')"))
    if conn.dialect.name == "postgresql":
        conn.execute(sa.delete(_pg_pairs))
    conn.execute(sa.delete(search_docs))


def rebuild_from_rows(conn: sa.Connection, batch: int = 2000) -> int:
    """Fill an empty index from the catalog's ``artifacts`` and ``tags`` rows (the v3 -> v4 and
    v6 -> v7 migrations), oldest first (the order a search walks them, as in a catalog that grew);
    return the number of artifacts indexed."""
    import json

    from . import schema as S

    a, t = S.artifacts.c, S.tags.c
    n, after = 0, None
    while True:
        sel = sa.select(a.id, a.name, a.artifact_type, a.sha256, a.model_id, a.evaluation_id, a.suite_name,
                        a.map_name, a.episode_id, a.metadata, a.created_at)
        if after is not None:
            sel = sel.where(a.created_at >= after[0], sa.or_(a.created_at > after[0], a.id > after[1]))
        rows = list(conn.execute(sel.order_by(a.created_at, a.id).limit(batch)).mappings())
        if not rows:
            return n
        ids = [r["id"] for r in rows]
        tag_map: dict[str, list[str]] = {}
        for i in range(0, len(ids), _CHUNK):
            for aid, tag in conn.execute(sa.select(t.artifact_id, t.tag).where(t.artifact_id.in_(ids[i:i + _CHUNK]))):
                tag_map.setdefault(aid, []).append(tag)
        index_artifacts(conn, [
            document(artifact_id=r["id"], name=r["name"], artifact_type=r["artifact_type"], sha256=r["sha256"],
                     model_id=r["model_id"], evaluation_id=r["evaluation_id"], suite_name=r["suite_name"],
                     map_name=r["map_name"], episode_id=r["episode_id"], tags=sorted(tag_map.get(r["id"], ())),
                     metadata=json.loads(r["metadata"] or "{}"))
            for r in rows
        ])
        n += len(rows)
        after = (rows[-1]["created_at"], ids[-1])


#: A search ranks at most this many matches: the newest ones (by index order on SQLite, which
#: is insertion order; by created_at on PostgreSQL). Ranking every match of a word that half
#: the catalog holds cost 0.5-1 s at 100k artifacts; below this many matches ranking is exact.
CANDIDATES = 1000
#: PostgreSQL: a search tests the newest WALK_SAMPLE documents one by one; when at least
#: CANDIDATES * WALK_SAMPLE / WALK_ROWS of them match (the query will have its CANDIDATES
#: within about WALK_ROWS documents) it goes on up to WALK_ROWS, and when the walk did not
#: find CANDIDATES it asks the GIN indexes for every match instead (see :func:`search_select`).
#: The walk costs about 0.4 us a document, a GIN match about 1 us: at 100k artifacts the
#: slowest case (a query in 5% of the documents) is a 20k-document walk or 1k + 5k matches.
WALK_ROWS = 20_000
WALK_SAMPLE = 1_000


#: Run before a search on PostgreSQL, in its transaction (one round trip; ``set_config(..., true)``
#: is ``SET LOCAL``). ``plan_cache_mode``: psycopg prepares a statement run five times, and
#: PostgreSQL then may plan it once for any parameters (a generic plan), blind to the query's
#: word frequencies: at 100k artifacts 2-10 ms searches took 50-120 ms that way. ``jit``: the
#: plan's estimated cost counts the materialized parts that do not run (the GIN part of a
#: frequent query), and past ``jit_above_cost`` (from about 300k artifacts) compiling it added
#: 20 ms to a 3 ms search.
PG_SEARCH_SETTINGS = (
    "SELECT set_config('plan_cache_mode', 'force_custom_plan', true), set_config('jit', 'off', true)",
)


def _n(n: int) -> sa.ColumnElement[int]:
    # a constant written into the SQL: a prepared statement's generic plan still knows the limits
    return sa.literal_column(str(int(n)), sa.Integer)


def search_select(
    dialect: str, q: SearchQuery, artifacts: sa.Table, where: Sequence[sa.ColumnElement[bool]],
    filters: Mapping[str, Any] | None = None, *, limit: int | None = None, offset: int = 0,
) -> sa.Select[Any]:
    """SELECT of the ``artifacts`` rows matching ``q`` and ``where``, best first, then newest
    (ranked among the newest :data:`CANDIDATES` matches), the page ``limit``/``offset`` of them.
    ``filters`` (the mapping ``where`` was built from) narrows the full-text match first
    (:func:`filter_terms`); on PostgreSQL the rank is of ``q`` alone; on SQLite (bm25 is of the
    query that matched) the filter's words count in it too, which shifts ranks little since
    every result has them.

    On PostgreSQL the newest CANDIDATES matches (by ``created_at``, then id) are found one of two
    ways, with the same result: a frequent query walks search_docs in created_at order testing
    each document (``doc @@ q``, the phrases' pairs, the filters), a rare one (the walk of
    :data:`WALK_SAMPLE`, then up to :data:`WALK_ROWS`, did not fill) takes every match from the
    GIN indexes and keeps the newest. Only those candidates are ranked (``ts_rank``), and only
    the page's artifact rows are read. Run it after :data:`PG_SEARCH_SETTINGS`."""
    narrow = filter_terms(filters or {})
    if dialect == "sqlite":
        rowid: sa.ColumnElement[Any] = sa.literal_column("search_fts.rowid")
        inner = (
            sa.select(rowid.label("doc_id"), sa.literal_column(_FTS_RANK).label("rank"))
            .select_from(_fts)
            .join(search_docs, sa.literal_column("search_docs.doc_id") == rowid)
            .join(artifacts, artifacts.c.id == search_docs.c.artifact_id)
            .where(sa.text("search_fts MATCH :fts_q").bindparams(fts_q=fts5_query(q, narrow)), *where)
            .order_by(rowid.desc())
            .limit(CANDIDATES)
            .subquery("hits")
        )
        d = search_docs.alias("d")
        return (
            sa.select(artifacts)
            .select_from(inner)
            .join(d, sa.literal_column("d.doc_id") == inner.c.doc_id)
            .join(artifacts, artifacts.c.id == d.c.artifact_id)
            .order_by(inner.c.rank, artifacts.c.created_at.desc(), artifacts.c.id.desc())
            .limit(limit).offset(offset or None)
        )
    pq = pairs_query(q)
    values = {"ts_q": tsquery(q)}
    if narrow:
        values["ts_narrow"] = tsquery(q, narrow)
    if pq is not None:
        values["pairs_q"] = pq
    shape = (artifacts, bool(narrow), pq is not None, limit, offset, CANDIDATES, WALK_ROWS, WALK_SAMPLE)
    # the statement of a search without filters is built once per shape (1.5 ms of Python a search)
    sel = _pg_search(*shape, tuple(where)) if where else _pg_search_shape(*shape)
    return sel.params(values)


def _pg_search(
    artifacts: sa.Table, narrowed: bool, phrases: bool, limit: int | None, offset: int, candidates: int,
    walk_rows: int, walk_sample: int, where: tuple[sa.ColumnElement[bool], ...] = (),
) -> sa.Select[Any]:
    """:func:`search_select` on PostgreSQL, its parameters ``ts_q`` (the query's tsquery text),
    ``ts_narrow`` (with the filters' words) when ``narrowed`` and ``pairs_q`` when ``phrases``
    (:func:`pairs_query`) left to bind."""
    def ts(key: str) -> sa.ColumnElement[Any]:
        return sa.func.to_tsquery(sa.literal_column("'simple'::regconfig"), sa.bindparam(key, type_=sa.String))

    tsq = ts("ts_q")
    narrow_q = ts("ts_narrow") if narrowed else tsq
    pairs_q = sa.cast(sa.bindparam("pairs_q", type_=sa.String), postgresql.TSQUERY) if phrases else None

    def matches(d: sa.FromClause) -> list[sa.ColumnElement[bool]]:
        conds: list[sa.ColumnElement[bool]] = [d.c.doc.bool_op("@@")(narrow_q)]
        if pairs_q is not None:  # the phrases' pairs (a phrase within one column, as on SQLite)
            p = _pg_pairs
            conds.append(sa.exists().where(p.c.artifact_id == d.c.artifact_id, p.c.pairs.bool_op("@@")(pairs_q)))
        if where:
            conds.append(sa.exists().where(artifacts.c.id == d.c.artifact_id, *where))
        return conds

    def newest(d: sa.FromClause) -> tuple[sa.ColumnElement[Any], ...]:
        return d.c.created_at.desc(), d.c.artifact_id.desc()

    sd = _pg_docs
    n = _n(candidates)
    # 1. the walk: the newest documents in created_at order, tested one by one until CANDIDATES
    #    match. First the newest WALK_SAMPLE; only when at least CANDIDATES * WALK_SAMPLE / WALK_ROWS
    #    of them matched (the query would fill up within WALK_ROWS) the next ones up to WALK_ROWS.
    #    The LIMITs on the inner scans keep the planner from turning them into GIN scans.
    def window(name: str, skip: int, rows: int, *cond: sa.ColumnElement[bool],
               need: sa.ColumnElement[Any] = n) -> sa.CTE:
        recent = sa.select(sd.c.artifact_id, sd.c.created_at, sd.c.doc).order_by(*newest(sd)) \
            .offset(_n(skip) if skip else None).limit(_n(rows)).subquery(f"{name}_rows")
        return (
            sa.select(recent.c.artifact_id, recent.c.created_at, recent.c.doc)
            .where(*cond, *matches(recent)).order_by(*newest(recent)).limit(need)
            .cte(name).prefix_with("MATERIALIZED")
        )

    def count(cte: sa.CTE) -> sa.ScalarSelect[int]:
        return sa.select(sa.func.count()).select_from(cte).scalar_subquery()

    sample = min(walk_sample, walk_rows)
    first = window("walk1", 0, sample)
    found = count(first)
    more = window("walk2", sample, walk_rows - sample, found < n, found * _n(walk_rows) >= _n(candidates * sample),
                  need=n - found)
    walked = found + count(more)
    # 2. when the walk found fewer (a rare query): every match through the GIN indexes, newest first
    every = (
        sa.select(sd.c.artifact_id, sd.c.created_at).where(*matches(sd), walked < n)
        .cte("every").prefix_with("MATERIALIZED")
    )
    top = sa.select(every).order_by(*newest(every)).limit(n).subquery("top")
    d2 = sd.alias("d2")
    cand = sa.union_all(
        *[sa.select(w.c.artifact_id, w.c.created_at, sa.func.ts_rank(w.c.doc, tsq).label("rank")).where(walked >= n)
          for w in (first, more)],
        sa.select(top.c.artifact_id, top.c.created_at, sa.func.ts_rank(d2.c.doc, tsq).label("rank"))
        .select_from(top).join(d2, d2.c.artifact_id == top.c.artifact_id),
    ).subquery("cand")
    # 3. rank the candidates, then read only the page's artifact rows
    page = sa.select(cand).order_by(cand.c.rank.desc(), *newest(cand))
    if limit is not None:
        page = page.limit(limit)
    if offset:
        page = page.offset(offset)
    hits = page.cte("hits").prefix_with("MATERIALIZED")
    return (
        sa.select(artifacts).join(hits, artifacts.c.id == hits.c.artifact_id)
        .order_by(hits.c.rank.desc(), *newest(hits))
    )


_pg_search_shape = functools.lru_cache(maxsize=256)(_pg_search)
