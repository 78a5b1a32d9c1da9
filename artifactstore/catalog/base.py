"""The catalog contract: everything the store and its operations ask of a catalog.

The catalog is an *index* of what the backend holds (the journals there are the source of
truth, see :mod:`artifactstore.manifests`); :class:`Catalog` lists, method by method, what
:class:`~artifactstore.ArtifactStore`, gc, sync, archive, checkout, the CLI, the UI and the
seed facade call on ``store.catalog``, and nothing more. The built-in implementation is
:class:`artifactstore.catalog.sql.SQLCatalog` (SQLite and PostgreSQL); a catalog plugin
(``artifactstore_register_catalogs``) returns any object that satisfies this protocol, and
proves it by passing :class:`artifactstore.testing.CatalogTests`.

Transactions
    Every method is its own unit of work: a write either commits entirely or raises and
    leaves nothing behind. A catalog never hands a driver connection (or any handle on a
    transaction) to its caller. Where the store must do something *inside* a write
    transaction (append the journal batch that makes the change durable in the backend),
    the write method takes a ``before_commit`` callback: the catalog calls it after its own
    changes, before committing, and the callback returns plain data, a
    :class:`JournalBatch`, which the catalog notes as pending in that same transaction.
    If the transaction fails and is retried, the callback runs again (it is written for
    that: each call appends a new batch, and a batch whose transaction rolled back never
    gets a commit marker). An exception raised by a callback aborts the write: nothing
    is committed and the exception propagates unchanged.

Errors
    Invalid arguments (an unknown ordering, a negative limit, a malformed filter) raise
    :class:`~artifactstore.errors.InvalidInputError`; a failure of the database itself
    (unreachable, lock wait exhausted after retries, constraint broken) raises
    :class:`~artifactstore.errors.CatalogError`. Lookups of something that does not exist
    return ``None`` or an empty result; raising ``ArtifactNotFoundError`` is the store's job.

Concurrency
    A catalog object is shared by all threads of a store and, for a cluster's shared
    database, by many processes on many machines: every method must be safe to call
    concurrently, and the guarantees below (versions never repeated, one champion per
    comparison, no blob swept while leased, reindex never dropping a concurrent commit)
    must hold across processes, not only threads.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, runtime_checkable

from ..errors import PluginError
from ..models import Artifact, ChampionRecord, EvaluationRecord, StoreStats

if TYPE_CHECKING:
    from .search import SearchQuery

T = TypeVar("T")

__all__ = [
    "CATALOG_MEMBERS",
    "FILTER_KEYS",
    "ORDER_BY",
    "AliasRow",
    "Catalog",
    "CatalogContents",
    "FindFilters",
    "JournalBatch",
    "PackIndex",
    "as_catalog",
]

#: Filters of :meth:`Catalog.find`, :meth:`Catalog.count`, :meth:`Catalog.search`,
#: :meth:`Catalog.stats` and :meth:`Catalog.iter_all`: a mapping of some of
#: :data:`FILTER_KEYS` to values. An empty mapping matches every artifact.
FindFilters = Mapping[str, Any]

#: Every filter key a catalog understands. ``artifact_type``, ``model_id``, ``evaluation_id``,
#: ``suite_name``, ``map_name``, ``episode_id``, ``name`` and ``sha256``: equal to the value,
#: or to any of a list/tuple/set of values. ``name_prefix``: the name starts with it (taken
#: literally: ``%`` and ``_`` are not wildcards). ``created_after`` / ``created_before``: strictly
#: after / before a timestamp (epoch seconds, ISO-8601 text or a ``datetime``; naive means UTC).
#: ``id_after``: id greater than the value (keyset pagination). ``tags``: one tag or a list,
#: with ``tags_mode`` ``"any"`` (default: has one of them) or ``"all"``. ``metadata``: a mapping
#: of top-level metadata keys to values the artifact's metadata must hold exactly (values
#: compared as canonical JSON: ``{"a": 1, "b": 2}`` equals ``{"b": 2, "a": 1}``).
#: A ``None`` value means "no condition".
FILTER_KEYS: frozenset[str] = frozenset({
    "artifact_type", "model_id", "evaluation_id", "suite_name", "map_name", "episode_id", "name", "sha256",
    "name_prefix", "created_after", "created_before", "id_after", "tags", "tags_mode", "metadata",
})

#: Orderings of :meth:`Catalog.find`. ``created_at`` / ``-created_at`` (alias ``oldest`` /
#: ``newest``) tie-break by id; ``name`` / ``-name`` by version; ``size``, ``-size``, ``version``,
#: ``-version`` by id; ``id`` is id order alone.
ORDER_BY: tuple[str, ...] = ("-created_at", "created_at", "newest", "oldest", "name", "-name", "size", "-size",
                             "version", "-version", "id")


@dataclass(frozen=True)
class JournalBatch:
    """A journal batch the store appended inside a catalog write transaction.

    Returned by a ``before_commit`` callback. The catalog records ``batch_id`` (of the
    journal ``folder``: ``manifests``, ``records`` or ``versions``) as *pending* in the same
    transaction that commits the change, so that a batch whose transaction committed but
    whose commit marker was never written (the writer died in between) is found again by
    :meth:`Catalog.pending_batches` and sealed by the next open of the store. In the same
    transaction it forgets the pending rows of ``settled`` (batches whose markers are
    written), as :meth:`Catalog.forget_batches_now` would.
    """

    batch_id: str
    folder: str
    settled: tuple[str, ...] = ()


@dataclass(frozen=True)
class AliasRow:
    """One alias: ``name:alias`` points at the artifact ``artifact_id``, set at ``updated_at``
    (epoch seconds)."""

    name: str
    alias: str
    artifact_id: str
    updated_at: float


@dataclass(frozen=True)
class CatalogContents:
    """Everything a catalog holds, rebuilt from the journals by reindex (:meth:`Catalog.rebuild`).

    ``artifacts``: the live artifacts with their final versions, tags and metadata.
    ``aliases``: the aliases, each pointing at one of ``artifacts``. ``last_versions``: per
    name, the highest version number ever given (deleted versions included), so that a new
    version never reuses a number. ``evaluations``: evaluation journal entries (the
    ``kind: evaluation`` records, keys as :meth:`Catalog.upsert_evaluation` takes them) in
    journal order, a later entry of the same ``evaluation_id`` replacing an earlier one.
    ``champions``: champion entries (as ``make_entry`` of :meth:`Catalog.promote` returns
    them) with consecutive ``seq_no`` from 1; the first entry of a ``champion_id`` counts, and
    each one's evaluation is marked as a champion.
    """

    artifacts: Sequence[Artifact]
    aliases: Sequence[AliasRow] = ()
    last_versions: Mapping[str, int] = field(default_factory=dict)
    evaluations: Sequence[Mapping[str, Any]] = ()
    champions: Sequence[Mapping[str, Any]] = ()
    #: ``(blob key, pack, offset, length)`` of every packed blob, read from the packs' trailers
    #: (a catalog that is a :class:`PackIndex` replaces its pack index with them); ``None``:
    #: leave the pack index as it is.
    packs: Sequence[tuple[str, str, int, int]] | None = None


@runtime_checkable
class Catalog(Protocol):
    """What a store needs from its catalog (see the module docstring for the rules that
    hold for every method: transactions, errors, concurrency)."""

    @property
    def url(self) -> str:
        """The catalog's URL with any credentials removed: safe to print and log."""
        ...

    @property
    def dialect(self) -> str:
        """What kind of database holds the catalog: SQLAlchemy's dialect name (``"sqlite"``,
        ``"postgresql"``) for a SQL catalog, any other short word otherwise. Only a hint for
        sizing work: gc's sweep takes smaller batches on a shared ``"postgresql"`` database
        (each batch holds its digests' locks while it deletes)."""
        ...

    def close(self) -> None:
        """Release every connection and resource. Called once, by the store's ``close``; the
        catalog is not used afterwards."""
        ...

    # --- writing artifacts ------------------------------------------------------------------

    def insert_artifacts(
        self,
        rows: Sequence[dict[str, Any]],
        before_commit: Callable[[list[Artifact]], JournalBatch | None] | None = None,
    ) -> list[Artifact]:
        """Insert new artifacts, atomically: all of ``rows`` become visible together, or none.

        Each row holds the fields of an :class:`~artifactstore.Artifact` except ``version``
        (``id``, ``name``, ``artifact_type``, ``sha256``, ``size``, ``stored_size``, ``codec``,
        ``blob_key``, ``created_at`` as epoch seconds or ``datetime``, optional ``model_id``,
        ``evaluation_id``, ``suite_name``, ``map_name``, ``episode_id``, ``tags``, ``metadata``),
        plus optionally ``codec_error`` (text kept with the row) and ``leases`` (tokens of
        :meth:`take_lease`, released in the same transaction). The catalog gives each row the
        next version of its name: versions of a name are 1, 2, 3... in the order of ``rows``
        and of the commits, never repeated, never reused after a delete, and two concurrent
        inserts of the same name never get the same number.

        ``before_commit(records)`` gets the finished records (in the order of ``rows``) inside
        the transaction; its :class:`JournalBatch` is noted as pending there. Returns the
        records. An ``id`` already in the catalog raises
        :class:`~artifactstore.errors.CatalogError` and inserts nothing.
        """
        ...

    def delete_artifacts(
        self,
        ids: Sequence[str],
        before_commit: Callable[[list[Artifact]], JournalBatch | None] | None = None,
    ) -> list[Artifact]:
        """Delete the artifacts among ``ids`` that exist, with their tags, metadata index,
        search index and aliases, in one transaction; return the deleted records.

        Ids that name nothing are ignored. Of two concurrent deletes of the same artifact
        exactly one reports it. ``before_commit(deleted)`` runs inside the transaction, only
        when something was deleted. The names' version counters are kept.
        """
        ...

    def update_artifact(
        self,
        artifact_id: str,
        change: Callable[[Artifact], tuple[tuple[str, ...], dict[str, Any]]],
        before_commit: Callable[[Artifact], JournalBatch | None] | None = None,
    ) -> Artifact | None:
        """Replace an artifact's tags and metadata, read-modify-write in one transaction.

        ``change(current)`` returns the new ``(tags, metadata)``; it runs with the artifact's
        row locked, so two concurrent edits both apply (neither is lost). Tags keep the
        order given, without repeats. The tag and metadata filters and the search index
        follow in the same transaction. ``before_commit(new)`` runs inside it. Returns the
        new record, or ``None`` (and ``change`` is not called) when no artifact has that id.
        Name, version, content and id never change.
        """
        ...

    def reserve_versions(
        self,
        counts: Mapping[str, int],
        *,
        sync_source: str | None = None,
        before_commit: Callable[[dict[str, int]], JournalBatch | None] | None = None,
    ) -> dict[str, int]:
        """Take ``counts[name]`` new version numbers of each name without inserting artifacts
        (sync gives arriving artifacts this store's next numbers); return the first number
        taken per name. Later inserts continue after the numbers taken.

        With ``sync_source`` (the source store's URL), also mark the catalog as awaiting the
        reindex that finishes a sync (:meth:`sync_pending` returns it until
        :meth:`rebuild`). ``before_commit(first)`` gets the returned mapping inside the
        transaction. All of it is one transaction.
        """
        ...

    # --- reading artifacts ------------------------------------------------------------------

    def get(self, artifact_id: str) -> Artifact | None:
        """The artifact with this id (the full id, exactly), or ``None``."""
        ...

    def get_version(self, name: str, version: int | None) -> Artifact | None:
        """Version ``version`` of ``name``, or its highest existing version when ``version`` is
        ``None`` (or 0); ``None`` when there is no such artifact."""
        ...

    def get_alias(self, name: str, alias: str) -> Artifact | None:
        """The artifact ``name:alias`` points at, or ``None``."""
        ...

    def missing_ids(self, ids: Sequence[str]) -> list[str]:
        """Those of ``ids`` that no artifact has, without repeats, in the order given (the
        dangling references of evaluations and champions). Any number of ids."""
        ...

    def existing_ids(self, ids: Sequence[str]) -> set[str]:
        """Those of ``ids`` that an artifact has. Any number of ids."""
        ...

    def ids_matching(self, fragment: str, limit: int = 10) -> list[str]:
        """Ids that start or end with ``fragment``, sorted, at most ``limit``: how a short id is
        resolved and how the shortest unique form of an id is found. A fragment with anything
        but lower-case hex digits and dashes matches nothing (returns ``[]``)."""
        ...

    def find(
        self, filters: FindFilters, *, order_by: str = "-created_at", limit: int | None = None, offset: int = 0
    ) -> list[Artifact]:
        """The artifacts matching every one of ``filters`` (see :data:`FILTER_KEYS`), in the
        order ``order_by`` (one of :data:`ORDER_BY`), skipping ``offset``, at most ``limit``.

        Raises :class:`~artifactstore.errors.InvalidInputError` for an unknown ordering, a
        negative ``limit`` or ``offset``, a ``tags_mode`` other than ``"any"``/``"all"``, a
        ``metadata`` filter that is not a mapping, or a timestamp it cannot read.
        """
        ...

    def count(self, filters: FindFilters) -> int:
        """How many artifacts :meth:`find` would return for ``filters`` without a limit."""
        ...

    def search(
        self, query: SearchQuery, filters: FindFilters, *, limit: int | None = 50, offset: int = 0
    ) -> list[Artifact]:
        """Full-text search: the artifacts matching the parsed ``query``
        (:func:`artifactstore.catalog.search.parse_query`: every positive term, prefix terms
        as prefixes, no negative term, over name, fields, tags and flattened metadata, words
        split as :func:`~artifactstore.catalog.search.tokens` does) and every filter, best
        match first, then newest. An edited artifact is found by its new tags and metadata
        only. Negative ``limit``/``offset``: ``InvalidInputError``."""
        ...

    def iter_all(self, batch: int = 1000, filters: FindFilters | None = None) -> Iterator[Artifact]:
        """Every artifact (matching ``filters``) in id order, fetched ``batch`` at a time: a
        long iteration never holds one transaction open, and sees each artifact that exists
        throughout it exactly once."""
        ...

    def stats(self, filters: FindFilters | None = None) -> StoreStats:
        """Aggregate figures over the artifacts matching ``filters``: counts, total original
        size, unique blobs (by ``blob_key``) with their original and stored sizes, stored bytes
        per codec, counts per artifact type and per model (artifacts without a model left out).

        Exact, in one snapshot: always equal to those figures recomputed from the artifacts
        :meth:`find` returns, after any sequence of inserts, deletes, edits and rebuilds, and
        with writers committing concurrently. Called on every listing page of the web UI: without
        filters (or with only ``None`` values) it must not scan the artifacts. SQLCatalog keeps
        the unfiltered figures up to date in the write transactions (per-blob reference counts
        and per-dimension counters, see :mod:`artifactstore.catalog.stats`) and aggregates the
        matching rows when filtered."""
        ...

    def blob_of(self, sha256: str) -> tuple[str, str, int] | None:
        """``(blob_key, codec, stored_size)`` of some live artifact whose content has this
        SHA-256, or ``None``: how a put finds content that is already stored (dedup). Called
        on every put: keep it one indexed lookup."""
        ...

    def referenced_blob_keys(self) -> set[str]:
        """The ``blob_key`` of every artifact: what gc must not sweep."""
        ...

    # --- aliases ----------------------------------------------------------------------------

    def set_alias(
        self, name: str, alias: str, artifact_id: str, before_commit: Callable[[], JournalBatch | None] | None = None
    ) -> None:
        """Point ``name:alias`` at ``artifact_id``, creating the alias or moving it, in one
        transaction with ``before_commit()``. The catalog does not check the artifact."""
        ...

    def delete_alias(
        self, name: str, alias: str, before_commit: Callable[[str], JournalBatch | None] | None = None
    ) -> str | None:
        """Remove ``name:alias``; return the id it pointed at, or ``None`` when there was no such
        alias. ``before_commit(artifact_id)`` runs inside the transaction, only when one was
        removed. Of two concurrent removals exactly one returns the id."""
        ...

    def aliases_of(self, artifact_id: str) -> list[str]:
        """The aliases (the part after ``:``) pointing at ``artifact_id``, sorted."""
        ...

    # --- evaluations and champions ----------------------------------------------------------

    def upsert_evaluation(
        self, entry: Mapping[str, Any], before_commit: Callable[[], JournalBatch | None] | None = None
    ) -> EvaluationRecord:
        """Record an evaluation, replacing any earlier one with the same ``evaluation_id``;
        return the record as stored.

        ``entry`` holds ``evaluation_id``, ``model_id``, ``timestamp`` (epoch seconds),
        ``global_score``, ``success_rate`` and optionally ``is_champion``, ``champion_rank``,
        ``metrics``, ``artifacts`` (ids), ``metadata``, ``repro`` (JSON-able values). An
        evaluation that a champion names stays ``is_champion`` when re-recorded without it
        (so that the live catalog equals what reindex rebuilds). ``before_commit()`` runs
        inside the transaction.
        """
        ...

    def get_evaluation(self, evaluation_id: str) -> EvaluationRecord | None:
        """The evaluation with that id, or ``None``."""
        ...

    def evaluations(
        self, model_id: str | None = None, champions_only: bool = False, limit: int | None = None,
        order: str = "-timestamp",
    ) -> list[EvaluationRecord]:
        """Evaluations (of ``model_id``; only those marked champion with ``champions_only``),
        newest first (``order="timestamp"``: oldest first), ties by id, at most ``limit``."""
        ...

    def evaluation_scores(self) -> dict[str, float]:
        """``global_score`` of every evaluation, by ``evaluation_id`` (retention policies)."""
        ...

    def promote(
        self,
        make_entry: Callable[[ChampionRecord | None], dict[str, Any] | None],
        before_commit: Callable[[dict[str, Any], list[Artifact]], JournalBatch | None],
    ) -> tuple[ChampionRecord | None, ChampionRecord | None]:
        """Compare with the current champion and append a new one, atomically; return
        ``(new, previous)`` (``new`` is ``None`` when declined).

        Under a lock that serialises every promotion (across processes too), the catalog
        reads the current champion and calls ``make_entry(current)``: it returns the new
        champion entry (``champion_id``, ``seq_no`` (current's ``seq`` + 1, or 1), ``model_id``,
        ``evaluation_id``, ``timestamp``, ``global_score``, ``success_rate``,
        ``previous_champion``, ``previous_model_id``, ``improvement_metrics``, ``metrics``,
        ``artifacts``) or ``None`` to decline (then nothing is written and ``before_commit``
        is not called). Two workers can never both see the same current champion and both
        win. The catalog then inserts the champion, marks its evaluation (if any) as a
        champion, points the ``champion`` alias of each of the entry's ``artifacts`` that
        exists at it (``name:champion``), and calls ``before_commit(entry, aliased)`` with
        those artifacts, in the same transaction.
        """
        ...

    def current_champion(self) -> ChampionRecord | None:
        """The champion with the highest ``seq``, or ``None`` before the first promotion."""
        ...

    def champion_history(self, limit: int | None = None, model_id: str | None = None) -> list[ChampionRecord]:
        """The champion chain (of ``model_id``), highest ``seq`` first, at most ``limit``."""
        ...

    def champion_artifact_ids(self) -> set[str]:
        """Ids linked from any champion record or from an evaluation marked champion
        (what ``keep_champions`` retention protects)."""
        ...

    # --- blob leases (gc safety) ------------------------------------------------------------

    def take_lease(self, sha256: str, ttl: float = 3600.0) -> str:
        """Protect blobs with this content from :meth:`sweep_blobs` for ``ttl`` seconds; return
        the lease's token. A put takes one before relying on a stored blob (dedup) and
        releases it in the insert's transaction (``leases`` of :meth:`insert_artifacts`).
        Taking a lease and sweeping the same digest are mutually exclusive."""
        ...

    def lease_digest(
        self, sha256: str, ttl: float, decide: Callable[[tuple[str, str, int] | None, int], T]
    ) -> tuple[str, T]:
        """Take a lease on ``sha256`` (as :meth:`take_lease`, ``ttl`` seconds) and call
        ``decide(existing, others)`` as the digest's only decider; return ``(lease token,
        what decide returned)``.

        How the blob layer publishes new content on an object store exactly once:
        ``existing`` is :meth:`blob_of` of the digest and ``others`` the number of other
        unexpired leases on it, both read under the digest's lock (the one
        :meth:`sweep_blobs` takes) after the lease is taken, and ``decide`` (which may upload
        a large blob) then reuses a stored blob or publishes one.

        - *Leased before visible*: the lease exists before ``decide`` runs, so a sweep can
          never delete what ``decide`` publishes; it lasts until the insert that commits the
          artifact releases it (``leases`` of :meth:`insert_artifacts`), or ``ttl``.
        - *One decider per digest*: of two calls for one digest (threads, processes, machines
          sharing the catalog), the second's ``decide`` starts after the first's returned or
          raised, and sees the first's lease (``others``) and whatever it published. A caller
          killed inside ``decide`` holds up the others of its digest for a bounded time only
          (the built-in catalog: 30 s, :data:`artifactstore.catalog.leases.CLAIM_SECONDS`),
          after which one of them takes over.
        - *No lock held across decide*: no write transaction, table lock or store-wide lock
          is held while ``decide`` runs: writes of other content proceed meanwhile (on
          SQLite, a transaction open across an upload would hold up every writer).
        - ``decide`` runs once per call. If it raises, the lease is dropped and the exception
          propagates.
        """
        ...

    def release_leases_now(self, tokens: list[str]) -> None:
        """End these leases (unknown tokens are ignored), in their own transaction."""
        ...

    def expire_leases(self) -> int:
        """Remove the leases whose ``ttl`` has passed; return how many."""
        ...

    def mark_blobs_suspect(self, blob_keys: Sequence[str]) -> None:
        """Remember, durably and in one transaction, that a verify found these blobs corrupt.

        A put of the same content then re-publishes the blob (healing it) instead of
        sharing it: a flipped byte keeps the size that dedup's cheap check compares. The
        marks are the catalog's own state, not part of the journals: a rebuilt catalog
        starts with none (the next verify finds the damage again)."""
        ...

    def clear_blob_suspect(self, blob_keys: Sequence[str]) -> None:
        """Forget the marks of these blobs (healed or repaired), in one transaction;
        keys without a mark are ignored."""
        ...

    def is_blob_suspect(self, blob_key: str) -> bool:
        """Whether :meth:`mark_blobs_suspect` marked ``blob_key`` and nothing cleared it since."""
        ...

    def sweep_blobs(
        self, candidates: Sequence[tuple[str, str]], delete: Callable[[str], bool]
    ) -> tuple[list[str], int]:
        """gc's sweep of one batch of ``(sha256, blob_key)`` candidates; return
        ``(deleted keys, number skipped)``.

        In one transaction holding the lock of each candidate's digest (the lock
        :meth:`take_lease` takes; on a shared database, per digest rather than store-wide),
        the catalog re-checks each candidate: still referenced by an artifact, or leased
        (an unexpired lease on its sha256), it is skipped; otherwise ``delete(key)`` removes
        the object from the backend and returns whether it was there (``False``: skipped).
        So no lease is taken between the check and the delete, and two gc runs never both
        count the same blob. An exception from ``delete`` aborts the batch and propagates.
        """
        ...

    # --- journal bookkeeping ----------------------------------------------------------------

    def pending_batches(self) -> list[tuple[str, str]]:
        """``(batch_id, folder)`` of every batch noted by a :class:`JournalBatch` and not
        forgotten since: committed batches whose commit marker may be missing. Sorted."""
        ...

    def forget_batches_now(self, batches: Sequence[str]) -> None:
        """Drop the pending rows of ``batches`` (their markers are written), in their own
        transaction; unknown ids are ignored, any number of them."""
        ...

    def sync_pending(self) -> str | None:
        """The source URL given to :meth:`reserve_versions` by a sync whose reindex has not
        run yet, or ``None``."""
        ...

    # --- reindex ----------------------------------------------------------------------------

    def rebuild(
        self,
        build: Callable[[frozenset[str]], CatalogContents],
        *,
        only_if_fresh: bool = False,
        has_journals: Callable[[], bool] | None = None,
    ) -> int | None:
        """Replace the catalog's whole content with what ``build`` returns, in one transaction
        that excludes every writer; return the number of artifacts, or ``None`` when
        ``only_if_fresh`` found nothing to do.

        The catalog first becomes the one rebuilder (concurrent rebuilds wait; on a shared
        database, across processes), then waits for the journalled writes in flight and
        holds new ones until it commits, then calls ``build(pending)`` with the ids of the
        pending batches (:meth:`pending_batches`), which reads the journals, counting those
        batches as committed. So a write committed while a rebuild runs is never dropped.
        Artifacts, aliases, version counters, evaluations and champions are replaced;
        leases and pending batches (live state of running writers) are kept. The catalog is
        then marked as rebuilt, and :meth:`sync_pending` cleared.

        ``only_if_fresh`` (every open of a store): do nothing and return ``None`` when the
        catalog was rebuilt already (or another worker rebuilt it while this one waited)
        and no sync is pending, a cheap check done before taking any lock. When it was
        never rebuilt and no sync is pending, but it holds data already (it was written
        through from the start) or ``has_journals()`` says the store has no journals yet,
        mark it rebuilt and return ``None``. Otherwise rebuild. An exception from ``build``
        aborts the rebuild and leaves the catalog as it was.
        """
        ...


