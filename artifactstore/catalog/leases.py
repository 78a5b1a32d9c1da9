"""In-flight leases that keep gc's sweep away from blobs a put is about to rely on.

A put that finds its content already stored takes a lease on the digest
before it checks the blob still exists; gc's sweep checks for leases and
deletes a blob in one transaction holding the same ``gc`` lock row, so either
the sweep finished first (the put then sees the blob gone and publishes its
own copy) or the lease is visible to the sweep (which skips the blob).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from ..ids import new_id
from . import schema as S

__all__ = ["LeaseTables"]


def _take_gc_lock(conn: sa.Connection) -> None:
    conn.execute(sa.update(S.locks).where(S.locks.c.name == "gc").values(counter=S.locks.c.counter + 1))


class LeaseTables:
    """Mixin of :class:`~artifactstore.catalog.sql.SQLCatalog` for in-flight leases."""

    write: Callable[..., Any]

    def take_lease(self, sha256: str, ttl: float = 3600.0) -> str:
        token = new_id()

        def txn(conn: sa.Connection) -> None:
            _take_gc_lock(conn)
            conn.execute(sa.insert(S.inflight).values(token=token, sha256=sha256, expires_at=time.time() + ttl))

        self.write(txn)
        return token

    @staticmethod
    def release_leases(conn: sa.Connection, tokens: list[str]) -> None:
        if tokens:
            conn.execute(sa.delete(S.inflight).where(S.inflight.c.token.in_(tokens)))

    def release_leases_now(self, tokens: list[str]) -> None:
        if tokens:
            self.write(lambda conn: self.release_leases(conn, tokens))

    def sweep_blob(self, sha256: str, blob_key: str, delete: Callable[[], bool]) -> bool:
        """Delete a blob if nothing references or leases it, re-checked under the gc lock.

        ``delete`` removes the object from the backend and returns whether it
        was there; it runs inside the transaction so no lease can be taken
        between the check and the delete, and two gc runs never both count
        the same blob. Returns whether this call deleted the blob.
        """

        def txn(conn: sa.Connection) -> bool:
            _take_gc_lock(conn)
            refs = conn.execute(
                sa.select(sa.func.count()).select_from(S.artifacts).where(S.artifacts.c.blob_key == blob_key)
            ).scalar_one()
            if refs:
                return False
            leased = conn.execute(
                sa.select(sa.func.count()).select_from(S.inflight)
                .where(S.inflight.c.sha256 == sha256, S.inflight.c.expires_at > time.time())
            ).scalar_one()
            if leased:
                return False
            return delete()

        result: bool = self.write(txn)
        return result

    def expire_leases(self) -> int:
        def txn(conn: sa.Connection) -> int:
            res = conn.execute(sa.delete(S.inflight).where(S.inflight.c.expires_at <= time.time()))
            return int(res.rowcount or 0)

        n: int = self.write(txn)
        return n
