"""The seed's database schema as read-only SQL views over the catalog.

The seed documents three tables, ``artifacts``, ``evaluation_history`` and
``champion_progression``, and its users query them with SQL. Our catalog has a
table of its own called ``artifacts`` (other columns), so the seed's names
cannot be views in the same schema. The catalog therefore holds them twice:

- persistent views ``seed_artifacts``, ``seed_evaluation_history`` and
  ``seed_champion_progression`` (:data:`VIEWS`), made by the migrations (schema
  v5) on SQLite and PostgreSQL, visible to any client of the catalog file or
  database, and kept by ``reindex`` (which replaces the rows they show);
- on a connection that asks for them (:func:`create_temp_views`,
  ``ArtifactManager.sql_connection()``), temporary views with the seed's exact
  names, which shadow our own ``artifacts`` table on that connection only
  (SQLite searches ``temp`` first; PostgreSQL searches ``pg_temp`` first).

Columns are the seed's, in its order. ``created_at``/``timestamp`` are ISO 8601
text in local time, as the seed wrote ``datetime.now().isoformat()``;
``tags``, ``artifacts``, ``metadata`` and ``improvement_metrics`` are JSON text;
``compressed_size`` is NULL for an uncompressed blob; ``file_path`` is the blob's
key relative to the store's root in the persistent view, and the absolute path
of the blob in the temporary ones when the store is local.
"""

from __future__ import annotations

import sqlalchemy as sa

__all__ = ["SEED_NAMES", "VIEWS", "create_temp_views", "create_views", "view_sql"]

#: Persistent view name of each of the seed's tables.
VIEWS: dict[str, str] = {
    "artifacts": "seed_artifacts",
    "evaluation_history": "seed_evaluation_history",
    "champion_progression": "seed_champion_progression",
}
#: The seed's table names, in its order.
SEED_NAMES = tuple(VIEWS)


def _iso(dialect: str, column: str) -> str:
    # epoch seconds -> naive local ISO 8601 text (the seed's datetime.now().isoformat())
    if dialect == "postgresql":
        return (f"to_char(to_timestamp({column}) AT TIME ZONE current_setting('TimeZone'), "
                "'YYYY-MM-DD\"T\"HH24:MI:SS.US')")
    return f"strftime('%Y-%m-%dT%H:%M:%f', {column}, 'unixepoch', 'localtime')"


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def view_sql(dialect: str, seed_name: str, file_root: str | None = None, prefix: str = "") -> str:
    """The ``SELECT`` of one seed table (``seed_name``) for ``dialect`` (``sqlite`` or ``postgresql``).

    ``file_root`` (with a trailing ``/``) is prepended to ``file_path``; ``prefix``
    qualifies the catalog's tables (``"main."`` for a temporary view on SQLite).
    """
    p = prefix
    if seed_name == "artifacts":
        if dialect == "postgresql":
            tags = (f"COALESCE((SELECT json_agg(t.tag ORDER BY COALESCE(t.position, -1), t.tag)::text "
                    f"FROM {p}tags t WHERE t.artifact_id = a.id), '[]')")
        else:
            tags = (f"(SELECT json_group_array(o.tag) FROM (SELECT t.tag FROM {p}tags t WHERE t.artifact_id = a.id "
                    "ORDER BY COALESCE(t.position, -1), t.tag) o)")
        path = "a.blob_key" if not file_root else f"{_quote(file_root)} || a.blob_key"
        return (
            f"SELECT a.id AS artifact_id, a.artifact_type AS artifact_type, {path} AS file_path, "
            "a.size AS original_size, CASE WHEN a.codec = 'none' THEN NULL ELSE a.stored_size END AS compressed_size, "
            f"a.codec AS compression_type, a.sha256 AS checksum, {_iso(dialect, 'a.created_at')} AS created_at, "
            "a.model_id AS model_id, a.evaluation_id AS evaluation_id, a.suite_name AS suite_name, "
            f"a.map_name AS map_name, a.episode_id AS episode_id, {tags} AS tags, a.metadata AS metadata "
            f"FROM {p}artifacts a"
        )
    if seed_name == "evaluation_history":
        return (
            "SELECT e.evaluation_id AS evaluation_id, e.model_id AS model_id, "
            f"{_iso(dialect, 'e.timestamp')} AS timestamp, e.global_score AS global_score, "
            "e.success_rate AS success_rate, CASE WHEN e.is_champion THEN 1 ELSE 0 END AS is_champion, "
            "e.champion_rank AS champion_rank, e.artifacts AS artifacts, e.metadata AS metadata "
            f"FROM {p}evaluations e"
        )
    if seed_name == "champion_progression":
        return (
            "SELECT c.champion_id AS champion_id, c.model_id AS model_id, "
            f"{_iso(dialect, 'c.timestamp')} AS timestamp, c.global_score AS global_score, "
            "c.success_rate AS success_rate, c.previous_model_id AS previous_champion, "
            "c.improvement_metrics AS improvement_metrics, c.artifacts AS artifacts "
            f"FROM {p}champions c"
        )
    raise ValueError(f"not one of the seed's tables: {seed_name!r}")


def create_views(conn: sa.Connection) -> None:
    """(Re)create the persistent ``seed_*`` views (migrations call this)."""
    dialect = conn.dialect.name
    for seed_name, view in VIEWS.items():
        conn.execute(sa.text(f"DROP VIEW IF EXISTS {view}"))
        conn.execute(sa.text(f"CREATE VIEW {view} AS {view_sql(dialect, seed_name)}"))


def create_temp_views(dbapi_conn: object, dialect: str, file_root: str | None = None) -> None:
    """Create the seed's three names as temporary views on a DB-API connection.

    They shadow the catalog's own ``artifacts`` table on this connection only, so
    the seed's SQL (``SELECT * FROM artifacts WHERE model_id = ?``) runs as written.
    """
    prefix = "main." if dialect == "sqlite" else ""
    cur = dbapi_conn.cursor()  # type: ignore[attr-defined]
    try:
        for seed_name in SEED_NAMES:
            cur.execute(f"CREATE TEMP VIEW {seed_name} AS {view_sql(dialect, seed_name, file_root, prefix)}")
    finally:
        cur.close()
    if dialect == "postgresql":
        dbapi_conn.commit()  # type: ignore[attr-defined]
