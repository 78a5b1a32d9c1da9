"""Built-in catalogs: SQLite (embedded default) and PostgreSQL [postgres], one code path."""

from __future__ import annotations

from typing import Any

from ..hookspecs import Registrar, hookimpl


def _sql_catalog(url: str, **options: Any) -> Any:
    from ..catalog.sql import SQLCatalog

    return SQLCatalog(url, **options)


@hookimpl
def artifactstore_register_catalogs(register: Registrar) -> None:
    register("sqlite", _sql_catalog, description="SQLite file (WAL)")
    register("postgresql", _sql_catalog, description="PostgreSQL via psycopg 3 [postgres]")
    register("postgres", _sql_catalog, description="PostgreSQL via psycopg 3 [postgres]")
