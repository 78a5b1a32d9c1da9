"""Core statements compiled once per dialect and run on the DBAPI cursor of an open transaction.

A small put commits one catalog transaction of about ten statements. Through
``Connection.execute`` each of them paid SQLAlchemy's per-execution work (cache key,
execution context, result wrapping): about half of a small put's time in the profile of
``benchmarks/profile_hot.py small-put``. :func:`run` and :func:`run_many` compile a
statement once per (dialect, parameter names) and hand the SQL and the parameters to the
driver's cursor of the same connection, so they run inside the caller's transaction.

Only for statements whose parameters need no type conversion by SQLAlchemy (``str``,
``int``, ``float``, ``None``, and lists for PostgreSQL arrays) and that have no expanding
(``IN :list``) parameters; a driver error is raised as SQLAlchemy's ``DBAPIError``, so
:meth:`SQLCatalog.write <artifactstore.catalog.sql.SQLCatalog.write>` retries lock
conflicts as before.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa

__all__ = ["fetch", "placeholders", "run", "run_many"]

# (id of the statement, dialect name, parameter names) -> (statement, SQL, positional names or
# None, values of the statement's own parameters such as a LIMIT). The statement is kept in the
# value so that its id is never reused while cached.
_Entry = tuple[Any, str, tuple[str, ...] | None, dict[str, Any]]
_CACHE: dict[tuple[int, str, tuple[str, ...]], _Entry] = {}
_LOCK = threading.Lock()


def _compiled(conn: sa.Connection, stmt: sa.Executable, keys: tuple[str, ...]) -> _Entry:
    ck = (id(stmt), conn.dialect.name, keys)
    hit = _CACHE.get(ck)
    if hit is not None:
        return hit
    # column_keys: which columns an INSERT without .values() lists (ignored by other statements)
    c = stmt.compile(dialect=conn.dialect, column_keys=list(keys))  # type: ignore[attr-defined]
    if any(b.expanding for b in c.binds.values()):
        raise TypeError("dbapi.run cannot run statements with expanding parameters")
    names = tuple(c.positiontup) if c.positional else None
    own = {k: v for k, v in c.params.items() if k not in keys}  # e.g. the value of a LIMIT
    entry: _Entry = (stmt, str(c), names, own)
    with _LOCK:
        _CACHE[ck] = entry
    return entry


def _cursor(conn: sa.Connection) -> Any:
    return conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]


def _args(params: Mapping[str, Any], names: tuple[str, ...] | None, own: dict[str, Any]) -> Any:
    if own:
        params = {**own, **params}
    return params if names is None else tuple(params[n] for n in names)


def _wrap(conn: sa.Connection, sql: str, params: Any, exc: Exception) -> Exception:
    dbapi = conn.dialect.loaded_dbapi
    if isinstance(exc, dbapi.Error):
        return sa.exc.DBAPIError.instance(sql, params, exc, dbapi.Error)
    return exc


def run(conn: sa.Connection, stmt: sa.Executable, params: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
    """Execute ``stmt`` once with ``params`` in ``conn``'s transaction; return the rows it
    produced (``RETURNING`` or ``SELECT``), else ``[]``."""
    params = params or {}
    _stmt, sql, names, own = _compiled(conn, stmt, tuple(sorted(params)))
    args = _args(params, names, own)
    cur = _cursor(conn)
    try:
        cur.execute(sql, args)
        return list(cur.fetchall()) if cur.description is not None else []
    except Exception as exc:
        raise _wrap(conn, sql, args, exc) from exc
    finally:
        cur.close()


def run_many(conn: sa.Connection, stmt: sa.Executable, rows: Sequence[Mapping[str, Any]]) -> None:
    """Execute ``stmt`` (no ``RETURNING``) for each of ``rows`` (which share their keys) in
    ``conn``'s transaction."""
    if not rows:
        return
    _stmt, sql, names, own = _compiled(conn, stmt, tuple(sorted(rows[0])))
    args = [_args(r, names, own) for r in rows]
    cur = _cursor(conn)
    try:
        cur.executemany(sql, args)
    except Exception as exc:
        raise _wrap(conn, sql, args[:1], exc) from exc
    finally:
        cur.close()


def placeholders(conn: sa.Connection, n: int) -> str:
    """``n`` positional parameter markers of ``conn``'s driver, comma-separated (for an
    ``IN (...)`` list in SQL written for :func:`fetch`)."""
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    return ", ".join([mark] * n)


def fetch(conn: sa.Connection, sql: str, args: Sequence[Any]) -> list[tuple[Any, ...]]:
    """The rows of plain SQL ``sql`` (positional markers from :func:`placeholders`) with
    ``args``, in ``conn``'s transaction: a read on the hot path whose shape varies (the
    number of ids), where compiling a Core statement each time is what costs."""
    cur = _cursor(conn)
    try:
        cur.execute(sql, tuple(args))
        return list(cur.fetchall())
    except Exception as exc:
        raise _wrap(conn, sql, args, exc) from exc
    finally:
        cur.close()
