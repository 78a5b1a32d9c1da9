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
import logging
import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import sqlalchemy as sa

from ..errors import CatalogError
from ..ids import new_id
from . import dbapi
from . import schema as S
from .base import JournalBatch

__all__ = [
    "CLAIM_SECONDS", "REINDEXED_KEY", "SUSPECT_PREFIX", "SYNC_PENDING_KEY", "LeaseTables", "exclude_writers",
    "lock_for_reindex", "note_journal", "suspect_key",
]


T = TypeVar("T")
log = logging.getLogger("artifactstore")
_LOCK_NAMESPACE = 0x6173  # "as": our advisory-lock namespace on PostgreSQL
_REINDEX_LOCK = 0x72696478  # "ridx": the reindex lock's key in that namespace
_BATCH = "batch:"
_CLAIM = "claim:"
_INSERT_META = sa.insert(S.meta)
_DELETE_META = sa.delete(S.meta).where(S.meta.c.key == sa.bindparam("key"))
_DELETE_LEASE = sa.delete(S.inflight).where(S.inflight.c.token == sa.bindparam("token"))
#: How long a digest's claim (:meth:`LeaseTables.lease_digest`) lasts unless its owner renews it:
#: the longest a killed writer's claim keeps a writer of the same content waiting.
CLAIM_SECONDS = 30.0
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
_WRITER_TABLES = (S.locks, S.names, S.artifacts, S.champions, S.evaluations, S.aliases, S.pack_members)


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


def _claim_digest(
    conn: sa.Connection, sha256: str, token: str, ttl: float, claim_seconds: float, takeover: bool
) -> tuple[tuple[str, str, int] | None, int] | None:
    """Under the digest lock: claim ``sha256`` for ``token`` and insert its lease; return the
    live blob of the digest and the number of other leases, or ``None`` if another owner's
    claim is live (unless ``takeover``)."""
    _lock_digests(conn, [sha256])
    now = time.time()
    key = _claim_key(sha256)
    row = conn.execute(sa.select(S.meta.c.value).where(S.meta.c.key == key)).first()
    if row is not None:
        owner, _, expires = str(row[0]).partition(" ")
        if owner != token and _float(expires) > now and not takeover:
            return None
        conn.execute(sa.delete(S.meta).where(S.meta.c.key == key))
    conn.execute(sa.insert(S.meta).values(key=key, value=f"{token} {now + claim_seconds!r}"))
    conn.execute(sa.delete(S.inflight).where(S.inflight.c.token == token))  # a retried transaction
    conn.execute(sa.insert(S.inflight).values(token=token, sha256=sha256, expires_at=now + ttl))
    blob = conn.execute(
        sa.select(S.artifacts.c.blob_key, S.artifacts.c.codec, S.artifacts.c.stored_size)
        .where(S.artifacts.c.sha256 == sha256).limit(1)).first()
    others = int(conn.execute(
        sa.select(sa.func.count()).select_from(S.inflight)
        .where(S.inflight.c.sha256 == sha256, S.inflight.c.expires_at > now, S.inflight.c.token != token))
        .scalar_one())
    return (None if blob is None else (str(blob[0]), str(blob[1]), int(blob[2]))), others


def _drop_claim(conn: sa.Connection, sha256: str, token: str, *, release: bool = False) -> None:
    if release:  # the lease too: the decision failed
        conn.execute(sa.delete(S.inflight).where(S.inflight.c.token == token))
    conn.execute(sa.delete(S.meta).where(S.meta.c.key == _claim_key(sha256), S.meta.c.value.startswith(token + " ")))


def _claim_key(sha256: str) -> str:
    # as_meta keys are 64 characters at most: 58 hex digits (232 bits) name the digest
    return _CLAIM + sha256[: 64 - len(_CLAIM)]


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return 0.0  # an unreadable claim counts as expired


