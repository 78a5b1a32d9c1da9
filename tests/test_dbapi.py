"""catalog/dbapi.py: Core statements compiled once, run on the transaction's driver cursor."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa

from artifactstore.catalog import dbapi
from artifactstore.catalog.sql import SQLCatalog
from artifactstore.errors import CatalogError

_md = sa.MetaData()
_t = sa.Table("t", _md, sa.Column("k", sa.String(10), primary_key=True), sa.Column("v", sa.Integer))
_INS = sa.insert(_t)
_SEL = sa.select(_t.c.k, _t.c.v).where(_t.c.v >= sa.bindparam("lo")).order_by(_t.c.k).limit(2)
_IN = sa.select(_t.c.k).where(_t.c.k.in_(sa.bindparam("ks", expanding=True)))


@pytest.fixture
def engine(tmp_path: Path) -> sa.Engine:
    eng = sa.create_engine(f"sqlite:///{tmp_path / 'c.db'}")
    _md.create_all(eng)
    return eng


def test_run_many_then_run_in_one_transaction(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        dbapi.run_many(conn, _INS, [{"k": "a", "v": 1}, {"k": "b", "v": 2}, {"k": "c", "v": 3}])
        # the statement's own parameter (the LIMIT) keeps its value
        assert dbapi.run(conn, _SEL, {"lo": 2}) == [("b", 2), ("c", 3)]
        assert dbapi.run(conn, sa.delete(_t).where(_t.c.k == sa.bindparam("k")), {"k": "a"}) == []
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(_t)).scalar_one() == 2


def test_rollback_undoes_what_run_did(engine: sa.Engine) -> None:
    with pytest.raises(RuntimeError), engine.begin() as conn:
        dbapi.run_many(conn, _INS, [{"k": "a", "v": 1}])
        raise RuntimeError("abort")
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(_t)).scalar_one() == 0


def test_column_subsets_compile_separately(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        dbapi.run_many(conn, _INS, [{"k": "a", "v": 1}])
        dbapi.run_many(conn, _INS, [{"k": "b"}])  # another set of columns: another INSERT
        assert dbapi.run(conn, sa.select(_t.c.k, _t.c.v).order_by(_t.c.k)) == [("a", 1), ("b", None)]


def test_expanding_parameters_are_refused(engine: sa.Engine) -> None:
    with engine.begin() as conn, pytest.raises(TypeError, match="expanding"):
        dbapi.run(conn, _IN, {"ks": ["a"]})


def test_driver_errors_arrive_as_sqlalchemy_errors(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        dbapi.run_many(conn, _INS, [{"k": "a", "v": 1}])
    with pytest.raises(sa.exc.IntegrityError) as info, engine.begin() as conn:
        dbapi.run_many(conn, _INS, [{"k": "a", "v": 2}])
    assert isinstance(info.value.orig, sqlite3.IntegrityError)


def test_a_locked_database_is_retried_by_the_catalog(tmp_path: Path) -> None:
    # A put's transaction runs through dbapi: a lock conflict must still be a retried
    # DBAPIError, not a raw sqlite3 error. Another connection holds the write lock briefly.
    cat = SQLCatalog(f"sqlite:///{tmp_path / 'cat.db'}", busy_timeout=0.05)
    blocker = sqlite3.connect(tmp_path / "cat.db", isolation_level=None, check_same_thread=False)
    blocker.execute("BEGIN IMMEDIATE")
    timer = threading.Timer(0.3, lambda: blocker.execute("COMMIT"))
    timer.start()
    try:
        stmt = sa.insert(sa.table("as_meta", sa.column("key"), sa.column("value")))
        cat.write(lambda conn: dbapi.run(conn, stmt, {"key": "probe", "value": "1"}))
    finally:
        timer.join()
        blocker.close()
    assert cat.read(lambda conn: conn.execute(sa.text("SELECT value FROM as_meta WHERE key = 'probe'")).scalar())
    cat.close()


def test_a_lasting_lock_is_a_catalog_error(tmp_path: Path) -> None:
    cat = SQLCatalog(f"sqlite:///{tmp_path / 'cat.db'}", busy_timeout=0.01, max_retries=1)
    blocker = sqlite3.connect(tmp_path / "cat.db", isolation_level=None, check_same_thread=False)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        stmt = sa.insert(sa.table("as_meta", sa.column("key"), sa.column("value")))
        with pytest.raises(CatalogError, match="locked"):
            cat.write(lambda conn: dbapi.run(conn, stmt, {"key": "probe", "value": "1"}))
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
        cat.close()
