"""In-flight leases that keep gc's sweep away from blobs a put is about to rely on.

A put that finds its content already stored takes a lease on the digest
before it checks the blob still exists; gc's sweep checks for leases and
deletes a blob in one transaction holding the same ``gc`` lock row, so either
the sweep finished first (the put then sees the blob gone and publishes its
own copy) or the lease is visible to the sweep (which skips the blob).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
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

    def sweep_blobs(
        self, candidates: Sequence[tuple[str, str]], delete: Callable[[str], bool]
    ) -> tuple[list[str], int]:
        """Delete the blobs among ``candidates`` ((sha256, blob_key) pairs) that nothing
        references or leases, re-checked under the gc lock in one transaction.

        ``delete(key)`` removes one object from the backend and returns whether it was
        there; it runs inside the transaction, so no lease can be taken between the
        check and the delete, and two gc runs never both count the same blob.
        Returns ``(deleted keys, number skipped)``.
        """

        def txn(conn: sa.Connection) -> tuple[list[str], int]:
            _take_gc_lock(conn)
            keys = [k for _, k in candidates]
            shas = sorted({s for s, _ in candidates})
            referenced = {r[0] for r in conn.execute(
                sa.select(S.artifacts.c.blob_key).where(S.artifacts.c.blob_key.in_(keys)).distinct())}
            leased = {r[0] for r in conn.execute(
                sa.select(S.inflight.c.sha256).where(S.inflight.c.sha256.in_(shas),
                                                    S.inflight.c.expires_at > time.time()))}
            done: list[str] = []
            skipped = 0
            for sha, key in candidates:
                if key in referenced or sha in leased or not delete(key):
                    skipped += 1
                else:
                    done.append(key)
            return done, skipped

        result: tuple[list[str], int] = self.write(txn)
        return result

    def expire_leases(self) -> int:
        def txn(conn: sa.Connection) -> int:
            res = conn.execute(sa.delete(S.inflight).where(S.inflight.c.expires_at <= time.time()))
            return int(res.rowcount or 0)

        n: int = self.write(txn)
        return n
