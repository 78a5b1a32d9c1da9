"""The catalog's SQL schema (SQLAlchemy Core), shared by SQLite and PostgreSQL.

The catalog is an index: everything in it can be rebuilt from the manifests
and records in the backend (``reindex``).
"""

from __future__ import annotations

import sqlalchemy as sa

__all__ = [
           "SCHEMA_VERSION",
           "aliases",
           "artifacts",
           "champions",
           "evaluations",
           "inflight",
           "locks",
           "meta",
           "metadata",
           "metadata_kv",
           "names",
           "pack_members",
           "stats_blobs",
           "stats_deltas",
           "stats_totals",
           "tags",
]

#: Bump together with a new entry in ``migrations.MIGRATIONS``.
SCHEMA_VERSION = 8  # v4: the search index (catalog/search.py); v5: tags.position, the seed's views;
# v6: the maintained statistics (stats_blobs, stats_totals, stats_deltas; catalog/stats.py);
# v7: PostgreSQL's search_docs gains created_at and word pairs (catalog/search.py); v8: pack_members

metadata = sa.MetaData()
_S = sa.String

meta = sa.Table(
    "as_meta", metadata, sa.Column("key", _S(64), primary_key=True), sa.Column("value", sa.Text, nullable=False)
)

artifacts = sa.Table(
    "artifacts",
    metadata,
    sa.Column("id", _S(36), primary_key=True),
    sa.Column("name", _S(1024), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("artifact_type", _S(128), nullable=False),
    sa.Column("sha256", _S(64), nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("stored_size", sa.BigInteger, nullable=False),
    sa.Column("codec", _S(32), nullable=False),
    sa.Column("blob_key", _S(200), nullable=False),
    sa.Column("created_at", sa.Float(precision=53), nullable=False),
    sa.Column("model_id", _S(255)),
    sa.Column("evaluation_id", _S(255)),
    sa.Column("suite_name", _S(255)),
    sa.Column("map_name", _S(255)),
    sa.Column("episode_id", _S(255)),
    sa.Column("metadata", sa.Text, nullable=False, server_default="{}"),
    sa.Column("codec_error", sa.Text),
    sa.UniqueConstraint("name", "version", name="uq_artifacts_name_version"),
)
sa.Index("ix_artifacts_created", artifacts.c.created_at)
sa.Index("ix_artifacts_model_created", artifacts.c.model_id, artifacts.c.created_at)
sa.Index("ix_artifacts_type_created", artifacts.c.artifact_type, artifacts.c.created_at)
sa.Index("ix_artifacts_eval_created", artifacts.c.evaluation_id, artifacts.c.created_at)
sa.Index("ix_artifacts_sha", artifacts.c.sha256)
# No index on blob_key: a covering (blob_key, size, stored_size, codec) index would serve only the
# unfiltered blob group-by, which the maintained statistics replaced (a filtered one walks the
# filter's index), and cost a batch insert ~15% (measured for schema v6, benchmarks/bench_stats.py).
# v2: episode lookups (failure analysis asks "everything for episode X")
sa.Index("ix_artifacts_episode", artifacts.c.episode_id, artifacts.c.created_at)

tags = sa.Table(
    "tags",
    metadata,
    sa.Column("artifact_id", _S(36), primary_key=True),
    sa.Column("tag", _S(255), primary_key=True),
    # v3: a copy of artifacts.created_at, so "newest with tag X" walks one index
    sa.Column("created_at", sa.Float(precision=53)),
    # v5: the tag's place in the order given (tags come back in that order); NULL before v5
    sa.Column("position", sa.Integer),
)
sa.Index("ix_tags_tag", tags.c.tag, tags.c.artifact_id)
sa.Index("ix_tags_tag_created", tags.c.tag, tags.c.created_at, tags.c.artifact_id)

# Top-level metadata keys, one row each, so that metadata={"k": v} filters are
# an indexed lookup instead of a JSON scan (630 ms -> 0.4 ms at 1M rows).
metadata_kv = sa.Table(
    "metadata_kv",
    metadata,
    sa.Column("artifact_id", _S(36), primary_key=True),
    sa.Column("key", _S(255), primary_key=True),
    sa.Column("value", _S(600), nullable=False),
    sa.Column("created_at", sa.Float(precision=53)),  # v3, as in tags
)
sa.Index("ix_metadata_kv_key_value", metadata_kv.c.key, metadata_kv.c.value, metadata_kv.c.artifact_id)
sa.Index("ix_metadata_kv_key_value_created", metadata_kv.c.key, metadata_kv.c.value, metadata_kv.c.created_at,
         metadata_kv.c.artifact_id)

# Last version handed out per name; survives deletions so versions never repeat.
names = sa.Table(
    "names",
    metadata,
    sa.Column("name", _S(1024), primary_key=True),
    sa.Column("last_version", sa.Integer, nullable=False),
)

aliases = sa.Table(
    "aliases",
    metadata,
    sa.Column("name", _S(1024), primary_key=True),
    sa.Column("alias", _S(128), primary_key=True),
    sa.Column("artifact_id", _S(36), nullable=False),
    sa.Column("updated_at", sa.Float(precision=53), nullable=False),
)
sa.Index("ix_aliases_artifact", aliases.c.artifact_id)

evaluations = sa.Table(
    "evaluations",
    metadata,
    sa.Column("evaluation_id", _S(255), primary_key=True),
    sa.Column("model_id", _S(255), nullable=False),
    sa.Column("timestamp", sa.Float(precision=53), nullable=False),
    sa.Column("global_score", sa.Float(precision=53), nullable=False),
    sa.Column("success_rate", sa.Float(precision=53), nullable=False),
    sa.Column("is_champion", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("champion_rank", sa.Integer),
    sa.Column("metrics", sa.Text, nullable=False, server_default="{}"),
    sa.Column("artifacts", sa.Text, nullable=False, server_default="[]"),
    sa.Column("metadata", sa.Text, nullable=False, server_default="{}"),
    sa.Column("repro", sa.Text, nullable=False, server_default="{}"),
)
sa.Index("ix_evaluations_model_ts", evaluations.c.model_id, evaluations.c.timestamp)
sa.Index("ix_evaluations_ts", evaluations.c.timestamp)

champions = sa.Table(
    "champions",
    metadata,
    sa.Column("champion_id", _S(36), primary_key=True),
    sa.Column("seq", sa.Integer, nullable=False, unique=True),
    sa.Column("model_id", _S(255), nullable=False),
    sa.Column("evaluation_id", _S(255)),
    sa.Column("timestamp", sa.Float(precision=53), nullable=False),
    sa.Column("global_score", sa.Float(precision=53), nullable=False),
    sa.Column("success_rate", sa.Float(precision=53), nullable=False),
    sa.Column("previous_champion", _S(36)),
    sa.Column("previous_model_id", _S(255)),
    sa.Column("improvement_metrics", sa.Text, nullable=False, server_default="{}"),
    sa.Column("metrics", sa.Text, nullable=False, server_default="{}"),
    sa.Column("artifacts", sa.Text, nullable=False, server_default="[]"),
)
sa.Index("ix_champions_model", champions.c.model_id)

# A put that dedups against an existing blob records a lease here first; gc's
# sweep re-checks it at the moment it deletes (see DESIGN, "One race needs care").
inflight = sa.Table(
    "inflight",
    metadata,
    sa.Column("token", _S(36), primary_key=True),
    sa.Column("sha256", _S(64), nullable=False),
    sa.Column("expires_at", sa.Float(precision=53), nullable=False),
)
sa.Index("ix_inflight_sha", inflight.c.sha256)

# Named rows that serialise critical sections portably: an UPDATE takes a row
# lock on PostgreSQL and the write lock on SQLite.
locks = sa.Table(
    "locks",
    metadata,
    sa.Column("name", _S(64), primary_key=True),
    sa.Column("counter", sa.BigInteger, nullable=False, server_default="0"),
)

# v6: the statistics of the whole catalog, kept up to date in every write transaction that changes
# the artifacts (catalog/stats.py), so that an unfiltered stats() reads a few rows instead of
# aggregating all of them.
#
# One row per blob key still referenced by an artifact: how many artifacts reference it (refs) and
# the blob's figures as a GROUP BY blob_key would compute them (the largest size, stored size and
# codec among its rows). ``mixed`` is 1 once two of its rows disagreed on those figures (never, as
# the store writes them): then removing one of its rows recounts the blob from the rows.
stats_blobs = sa.Table(
    "stats_blobs",
    metadata,
    sa.Column("blob_key", _S(200), primary_key=True),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("stored_size", sa.BigInteger, nullable=False),
    sa.Column("codec", _S(32), nullable=False),
    sa.Column("refs", sa.BigInteger, nullable=False),
    sa.Column("mixed", sa.Integer, nullable=False, server_default="0"),
    sqlite_with_rowid=False,  # one B-tree keyed by blob_key, not a rowid table plus its key's index
)

# Counters per dimension: ("total", "") counts artifacts (n) and their bytes (size);
# ("type", t) and ("model", m) count the artifacts of a type / model and their bytes; ("codec", c)
# counts the unique blobs stored with codec c (n), their original bytes (size) and their stored
# bytes (stored). The figure of a counter is the sum of its folded row here and of its rows in
# stats_deltas.
stats_totals = sa.Table(
    "stats_totals",
    metadata,
    sa.Column("dim", _S(16), primary_key=True),
    sa.Column("key", _S(255), primary_key=True),
    sa.Column("n", sa.BigInteger, nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("stored", sa.BigInteger, nullable=False),
)

# Append-only changes to stats_totals, one row per counter a write transaction changed: writers only
# ever insert here (no row two writers both update, so no lock between them); a fold moves them
# into stats_totals now and then (catalog/stats.py).
stats_deltas = sa.Table(
    "stats_deltas",
    metadata,
    sa.Column("seq", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("dim", _S(16), nullable=False),
    sa.Column("key", _S(255), nullable=False),
    sa.Column("n", sa.BigInteger, nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("stored", sa.BigInteger, nullable=False),
)

# v8: where each packed blob lies (artifactstore/packs.py): the pack index, rebuilt by reindex from
# the packs' own trailers. A blob key has one row (the first pack to index it wins); a blob key
# without a row is a loose blob (or absent).
pack_members = sa.Table(
    "pack_members",
    metadata,
    sa.Column("blob_key", _S(200), primary_key=True),
    sa.Column("pack", _S(32), nullable=False),
    sa.Column("pack_offset", sa.BigInteger, nullable=False),
    sa.Column("pack_length", sa.BigInteger, nullable=False),
    sqlite_with_rowid=False,
)
sa.Index("ix_pack_members_pack", pack_members.c.pack)
