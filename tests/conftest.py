from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

import artifactstore
from artifactstore import ArtifactStore

if TYPE_CHECKING:
    import sqlalchemy as sa

# Real-server fixtures (moto, fake-gcs-server, Azurite, PostgreSQL) live in the package so
# plugin authors can reuse them.
pytest_plugins = ["artifactstore.testing.fixtures"]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ArtifactStore]:
    with artifactstore.open(tmp_path / "store") as s:
        yield s


@pytest.fixture(autouse=True)
def _isolate_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # A user's environment must not leak into tests.
    for var in ("ARTIFACTSTORE_URL", "ARTIFACTSTORE_CATALOG", "ARTIFACTSTORE_DISABLE_PLUGINS",
                "ARTIFACTSTORE_TRACE_PLUGINS", "ARTIFACTSTORE_CONFIG"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    os.environ.setdefault("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")


PG_BASE = os.environ.get("ARTIFACTSTORE_TEST_PG", "postgresql://root@127.0.0.1:5432/test")


def _pg_admin() -> sa.Engine:
    import sqlalchemy as sa

    return sa.create_engine(PG_BASE.replace("postgresql://", "postgresql+psycopg://", 1), poolclass=sa.pool.NullPool)


@pytest.fixture
def pg_catalog_url() -> Iterator[str]:
    """A catalog URL on the local PostgreSQL in a fresh schema, dropped afterwards.

    Fails in CI (CI=true) when PostgreSQL is unreachable; skips with a hint elsewhere.
    """
    import uuid

    import sqlalchemy as sa

    schema = "as_test_" + uuid.uuid4().hex[:12]
    try:
        eng = _pg_admin()
        with eng.connect() as c:
            c.execute(sa.text("select 1"))
    except Exception as exc:  # pragma: no cover - depends on the machine
        msg = f"PostgreSQL not reachable at {PG_BASE} ({type(exc).__name__}); start it or set ARTIFACTSTORE_TEST_PG"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    yield f"{PG_BASE}?schema={schema}"
    with eng.begin() as c:
        c.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    eng.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def catalog_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'catalog.db'}"
    url: str = request.getfixturevalue("pg_catalog_url")
    return url


@pytest.fixture
def any_store(tmp_path: Path, catalog_url: str) -> Iterator[ArtifactStore]:
    """A local store whose catalog is SQLite or PostgreSQL (parametrized)."""
    with artifactstore.open(tmp_path / "store", catalog=catalog_url) as s:
        yield s
