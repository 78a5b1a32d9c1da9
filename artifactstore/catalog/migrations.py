"""Schema creation and migrations, safe when many workers start at once.

Every worker runs :func:`migrate` on connect. It takes an exclusive lock
(``pg_advisory_xact_lock`` on PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite), then
reads the schema version, and only the first worker through actually creates
or upgrades anything; the others find the work done.
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa

from ..errors import SchemaVersionError
from . import search, seed_views, stats
from .schema import SCHEMA_VERSION, locks, meta, metadata, pack_members, stats_blobs, stats_deltas, stats_totals

__all__ = ["MIGRATIONS", "current_version", "migrate"]

# Arbitrary constant naming our advisory lock on PostgreSQL.
_ADVISORY_KEY = 0x61727473746F7265  # "artstore"

def _v1_to_v2(conn: sa.Connection) -> None:
    conn.execute(sa.text("CREATE INDEX IF NOT EXISTS ix_artifacts_episode ON artifacts (episode_id, created_at)"))


def _v2_to_v3(conn: sa.Connection) -> None:
    for table in ("tags", "metadata_kv"):
        conn.execute(sa.text(f"ALTER TABLE {table} ADD COLUMN created_at DOUBLE PRECISION"))
        conn.execute(sa.text(
            f"UPDATE {table} SET created_at = (SELECT a.created_at FROM artifacts a WHERE a.id = {table}.artifact_id)"
        ))
    conn.execute(sa.text("CREATE INDEX IF NOT EXISTS ix_tags_tag_created ON tags (tag, created_at, artifact_id)"))
    conn.execute(sa.text(
        "CREATE INDEX IF NOT EXISTS ix_metadata_kv_key_value_created "
        "ON metadata_kv (key, value, created_at, artifact_id)"
    ))


def _v3_to_v4(conn: sa.Connection) -> None:
    # the full-text search index, built from the rows already there
    search.create_index(conn)
    search.clear(conn)
    search.rebuild_from_rows(conn)


def _v4_to_v5(conn: sa.Connection) -> None:
    # tags keep the order given (older rows have no position and sort by tag); the seed's tables as views
    if "position" not in {c["name"] for c in sa.inspect(conn).get_columns("tags")}:
        conn.execute(sa.text("ALTER TABLE tags ADD COLUMN position INTEGER"))
    seed_views.create_views(conn)


def _v5_to_v6(conn: sa.Connection) -> None:
    # the maintained statistics (catalog/stats.py), computed from the rows already there
    metadata.create_all(conn, tables=[stats_blobs, stats_totals, stats_deltas], checkfirst=True)
    stats.recompute(conn)


def _v6_to_v7(conn: sa.Connection) -> None:
    # PostgreSQL's search_docs gains created_at, search_pairs the word pairs (catalog/search.py): rebuilt from
    # the catalog rows; SQLite's index is unchanged
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("DROP TABLE IF EXISTS search_docs"))
        conn.execute(sa.text("DROP TABLE IF EXISTS search_pairs"))
        search.create_index(conn)
        search.rebuild_from_rows(conn)
        # the search plans need the new tables' statistics (word frequencies) from the start: without
        # them a phrase search at 100k artifacts took 30 ms instead of 7 until autovacuum analysed
        conn.execute(sa.text("ANALYZE search_docs"))
        conn.execute(sa.text("ANALYZE search_pairs"))


def _v7_to_v8(conn: sa.Connection) -> None:
    # the pack index (catalog/packs.py); a store written before packs has no packs: empty
    metadata.create_all(conn, tables=[pack_members], checkfirst=True)


#: MIGRATIONS[n] upgrades a schema at version n to n + 1.
MIGRATIONS: dict[int, Callable[[sa.Connection], None]] = {1: _v1_to_v2, 2: _v2_to_v3, 3: _v3_to_v4, 4: _v4_to_v5,
                                                          5: _v5_to_v6, 6: _v6_to_v7, 7: _v7_to_v8}


def current_version(conn: sa.Connection) -> int:
    if not sa.inspect(conn).has_table(meta.name):
        return 0
    row = conn.execute(sa.select(meta.c.value).where(meta.c.key == "schema_version")).first()
    return int(row[0]) if row else 0


def _create(conn: sa.Connection) -> None:
    metadata.create_all(conn, checkfirst=True)
    search.create_index(conn)
    seed_views.create_views(conn)
    have = {r[0] for r in conn.execute(sa.select(locks.c.name))}
    missing = [{"name": n, "counter": 0} for n in ("champion", "gc") if n not in have]
    if missing:
        conn.execute(sa.insert(locks), missing)


def migrate(engine: sa.Engine, schema: str | None = None) -> int:
    """Bring the schema to :data:`SCHEMA_VERSION`; return the version found before.

    ``schema`` (PostgreSQL) is created if missing; it is already on the
    connections' ``search_path``.
    """
    if engine.dialect.name == "sqlite":
        search.check_fts5()  # before anything: a catalog without its search index must not open
    with engine.connect() as conn:
        conn = conn.execution_options(as_write=True)
        with conn.begin():
            if engine.dialect.name == "postgresql":
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _ADVISORY_KEY})
                if schema:
                    conn.execute(sa.text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
            found = current_version(conn)
            if found > SCHEMA_VERSION:
                raise SchemaVersionError(found, SCHEMA_VERSION)
            if found == SCHEMA_VERSION:
                return found
            if found == 0:
                _create(conn)
            else:
                for v in range(found, SCHEMA_VERSION):
                    MIGRATIONS[v](conn)
            if found == 0:
                conn.execute(sa.insert(meta).values(key="schema_version", value=str(SCHEMA_VERSION)))
            else:
                conn.execute(sa.update(meta).where(meta.c.key == "schema_version").values(value=str(SCHEMA_VERSION)))
        return found
