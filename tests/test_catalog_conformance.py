"""Both built-in catalogs pass the shipped conformance suite (artifactstore.testing.CatalogTests).

SQLite runs on a file in the test's folder; PostgreSQL in a fresh schema of the local server
(the ``pg_catalog_url`` fixture of conftest.py: in CI, a missing server fails, elsewhere it skips).
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import artifactstore
from artifactstore import hookimpl
from artifactstore.catalog.base import CATALOG_MEMBERS, ORDER_BY, Catalog
from artifactstore.catalog.sql import ORDERINGS, SQLCatalog
from artifactstore.errors import PluginError
from artifactstore.hookspecs import Registrar
from artifactstore.plugins import build_registry
from artifactstore.testing import CatalogTests
from artifactstore.testing import catalog as suite


class TestSQLiteCatalog(CatalogTests):
    @pytest.fixture
    def catalog(self, tmp_path: Path) -> Iterator[Catalog]:
        c = SQLCatalog(f"sqlite:///{tmp_path / 'catalog.db'}")
        yield c
        c.close()


class TestPostgreSQLCatalog(CatalogTests):
    @pytest.fixture
    def catalog(self, pg_catalog_url: str) -> Iterator[Catalog]:
        c = SQLCatalog(pg_catalog_url)
        yield c
        c.close()


def sql_catalog(url: str) -> Catalog:
    """SQLCatalog is a Catalog (checked by mypy here as well as in catalog/sql.py)."""
    return SQLCatalog(url)


def test_sql_catalog_knows_every_ordering_of_the_contract(tmp_path: Path) -> None:
    assert set(ORDERINGS) == set(ORDER_BY)
    c = sql_catalog(f"sqlite:///{tmp_path / 'c.db'}")
    try:
        assert isinstance(c, Catalog)
    finally:
        c.close()


def test_the_suite_exercises_every_member_of_the_protocol() -> None:
    source = inspect.getsource(suite)
    # close() is the fixture's to call (after each test), not the tests'
    untested = [m for m in CATALOG_MEMBERS if m != "close" and not re.search(rf"\bcatalog\.{m}\b", source)]
    assert not untested, f"CatalogTests never calls {untested}"


class _HalfCatalog:
    """Has some of a catalog's methods, not all."""

    url = "half://"

    def __init__(self) -> None:
        self.closed = False

    def get(self, artifact_id: str) -> None:
        return None

    def close(self) -> None:
        self.closed = True


def test_open_refuses_a_factory_result_that_is_not_a_catalog(tmp_path: Path) -> None:
    made: list[_HalfCatalog] = []

    class Plugin:
        @hookimpl
        def artifactstore_register_catalogs(self, register: Registrar) -> None:
            def factory(url: str, **options: Any) -> _HalfCatalog:
                made.append(_HalfCatalog())
                return made[-1]

            register("half", factory)

    reg = build_registry(autoload=False, plugins=[Plugin()])
    with pytest.raises(PluginError, match=r"not an artifactstore\.catalog\.base\.Catalog: it lacks aliases_of, "):
        artifactstore.open(tmp_path / "s", catalog="half://x", registry=reg)
    assert made[0].closed
