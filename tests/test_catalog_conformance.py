"""Both built-in catalogs pass the shipped conformance suite (artifactstore.testing.CatalogTests).

SQLite runs on a file in the test's folder; PostgreSQL in a fresh schema of the local server
(the ``pg_catalog_url`` fixture of conftest.py: in CI, a missing server fails, elsewhere it skips).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from artifactstore.catalog.base import ORDER_BY, Catalog
from artifactstore.catalog.sql import ORDERINGS, SQLCatalog
from artifactstore.testing import CatalogTests


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
