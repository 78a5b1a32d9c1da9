"""In-flight leases that keep gc's sweep away from blobs a put is about to rely on.

A put that finds its content already stored takes a lease on the digest
before it checks the blob still exists; gc's sweep checks for leases and
deletes a blob in one transaction holding the same per-digest lock, so either
the sweep finished first (the put then sees the blob gone and publishes its
own copy) or the lease is visible to the sweep (which skips the blob).

Pending journal batches are the other piece of in-flight state kept here: the
catalog transaction that commits a journal batch (see
:mod:`artifactstore.manifests`) also inserts a ``batch:<id>`` row into the
``as_meta`` table, so a batch whose transaction committed but whose commit
marker was never written (the writer was killed in between) is found by the
next open of the store, which writes the marker. Rows of batches whose marker
is written are removed lazily, in the writer's next transaction.

Reindex is serialised here too (:func:`lock_for_reindex`): one worker rebuilds
while writers wait, so a rebuild never drops a row committed meanwhile.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from ..ids import new_id
from . import schema as S
from .base import JournalBatch

__all__ = [
    "REINDEXED_KEY", "SUSPECT_PREFIX", "SYNC_PENDING_KEY", "LeaseTables", "exclude_writers", "lock_for_reindex",
    "note_journal", "suspect_key",
]


_LOCK_NAMESPACE = 0x6173  # "as": our advisory-lock namespace on PostgreSQL
_REINDEX_LOCK = 0x72696478  # "ridx": the reindex lock's key in that namespace
_BATCH = "batch:"
#: ``as_meta`` key set once the catalog holds the storage's journals (by a reindex or from the start).
REINDEXED_KEY = "reindexed"
#: ``as_meta`` key prefix of a blob a verify found corrupt (see ``Catalog.mark_blobs_suspect``);
#: the rest of the key is :func:`suspect_key`'s hash of the blob key.
SUSPECT_PREFIX = "suspect:"


def suspect_key(blob_key: str) -> str:
    """The ``as_meta`` key of a suspect-blob mark: ``as_meta.key`` holds 64 characters and a
    blob key is longer, so the mark is keyed by a hash of it (the value is the blob key)."""
    return SUSPECT_PREFIX + hashlib.sha256(blob_key.encode()).hexdigest()[: 64 - len(SUSPECT_PREFIX)]


#: ``as_meta`` key set while a sync into this store has journals to copy and no reindex yet.
SYNC_PENDING_KEY = "sync-pending"
# Tables every journalled write touches before it appends, in the order writers take them
# (champion lock, names, artifacts, champions, evaluations, aliases): no deadlock with reindex.
_WRITER_TABLES = (S.locks, S.names, S.artifacts, S.champions, S.evaluations, S.aliases)


def lock_for_reindex(conn: sa.Connection) -> None:
    """Inside a write transaction: become the one worker that may rebuild the catalog.

    SQLite: nothing to do (the write transaction, ``BEGIN IMMEDIATE``, excludes every other
    writer). PostgreSQL: a transaction-scoped advisory lock; other openers wait for it, then
    find the catalog rebuilt. :func:`exclude_writers` then keeps writers out while the
    journals are read: ``EXCLUSIVE`` locks on the tables writers change before they append
    (readers go on; writers wait), so no row committed meanwhile is dropped.
    """
    if conn.dialect.name != "postgresql":
        return
    conn.execute(sa.text("SELECT pg_advisory_xact_lock(:ns, :k)"), {"ns": _LOCK_NAMESPACE, "k": _REINDEX_LOCK})


def exclude_writers(conn: sa.Connection) -> None:
    """After :func:`lock_for_reindex`, before reading the journals: wait for the journalled
    writes in flight and hold new ones until the transaction ends (PostgreSQL; a no-op on
    SQLite, whose write transaction already excludes them)."""
    if conn.dialect.name != "postgresql":
        return
    for t in _WRITER_TABLES:  # one at a time, in the writers' order
        conn.execute(sa.text(f'LOCK TABLE "{t.name}" IN EXCLUSIVE MODE'))


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


def note_journal(conn: sa.Connection, batch: JournalBatch | None) -> None:
    """Inside the write transaction a ``before_commit`` callback ran in: note the journal
    ``batch`` it returned as pending, and forget the batches it reports settled."""
    if batch is None:
        return
    LeaseTables.note_batch(conn, batch.batch_id, batch.folder)
    if batch.settled:
        LeaseTables.forget_batches(conn, batch.settled)


class LeaseTables:
    """Mixin of :class:`~artifactstore.catalog.sql.SQLCatalog` for in-flight leases."""

    write: Callable[..., Any]
    read: Callable[..., Any]

    # --- pending journal batches ---------------------------------------------------------

    @staticmethod
    def note_batch(conn: sa.Connection, batch: str, folder: str) -> None:
        """In the transaction that commits journal ``batch`` (of journal ``folder``): remember it
        as pending until its commit marker is written."""
        conn.execute(sa.insert(S.meta).values(key=_BATCH + batch, value=folder))

    @staticmethod
    def forget_batches(conn: sa.Connection, batches: Sequence[str]) -> None:
        """Drop the pending rows of ``batches`` (their commit markers are written)."""
        keys = [_BATCH + b for b in batches]
        for i in range(0, len(keys), 500):
            conn.execute(sa.delete(S.meta).where(S.meta.c.key.in_(keys[i : i + 500])))

    @staticmethod
    def pending_batches_in(conn: sa.Connection) -> list[tuple[str, str]]:
        """(batch id, journal folder) of every committed batch whose marker may be missing."""
        rows = conn.execute(sa.select(S.meta.c.key, S.meta.c.value).where(S.meta.c.key.startswith(_BATCH)))
        return sorted((str(k)[len(_BATCH):], str(v)) for k, v in rows)

    def pending_batches(self) -> list[tuple[str, str]]:
        """:meth:`pending_batches_in` in its own read."""
        result: list[tuple[str, str]] = self.read(self.pending_batches_in)
        return result

    def forget_batches_now(self, batches: Sequence[str]) -> None:
        """:meth:`forget_batches` in its own transaction."""
        if batches:
            self.write(lambda conn: self.forget_batches(conn, batches))

    @staticmethod
    def meta_value(conn: sa.Connection, key: str) -> str | None:
        """The ``as_meta`` value of ``key`` (``None`` if unset)."""
        row = conn.execute(sa.select(S.meta.c.value).where(S.meta.c.key == key)).first()
        return None if row is None else str(row[0])

    @staticmethod
    def set_meta(conn: sa.Connection, key: str, value: str) -> None:
        """Set ``as_meta[key] = value`` inside ``conn``'s transaction."""
        conn.execute(sa.delete(S.meta).where(S.meta.c.key == key))
        conn.execute(sa.insert(S.meta).values(key=key, value=value))

    @staticmethod
    def clear_meta(conn: sa.Connection, key: str) -> None:
        """Remove ``as_meta[key]`` inside ``conn``'s transaction."""
        conn.execute(sa.delete(S.meta).where(S.meta.c.key == key))

    def mark_blobs_suspect(self, blob_keys: Sequence[str]) -> None:
        """See :meth:`artifactstore.catalog.base.Catalog.mark_blobs_suspect`."""
        keys = sorted(set(blob_keys))
        if keys:
            self.write(lambda conn: [self.set_meta(conn, suspect_key(k), k) for k in keys])

    def clear_blob_suspect(self, blob_keys: Sequence[str]) -> None:
        """See :meth:`artifactstore.catalog.base.Catalog.clear_blob_suspect`."""
        keys = sorted(set(blob_keys))
        if keys:
            self.write(lambda conn: [self.clear_meta(conn, suspect_key(k)) for k in keys])

    def is_blob_suspect(self, blob_key: str) -> bool:
        """See :meth:`artifactstore.catalog.base.Catalog.is_blob_suspect`."""
        return self.read(lambda conn: self.meta_value(conn, suspect_key(blob_key))) is not None

    def sync_pending(self) -> str | None:
        """The source URL of a sync still awaiting its reindex (``as_meta`` ``sync-pending``)."""
        result: str | None = self.read(lambda conn: self.meta_value(conn, SYNC_PENDING_KEY))
        return result

    def reserve_versions(
        self,
        counts: Mapping[str, int],
        *,
        sync_source: str | None = None,
        before_commit: Callable[[dict[str, int]], JournalBatch | None] | None = None,
    ) -> dict[str, int]:
        """Take ``counts[name]`` new version numbers of each name; with ``sync_source``, mark
        the catalog as awaiting a sync's reindex; ``before_commit(first)``; one transaction
        (see :meth:`Catalog.reserve_versions <artifactstore.catalog.base.Catalog.reserve_versions>`)."""

        def txn(conn: sa.Connection) -> dict[str, int]:
            first = self.reserve_versions_in(conn, counts) if counts else {}
            if sync_source is not None:
                self.set_meta(conn, SYNC_PENDING_KEY, sync_source)
            if before_commit is not None:
                note_journal(conn, before_commit(dict(first)))
            return first

        result: dict[str, int] = self.write(txn)
        return result

    @staticmethod
    def reserve_versions_in(conn: sa.Connection, counts: Mapping[str, int]) -> dict[str, int]:
        """Inside a write transaction: take ``counts[name]`` new version numbers of each name;
        return the first number taken per name (names in sorted order: no deadlocks)."""
        first: dict[str, int] = {}
        for name in sorted(counts):
            row = conn.execute(sa.select(S.names.c.last_version).where(S.names.c.name == name)
                               .with_for_update()).first()
            last = int(row[0]) if row else 0
            if row is None:
                conn.execute(sa.insert(S.names).values(name=name, last_version=last + counts[name]))
            else:
                conn.execute(sa.update(S.names).where(S.names.c.name == name)
                             .values(last_version=last + counts[name]))
            first[name] = last + 1
        return first

    def existing_ids(self, ids: Sequence[str]) -> set[str]:
        """The ids among ``ids`` the catalog holds."""
        out: set[str] = set()
        for i in range(0, len(ids), 500):
            chunk = list(ids[i : i + 500])
            sel = sa.select(S.artifacts.c.id).where(S.artifacts.c.id.in_(chunk))
            out.update(self.read(lambda c, sel=sel: [str(r[0]) for r in c.execute(sel)]))
        return out

    # --- leases --------------------------------------------------------------------------

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
