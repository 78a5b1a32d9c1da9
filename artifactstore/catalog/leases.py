"""In-flight leases that keep gc's sweep away from blobs a put is about to rely on.

A put that finds its content already stored takes a lease on the digest
before it checks the blob still exists; gc's sweep checks for leases and
deletes a blob in one transaction holding the same per-digest lock, so either
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


_LOCK_NAMESPACE = 0x6173  # "as": our advisory-lock namespace on PostgreSQL


def _lock_digests(conn: sa.Connection, shas: Sequence[str]) -> None:
    """Serialise lease-taking and sweeping per digest, not store-wide.

    PostgreSQL: transaction-scoped advisory locks on 32-bit buckets of the digests, taken
    in sorted order (no deadlocks); puts of different content never wait for each other.
    SQLite: nothing to do, a write transaction (BEGIN IMMEDIATE) already excludes all others.
    """
    if conn.dialect.name != "postgresql":
        return
    for k in sorted({int(s[:8], 16) for s in shas}):
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:ns, :k)"),
                     {"ns": _LOCK_NAMESPACE, "k": k - (1 << 32) if k >= 1 << 31 else k})


class LeaseTables:
    """Mixin of :class:`~artifactstore.catalog.sql.SQLCatalog` for in-flight leases."""

    write: Callable[..., Any]

    def take_lease(self, sha256: str, ttl: float = 3600.0) -> str:
        token = new_id()

        def txn(conn: sa.Connection) -> None:
            _lock_digests(conn, [sha256])
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
        references or leases, re-checked under per-digest locks in one transaction.

        ``delete(key)`` removes one object from the backend and returns whether it was
        there; it runs inside the transaction, so no lease can be taken between the
        check and the delete, and two gc runs never both count the same blob.
        Returns ``(deleted keys, number skipped)``.
        """

        def txn(conn: sa.Connection) -> tuple[list[str], int]:
            keys = [k for _, k in candidates]
            shas = sorted({s for s, _ in candidates})
            _lock_digests(conn, shas)
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
