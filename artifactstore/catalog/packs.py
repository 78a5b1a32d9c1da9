"""The pack index in the SQL catalog: which pack and offset hold each packed blob.

A mixin of :class:`~artifactstore.catalog.sql.SQLCatalog` implementing
:class:`~artifactstore.catalog.base.PackIndex` over the ``pack_members`` table
(:mod:`artifactstore.catalog.schema`). The rows are an index of the packs' own trailers
(:mod:`artifactstore.packs`): ``reindex`` rebuilds them (``CatalogContents.packs``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa

from . import schema as S

__all__ = ["PackTables", "replace_pack_rows"]

_CHUNK = 500  # bound parameters per statement (SQLite's limit is far above)
_STATEMENTS: dict[tuple[str, str], Any] = {}


def _insert_if_new(conn: sa.Connection) -> Any:
    key = (conn.dialect.name, "pack_insert")
    if key not in _STATEMENTS:
        from sqlalchemy.dialects import postgresql, sqlite

        t = S.pack_members
        ins = postgresql.insert(t) if conn.dialect.name == "postgresql" else sqlite.insert(t)
        _STATEMENTS[key] = ins.on_conflict_do_nothing(index_elements=[t.c.blob_key])
    return _STATEMENTS[key]


def _rows(pack: str, members: Sequence[tuple[str, int, int]]) -> list[dict[str, Any]]:
    return [{"blob_key": k, "pack": pack, "pack_offset": o, "pack_length": n} for k, o, n in members]


def replace_pack_rows(conn: sa.Connection, rows: Sequence[tuple[str, str, int, int]]) -> None:
    """Inside reindex's transaction: the pack index becomes exactly ``rows``
    ``(blob key, pack, offset, length)`` (the first row of a key wins)."""
    conn.execute(sa.delete(S.pack_members))
    stmt = _insert_if_new(conn)
    params = [{"blob_key": k, "pack": p, "pack_offset": o, "pack_length": n} for k, p, o, n in rows]
    for i in range(0, len(params), _CHUNK):
        conn.execute(stmt, params[i : i + _CHUNK])


class PackTables:
    """Mixin of :class:`~artifactstore.catalog.sql.SQLCatalog`: the pack index."""

    write: Callable[..., Any]
    read: Callable[..., Any]

    def add_pack_members(self, pack: str, members: Sequence[tuple[str, int, int]]) -> None:
        """Index the members ``(blob key, offset, length)`` of the sealed pack ``pack``, in one
        transaction; a key indexed already (in another pack) keeps its row."""
        params = _rows(pack, members)

        def txn(conn: sa.Connection) -> None:
            stmt = _insert_if_new(conn)
            for i in range(0, len(params), _CHUNK):
                conn.execute(stmt, params[i : i + _CHUNK])

        if params:
            self.write(txn)

    def pack_locations(self, keys: Sequence[str]) -> dict[str, tuple[str, int, int]]:
        """``{blob key: (pack, offset, length)}`` of those of ``keys`` that are packed."""
        t = S.pack_members

        def q(conn: sa.Connection) -> dict[str, tuple[str, int, int]]:
            out: dict[str, tuple[str, int, int]] = {}
            for i in range(0, len(keys), _CHUNK):
                sel = sa.select(t.c.blob_key, t.c.pack, t.c.pack_offset, t.c.pack_length).where(
                    t.c.blob_key.in_(list(keys[i : i + _CHUNK])))
                for k, p, o, n in conn.execute(sel):
                    out[str(k)] = (str(p), int(o), int(n))
            return out

        if not keys:
            return {}
        result: dict[str, tuple[str, int, int]] = self.read(q)
        return result

    def pack_rows(self, pack: str | None = None) -> list[tuple[str, str, int, int]]:
        """Every ``(blob key, pack, offset, length)`` of the pack index, or of one pack."""
        t = S.pack_members
        sel = sa.select(t.c.blob_key, t.c.pack, t.c.pack_offset, t.c.pack_length)
        if pack is not None:
            sel = sel.where(t.c.pack == pack)
        result: list[tuple[str, str, int, int]] = self.read(
            lambda c: [(str(k), str(p), int(o), int(n)) for k, p, o, n in c.execute(sel.order_by(t.c.blob_key))])
        return result

    def move_pack_members(self, old: str, new: str | None, members: Sequence[tuple[str, int, int]]) -> None:
        """In one transaction: point the rows of ``members`` (keys that pack ``old`` holds)
        at their places in pack ``new``, then drop every row still pointing at ``old``
        (``new=None``: just drop them). gc's repack and its removal of a dead pack."""
        t = S.pack_members

        def txn(conn: sa.Connection) -> None:
            if new is not None and members:
                stmt = sa.update(t).where(t.c.blob_key == sa.bindparam("k"), t.c.pack == old).values(
                    pack=new, pack_offset=sa.bindparam("o"), pack_length=sa.bindparam("n"))
                conn.execute(stmt, [{"k": k, "o": o, "n": n} for k, o, n in members])
            conn.execute(sa.delete(t).where(t.c.pack == old))

        self.write(txn)