class LeaseTables:
    """Mixin of :class:`~artifactstore.catalog.sql.SQLCatalog` for in-flight leases."""

    write: Callable[..., Any]
    read: Callable[..., Any]

    # --- pending journal batches ---------------------------------------------------------

    @staticmethod
    def note_batch(conn: sa.Connection, batch: str, folder: str) -> None:
        """In the transaction that commits journal ``batch`` (of journal ``folder``): remember it
        as pending until its commit marker is written."""
        dbapi.run(conn, _INSERT_META, {"key": _BATCH + batch, "value": folder})

    @staticmethod
    def forget_batches(conn: sa.Connection, batches: Sequence[str]) -> None:
        """Drop the pending rows of ``batches`` (their commit markers are written)."""
        dbapi.run_many(conn, _DELETE_META, [{"key": _BATCH + b} for b in batches])

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

    def lease_digest(
        self,
        sha256: str,
        ttl: float,
        decide: Callable[[tuple[str, str, int] | None, int], T],
        *,
        claim_seconds: float = CLAIM_SECONDS,
    ) -> tuple[str, T]:
        """Take a lease on ``sha256`` and run ``decide`` while this caller holds the digest's
        claim; return ``(lease token, what decide returned)``.

        No transaction is open while ``decide`` runs (it may upload a large blob): one short
        write transaction under the per-digest lock (the one :meth:`sweep_blobs` takes)
        claims the digest (an ``as_meta`` ``claim:<sha256 prefix>`` row: owner token, expiry),
        inserts the lease and reads the live blob of the digest and the number of other
        unexpired leases on it; ``decide(existing, others)`` then runs; a second short
        transaction drops the claim (the lease stays, until the insert that commits the
        artifact releases it, or ``ttl``). While ``decide`` runs a thread renews the claim
        every ``claim_seconds / 3``. A caller finding another's live claim waits (polling,
        backoff up to 0.5 s) until it is dropped or expires (its owner was killed: the claim
        is taken over) and then decides, seeing what the first published. If ``decide``
        raises, the claim and the lease are dropped.
        """
        token = new_id()
        started = time.monotonic()
        delay = 0.01
        while True:
            # past ``ttl`` of waiting, a claim that is still renewed is taken over anyway
            takeover = time.monotonic() - started > ttl
            got = self.write(lambda conn, t=takeover: _claim_digest(conn, sha256, token, ttl, claim_seconds, t))
            if got is not None:
                break
            time.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 0.5)
        stop = threading.Event()
        renewer = threading.Thread(target=self._renew_claim, args=(sha256, token, claim_seconds, stop),
                                   name="artifactstore-claim", daemon=True)
        renewer.start()
        try:
            result = decide(*got)
        except BaseException:
            stop.set()
            renewer.join()
            self.write(lambda conn: _drop_claim(conn, sha256, token, release=True))
            raise
        stop.set()
        renewer.join()
        try:
            self.write(lambda conn: _drop_claim(conn, sha256, token))
        except CatalogError as exc:  # the blob is published and leased: the claim lapses by itself
            log.warning("could not drop the claim of digest %s (it lapses in %g s): %s", sha256, claim_seconds, exc)
        return token, result

    def _renew_claim(self, sha256: str, token: str, claim_seconds: float, stop: threading.Event) -> None:
        key = _claim_key(sha256)
        while not stop.wait(claim_seconds / 3):
            value = f"{token} {time.time() + claim_seconds!r}"
            try:
                self.write(lambda conn, value=value: conn.execute(
                    sa.update(S.meta).where(S.meta.c.key == key, S.meta.c.value.startswith(token + " "))
                    .values(value=value)))
            except Exception as exc:  # the claim then lapses: a waiter takes over, nothing breaks
                log.warning("could not renew the claim of digest %s: %s", sha256, exc)

    @staticmethod
    def release_leases(conn: sa.Connection, tokens: list[str]) -> None:
        dbapi.run_many(conn, _DELETE_LEASE, [{"token": t} for t in tokens])

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