@runtime_checkable
class PackIndex(Protocol):
    """Optional: a catalog that also keeps the pack index (where each packed blob lies).

    The blob layer writes packs (:mod:`artifactstore.packs`) only over a catalog that is a
    ``PackIndex``; over any other catalog every blob stays loose. The index is the catalog's
    copy of the packs' own trailers: ``reindex`` replaces it with what the trailers say
    (:attr:`CatalogContents.packs`). A blob key has at most one row.
    """

    def blobs_of(self, shas: Sequence[str]) -> dict[str, tuple[str, str, int]]:
        """:meth:`Catalog.blob_of` of many digests at once: ``{sha256: (blob_key, codec,
        stored_size)}`` for those of ``shas`` some live artifact has (one indexed read, not
        one per digest: how a packed batch dedups its members)."""
        ...

    def add_pack_members(self, pack: str, members: Sequence[tuple[str, int, int]]) -> None:
        """Index the members ``(blob key, offset, length)`` of the sealed pack ``pack``, in one
        transaction; a key indexed already (in another pack) keeps its row."""
        ...

    def pack_locations(self, keys: Sequence[str]) -> dict[str, tuple[str, int, int]]:
        """``{blob key: (pack, offset, length)}`` for those of ``keys`` that are packed."""
        ...

    def pack_rows(self, pack: str | None = None) -> list[tuple[str, str, int, int]]:
        """Every ``(blob key, pack, offset, length)`` of the index (of one pack, if given),
        sorted by key."""
        ...

    def move_pack_members(self, old: str, new: str | None, members: Sequence[tuple[str, int, int]]) -> None:
        """In one transaction: point the rows of ``members`` (keys pack ``old`` holds) at
        their places ``(key, offset, length)`` in pack ``new``, then drop every row still
        pointing at ``old`` (``new=None``: only drop them)."""
        ...


#: The names a catalog must have: the protocol's methods and attributes.
CATALOG_MEMBERS: tuple[str, ...] = tuple(sorted(n for n in vars(Catalog) if not n.startswith("_")))


def as_catalog(obj: object, *, scheme: str, plugin: str | None = None) -> Catalog:
    """``obj`` (what a catalog factory returned) as a :class:`Catalog`, or a
    :class:`~artifactstore.errors.PluginError` naming what it lacks. Only presence is
    checked here; behaviour is what :class:`artifactstore.testing.CatalogTests` checks."""
    if isinstance(obj, Catalog):
        return obj
    missing = [n for n in CATALOG_MEMBERS if not hasattr(obj, n)]
    close = getattr(obj, "close", None)
    if callable(close):
        close()
    raise PluginError(
        f"the catalog factory for {scheme!r}{f' (plugin {plugin})' if plugin else ''} returned "
        f"{type(obj).__name__}, which is not an artifactstore.catalog.base.Catalog: it lacks "
        f"{', '.join(missing)}", plugin)
