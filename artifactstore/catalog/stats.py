"""The catalog's statistics, kept exact in the write transactions instead of aggregated per call.

``stats()`` of the whole catalog used to aggregate every row (two ``GROUP BY blob_key`` over all
artifacts: 0.4-0.8 s at 100k). Now every write transaction that changes the artifacts also
changes, in that same transaction, the figures they add up to:

- ``stats_blobs``: one row per referenced blob key with its reference count and the figures a
  ``GROUP BY blob_key`` gives it (largest size, stored size and codec of its rows);
- counters per dimension (``total``, ``type``, ``model``, and ``codec`` for the unique blobs),
  each the sum of its folded row in ``stats_totals`` and of the rows writers append to
  ``stats_deltas``.

Concurrency (a cluster's many writers on PostgreSQL). A counter that every put updates in place
(the ``total`` row) would be held locked by each writer until it commits: writers would queue
on it and never commit together. So writers only *append* their changes (one ``stats_deltas``
row per counter their transaction changed, taking no lock another writer waits for); a reader
sums ``stats_totals`` and ``stats_deltas`` in one statement (one snapshot); and a *fold* (by the
write whose delta rows pass a multiple of :data:`FOLD_EVERY` in ``seq`` order, whichever process
it is, or by a reader that met more than :data:`FOLD_AT` delta rows) moves the committed deltas
into ``stats_totals`` in its own short transaction, under a try-lock (a busy fold is skipped,
never waited for) that only reindex and other folds take. The one row writers do update in
place is a blob's row, and only writers of that same content contend for it: each locks the
rows of its blob keys in sorted order, in one statement, after every other lock of its
transaction (names, artifact rows) and after the journal append, so these locks are held for
the commit alone and two writers never wait for each other in a cycle.

Exactness: every change goes through :func:`artifacts_inserted` / :func:`artifacts_deleted` in
the transaction that inserts or deletes the rows; edits change no figure (type, model and
content of an artifact never change); reindex and the v6 migration recompute everything from
the rows (:func:`recompute`). :func:`from_rows` is the aggregate over the rows themselves,
used for filtered statistics and as the reference the maintained figures must equal.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from ..models import Artifact, StoreStats
from . import dbapi
from . import schema as S

__all__ = ["FOLD_AT", "FOLD_EVERY", "artifacts_deleted", "artifacts_inserted", "fold", "from_rows", "read",
           "recompute"]

#: Delta rows between two folds: the write whose rows pass a multiple of it (in ``seq`` order,
#: whichever process wrote them) folds, after its commit (a put of one row appends 3 or 4).
FOLD_EVERY = 256
#: Delta rows a reader may find before it folds them (after answering).
FOLD_AT = 2048
_CHUNK = 400  # rows per multi-row statement: 6 parameters each, under SQLite's 32766
_LOCK_NAMESPACE = 0x6173  # "as", the advisory-lock namespace of catalog/leases.py
_FOLD_LOCK = 0x666F6C64  # "fold"

Blob = tuple[int, int, str]  # (size, stored_size, codec) as GROUP BY blob_key gives them


class _Deltas:
    """Counter changes of one transaction: (dim, key) -> [n, size, stored]."""

    def __init__(self) -> None:
        self.by_key: dict[tuple[str, str], list[int]] = {}

    def add(self, dim: str, key: str, n: int, size: int, stored: int = 0) -> None:
        cur = self.by_key.setdefault((dim, key), [0, 0, 0])
        cur[0] += n
        cur[1] += size
        cur[2] += stored

    def blob(self, old: Blob | None, new: Blob | None) -> None:
        if old == new:
            return
        if old is not None:
            self.add("codec", old[2], -1, -old[0], -old[1])
        if new is not None:
            self.add("codec", new[2], 1, new[0], new[1])

    def artifacts(self, arts: Iterable[Artifact], sign: int) -> None:
        for a in arts:
            self.add("total", "", sign, sign * a.size)
            self.add("type", a.artifact_type, sign, sign * a.size)
            if a.model_id:  # artifacts without a model are left out of the per-model counts
                self.add("model", a.model_id, sign, sign * a.size)

    def rows(self) -> list[dict[str, Any]]:
        return [{"dim": d, "key": k, "n": v[0], "size": v[1], "stored": v[2]}
                for (d, k), v in sorted(self.by_key.items()) if any(v)]

    def write(self, conn: sa.Connection) -> bool:
        """Append the changes as delta rows; return whether their ``seq`` passed a multiple of
        :data:`FOLD_EVERY` (then a fold is due)."""
        rows = self.rows()
        if not rows:
            return False
        if conn.dialect.name == "postgresql":
            result = dbapi.run(conn, _PG_APPEND, _arrays(rows, ("dim", "key", "n", "size", "stored")))
        else:  # a few rows (total, type, model, codec): one call each, RETURNING their seq
            result = [r for row in rows for r in dbapi.run(conn, _APPEND, row)]
        seqs = [int(r[0]) for r in result]
        return min(seqs) // FOLD_EVERY != (max(seqs) + 1) // FOLD_EVERY


def _insert(conn: sa.Connection, table: sa.Table) -> Any:
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table)
    from sqlalchemy.dialects.sqlite import insert as lite_insert

    return lite_insert(table)


def _merge(figures: Sequence[Blob]) -> tuple[Blob, bool]:
    """The GROUP BY figures of rows with these figures, and whether they disagree."""
    first = figures[0]
    if len(figures) == 1 or all(f == first for f in figures):
        return first, False
    distinct = set(figures)
    size = max(f[0] for f in distinct)
    stored = max(f[1] for f in distinct)
    codec = max(f[2] for f in distinct)
    return (size, stored, codec), len(distinct) > 1


BlobState = tuple[Blob, int, bool]  # (figures, refs, mixed) of a stats_blobs row


def _lock_blobs(conn: sa.Connection, if_missing: dict[str, BlobState]) -> dict[str, BlobState]:
    """Lock the ``stats_blobs`` rows of these keys (a delete's), in sorted order; return each
    one's state (``if_missing[key]``, with ``refs`` 0, for a key without a row: figures that
    lost track, recounted by the caller).

    PostgreSQL: ``SELECT .. ORDER BY blob_key FOR UPDATE`` (rows are locked in the order they
    come out), in sorted chunks, so two writers of the same blobs wait for each other at most
    one way round. SQLite: a plain read (the write transaction, ``BEGIN IMMEDIATE``, excludes
    every other writer)."""
    keys = sorted(if_missing)
    stmt = _SELECT_BLOBS
    if conn.dialect.name == "postgresql":
        stmt = stmt.order_by(S.stats_blobs.c.blob_key).with_for_update()
    out: dict[str, BlobState] = {}
    for i in range(0, len(keys), _CHUNK):
        for k, size, stored, codec, refs, mixed in conn.execute(stmt, {"keys": keys[i : i + _CHUNK]}):
            out[str(k)] = ((int(size), int(stored), str(codec)), int(refs), bool(mixed))
    for k in keys:
        out.setdefault(k, if_missing[k])
    return out


_APPEND = sa.insert(S.stats_deltas).returning(S.stats_deltas.c.seq)
_SELECT_BLOBS = sa.select(
    S.stats_blobs.c.blob_key, S.stats_blobs.c.size, S.stats_blobs.c.stored_size, S.stats_blobs.c.codec,
    S.stats_blobs.c.refs, S.stats_blobs.c.mixed,
).where(S.stats_blobs.c.blob_key.in_(sa.bindparam("keys", expanding=True)))
_STATEMENTS: dict[tuple[str, str], Any] = {}


def _save_statement(conn: sa.Connection) -> Any:
    """Write a blob row's final figures, whether it exists or not."""
    key = (conn.dialect.name, "save")
    if key not in _STATEMENTS:
        b = S.stats_blobs
        stmt = _insert(conn, b)
        ex = stmt.excluded
        _STATEMENTS[key] = stmt.on_conflict_do_update(
            index_elements=[b.c.blob_key],
            set_={"size": ex.size, "stored_size": ex.stored_size, "codec": ex.codec, "refs": ex.refs,
                  "mixed": ex.mixed})
    return _STATEMENTS[key]


def _recount(conn: sa.Connection, key: str) -> tuple[Blob | None, int, bool]:
    """A blob's figures, references and disagreement counted from its artifact rows (a scan:
    there is no index on ``blob_key``, and only rows of one key that disagree, which the store
    never writes, come here)."""
    a = S.artifacts.c
    rows = conn.execute(
        sa.select(a.size, a.stored_size, a.codec, sa.func.count()).where(a.blob_key == key)
        .group_by(a.size, a.stored_size, a.codec)
    ).all()
    if not rows:
        return None, 0, False
    figures, mixed = _merge([(int(s), int(st), str(c)) for s, st, c, _n in rows])
    return figures, sum(int(r[3]) for r in rows), mixed


def _save_blobs(conn: sa.Connection, new: Mapping[str, tuple[Blob | None, int, bool]]) -> None:
    b = S.stats_blobs
    gone = sorted(k for k, (f, refs, _m) in new.items() if f is None or refs <= 0)
    for i in range(0, len(gone), _CHUNK):
        conn.execute(sa.delete(b).where(b.c.blob_key.in_(gone[i : i + _CHUNK])))
    kept = [{"blob_key": k, "size": f[0], "stored_size": f[1], "codec": f[2], "refs": refs, "mixed": int(m)}
            for k, (f, refs, m) in sorted(new.items()) if f is not None and refs > 0]
    if kept and conn.dialect.name == "postgresql":
        dbapi.run(conn, _PG_SAVE, _arrays(kept, ("blob_key", "size", "stored_size", "codec", "refs", "mixed")))
    elif kept:
        dbapi.run_many(conn, _save_statement(conn), kept)


def _by_blob(arts: Iterable[Artifact]) -> dict[str, list[Blob]]:
    out: dict[str, list[Blob]] = {}
    for a in arts:
        out.setdefault(a.blob_key, []).append((a.size, a.stored_size, a.codec))
    return out


def _arrays(rows: Sequence[Mapping[str, Any]], cols: Sequence[str]) -> dict[str, list[Any]]:
    return {c: [r[c] for r in rows] for c in cols}


# PostgreSQL statements taking one array per column (``unnest ... WITH ORDINALITY ORDER BY``: the
# rows go in, and get locked, in the order of the arrays): constant text, prepared by the driver,
# six parameters whatever the batch's size.
_PG_BLOBS_IN = ("unnest(CAST(:blob_key AS VARCHAR[]), CAST(:size AS BIGINT[]), CAST(:stored_size AS BIGINT[]), "
                "CAST(:codec AS VARCHAR[]), CAST(:refs AS BIGINT[]), CAST(:mixed AS INTEGER[])) "
                "WITH ORDINALITY AS v (blob_key, size, stored_size, codec, refs, mixed, ord)")
_PG_PUT = sa.text(
    "WITH b AS (INSERT INTO stats_blobs AS sb (blob_key, size, stored_size, codec, refs, mixed) "
    f"SELECT blob_key, size, stored_size, codec, refs, mixed FROM {_PG_BLOBS_IN} ORDER BY ord "
    "ON CONFLICT (blob_key) DO UPDATE SET refs = sb.refs "
    "RETURNING sb.blob_key, sb.size, sb.stored_size, sb.codec, sb.refs, sb.mixed, "
    "CAST(sb.xmax AS TEXT) = '0' AS fresh), "
    "d AS (INSERT INTO stats_deltas (dim, key, n, size, stored) "
    "SELECT * FROM unnest(CAST(:d_dim AS VARCHAR[]), CAST(:d_key AS VARCHAR[]), CAST(:d_n AS BIGINT[]), "
    "CAST(:d_size AS BIGINT[]), CAST(:d_stored AS BIGINT[])) "
    "UNION ALL SELECT CAST('codec' AS VARCHAR), codec, count(*), sum(size), sum(stored_size) FROM b "
    "WHERE fresh GROUP BY codec "
    "RETURNING seq) "
    "SELECT b.blob_key, b.size, b.stored_size, b.codec, b.refs, b.mixed, b.fresh, "
    "(SELECT min(seq) FROM d), (SELECT max(seq) FROM d) FROM b"
)
_PG_APPEND = sa.text(
    "INSERT INTO stats_deltas (dim, key, n, size, stored) "
    "SELECT * FROM unnest(CAST(:dim AS VARCHAR[]), CAST(:key AS VARCHAR[]), CAST(:n AS BIGINT[]), "
    "CAST(:size AS BIGINT[]), CAST(:stored AS BIGINT[])) RETURNING seq"
)
_PG_SAVE = sa.text(
    "INSERT INTO stats_blobs AS sb (blob_key, size, stored_size, codec, refs, mixed) "
    f"SELECT blob_key, size, stored_size, codec, refs, mixed FROM {_PG_BLOBS_IN} ORDER BY ord "
    "ON CONFLICT (blob_key) DO UPDATE SET size = excluded.size, stored_size = excluded.stored_size, "
    "codec = excluded.codec, refs = excluded.refs, mixed = excluded.mixed"
)


def _insert_new_pg(conn: sa.Connection, if_new: dict[str, BlobState], deltas: _Deltas) -> tuple[
        dict[str, BlobState], bool]:
    """PostgreSQL: in one statement, make the rows of new blob keys (with ``if_new``'s state)
    and lock the existing ones (the no-op update of ``ON CONFLICT``; ``xmax = 0`` tells a row
    made now), in sorted key order, and append ``deltas`` (the artifacts' counters) and the
    codec counters of the new blobs. Returns the state of the blobs that existed, whose rows are
    left to update, and whether a fold is due. One round trip for a put of new content."""
    blobs = [{"blob_key": k, "size": st[0][0], "stored_size": st[0][1], "codec": st[0][2], "refs": st[1],
              "mixed": int(st[2])} for k, st in sorted(if_new.items())]
    params: dict[str, list[Any]] = _arrays(blobs, ("blob_key", "size", "stored_size", "codec", "refs", "mixed"))
    for c, v in _arrays(deltas.rows(), ("dim", "key", "n", "size", "stored")).items():
        params["d_" + c] = v
    existing: dict[str, BlobState] = {}
    due = False
    for k, size, stored, codec, refs, mixed, fresh, lo, hi in dbapi.run(conn, _PG_PUT, params):
        if not fresh:
            existing[str(k)] = ((int(size), int(stored), str(codec)), int(refs), bool(mixed))
        if lo is not None and int(lo) // FOLD_EVERY != (int(hi) + 1) // FOLD_EVERY:
            due = True
    return existing, due


def _insert_new_sqlite(conn: sa.Connection, if_new: dict[str, BlobState]) -> dict[str, BlobState]:
    """SQLite (whose write transaction excludes every other writer): make the rows of new blob
    keys with ``if_new``'s state; return the state of those that existed."""
    params = [{"blob_key": k, "size": st[0][0], "stored_size": st[0][1], "codec": st[0][2], "refs": st[1],
               "mixed": int(st[2])} for k, st in sorted(if_new.items())]
    stmt = _insert_if_new(conn)
    made = {str(r[0]) for p in params for r in dbapi.run(conn, stmt, p)}
    rest = sorted(k for k in if_new if k not in made)
    existing: dict[str, BlobState] = {}
    for i in range(0, len(rest), _CHUNK):
        for k, size, stored, codec, refs, mixed in conn.execute(_SELECT_BLOBS, {"keys": rest[i : i + _CHUNK]}):
            existing[str(k)] = ((int(size), int(stored), str(codec)), int(refs), bool(mixed))
    return existing


def _insert_if_new(conn: sa.Connection) -> Any:
    key = (conn.dialect.name, "if_new")
    if key not in _STATEMENTS:
        b = S.stats_blobs
        _STATEMENTS[key] = _insert(conn, b).on_conflict_do_nothing(index_elements=[b.c.blob_key]).returning(
            b.c.blob_key)
    return _STATEMENTS[key]


def artifacts_inserted(conn: sa.Connection, arts: Sequence[Artifact]) -> bool:
    """Inside the write transaction that inserted ``arts``: count them in (their rows are in).
    Returns whether a fold is due once the transaction has committed (:func:`fold`)."""
    if not arts:
        return False
    deltas = _Deltas()
    deltas.artifacts(arts, 1)
    groups = _by_blob(arts)
    if_new: dict[str, BlobState] = {}
    for k, rows in groups.items():
        fig, disagree = _merge(rows)
        if_new[k] = (fig, len(rows), disagree)
    due = False
    if conn.dialect.name == "postgresql":
        existing, due = _insert_new_pg(conn, if_new, deltas)
        deltas = _Deltas()  # appended: what follows is the change of the blobs that existed
    else:
        existing = _insert_new_sqlite(conn, if_new)
        for k in if_new:
            if k not in existing:
                deltas.blob(None, if_new[k][0])
    new: dict[str, BlobState] = {}
    for k, (cur, refs, mixed) in existing.items():
        if refs <= 0:  # a row that lost track: replaced
            new[k] = if_new[k]
            deltas.blob(None, if_new[k][0])
        else:
            fig, disagree = _merge([cur, *groups[k]])
            new[k] = (fig, refs + len(groups[k]), mixed or disagree)
            deltas.blob(cur, fig)
    _save_blobs(conn, new)
    return deltas.write(conn) or due


def artifacts_deleted(conn: sa.Connection, arts: Sequence[Artifact]) -> bool:
    """Inside the write transaction that deleted ``arts``: count them out (their rows are gone).
    Returns whether a fold is due once the transaction has committed (:func:`fold`)."""
    if not arts:
        return False
    deltas = _Deltas()
    deltas.artifacts(arts, -1)
    groups = _by_blob(arts)
    # a key without a row would be figures that lost track: reported with refs 0, then recounted
    current = _lock_blobs(conn, {k: (_merge(v)[0], 0, False) for k, v in groups.items()})
    new: dict[str, tuple[Blob | None, int, bool]] = {}
    for k, rows in groups.items():
        cur, refs, mixed = current[k]
        old = cur if refs > 0 else None
        left = refs - len(rows)
        if left == 0:
            new[k] = (None, 0, False)  # the blob's last references
        elif mixed or left < 0 or _merge([cur, *rows])[1]:
            # rows of this blob disagreed (or the figures lost track): what is left is counted
            # from the rows themselves
            new[k] = _recount(conn, k)
        else:
            new[k] = (cur, left, False)
        deltas.blob(old, new[k][0] if new[k][1] > 0 else None)
    _save_blobs(conn, new)
    return deltas.write(conn)


def _lock_fold(conn: sa.Connection, wait: bool) -> bool:
    if conn.dialect.name != "postgresql":
        return True  # SQLite: the write transaction (BEGIN IMMEDIATE) already excludes the others
    fn = "pg_advisory_xact_lock" if wait else "pg_try_advisory_xact_lock"
    got = conn.execute(sa.text(f"SELECT {fn}(:ns, :k)"), {"ns": _LOCK_NAMESPACE, "k": _FOLD_LOCK}).scalar()
    return wait or bool(got)


def fold(conn: sa.Connection) -> int:
    """Inside a write transaction of its own: move the committed delta rows into
    ``stats_totals``; return how many. Skipped (0) while another fold or a reindex holds the
    fold lock: writers never wait for it, and the next fold picks up what is left."""
    if not _lock_fold(conn, wait=False):
        return 0
    d, t = S.stats_deltas, S.stats_totals
    # DELETE .. RETURNING: exactly the rows this transaction removes (a delta committed meanwhile
    # stays, for the next fold)
    moved = conn.execute(sa.delete(d).returning(d.c.dim, d.c.key, d.c.n, d.c.size, d.c.stored)).all()
    sums = _Deltas()
    for dim, key, n, size, stored in moved:
        sums.add(str(dim), str(key), int(n), int(size), int(stored))
    rows = [{"dim": k[0], "key": k[1], "n": v[0], "size": v[1], "stored": v[2]}
            for k, v in sorted(sums.by_key.items()) if any(v)]
    for i in range(0, len(rows), _CHUNK):
        stmt = _insert(conn, t).values(rows[i : i + _CHUNK])
        ex = stmt.excluded
        conn.execute(stmt.on_conflict_do_update(
            index_elements=[t.c.dim, t.c.key],
            set_={"n": t.c.n + ex.n, "size": t.c.size + ex.size, "stored": t.c.stored + ex.stored}))
    if rows:
        conn.execute(sa.delete(t).where(t.c.n == 0, t.c.size == 0, t.c.stored == 0))
    return len(moved)


def recompute(conn: sa.Connection) -> None:
    """Inside a write transaction that excludes every writer (reindex, migration): recompute
    every figure from the artifact rows."""
    _lock_fold(conn, wait=True)
    a, b = S.artifacts.c, S.stats_blobs.c
    for table in (S.stats_blobs, S.stats_totals, S.stats_deltas):
        conn.execute(sa.delete(table))
    blobs = sa.select(
        a.blob_key, sa.func.max(a.size), sa.func.max(a.stored_size), sa.func.max(a.codec), sa.func.count(),
        sa.case((sa.or_(sa.func.min(a.size) != sa.func.max(a.size),
                        sa.func.min(a.stored_size) != sa.func.max(a.stored_size),
                        sa.func.min(a.codec) != sa.func.max(a.codec)), 1), else_=0),
    ).group_by(a.blob_key)
    conn.execute(sa.insert(S.stats_blobs).from_select(
        ["blob_key", "size", "stored_size", "codec", "refs", "mixed"], blobs))
    t = S.stats_totals
    cols = ["dim", "key", "n", "size", "stored"]
    zero = sa.literal(0, sa.BigInteger)
    count = sa.cast(sa.func.count(), sa.BigInteger)
    size = sa.cast(sa.func.coalesce(sa.func.sum(a.size), 0), sa.BigInteger)
    total = sa.select(sa.literal("total"), sa.literal(""), count, size, zero).select_from(S.artifacts)
    by_type = sa.select(sa.literal("type"), a.artifact_type, count, size, zero).group_by(a.artifact_type)
    by_model = (sa.select(sa.literal("model"), a.model_id, count, size, zero)
                .where(a.model_id.is_not(None), a.model_id != "").group_by(a.model_id))
    by_codec = sa.select(
        sa.literal("codec"), b.codec, sa.cast(sa.func.count(), sa.BigInteger),
        sa.cast(sa.func.sum(b.size), sa.BigInteger), sa.cast(sa.func.sum(b.stored_size), sa.BigInteger),
    ).group_by(b.codec)
    for sel in (total, by_type, by_model, by_codec):
        conn.execute(sa.insert(t).from_select(cols, sel))
    conn.execute(sa.delete(t).where(t.c.n == 0, t.c.size == 0, t.c.stored == 0))


def read(conn: sa.Connection) -> tuple[StoreStats, int]:
    """The statistics of the whole catalog from the maintained figures, in one statement (one
    snapshot on either engine), and the number of delta rows it summed."""
    t, d = S.stats_totals.c, S.stats_deltas.c
    parts = sa.union_all(
        sa.select(t.dim, t.key, t.n, t.size, t.stored, sa.literal(0).label("delta")),
        sa.select(d.dim, d.key, d.n, d.size, d.stored, sa.literal(1).label("delta")),
    ).subquery()
    rows = conn.execute(
        sa.select(parts.c.dim, parts.c.key, sa.func.sum(parts.c.n), sa.func.sum(parts.c.size),
                  sa.func.sum(parts.c.stored), sa.func.sum(parts.c.delta))
        .group_by(parts.c.dim, parts.c.key)
    ).all()
    n = size = blobs = usize = stored = deltas = 0
    by_type: dict[str, int] = {}
    by_model: dict[str, int] = {}
    by_codec: dict[str, int] = {}
    for dim, key, cn, csize, cstored, cdelta in rows:
        cn, csize, cstored = int(cn), int(csize), int(cstored)
        deltas += int(cdelta)
        if dim == "total":
            n, size = cn, csize
        elif cn == 0:
            continue  # a type, model or codec with nothing left
        elif dim == "type":
            by_type[str(key)] = cn
        elif dim == "model":
            by_model[str(key)] = cn
        elif dim == "codec":
            blobs += cn
            usize += csize
            stored += cstored
            by_codec[str(key)] = cstored
    return StoreStats(
        total_artifacts=n, total_size_bytes=size, unique_blobs=blobs, unique_size_bytes=usize,
        stored_size_bytes=stored, artifacts_by_type=dict(sorted(by_type.items())),
        artifacts_by_model=dict(sorted(by_model.items())), bytes_by_codec=dict(sorted(by_codec.items())),
    ), deltas


def from_rows(conn: sa.Connection, where: Sequence[sa.ColumnElement[bool]]) -> StoreStats:
    """The statistics of the artifacts matching ``where``, aggregated from their rows (filtered
    ``stats()``; the reference the maintained figures equal): one blob group-by (main had
    two, the same one twice)."""
    a = S.artifacts.c
    n, total = conn.execute(
        sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(a.size), 0)).where(*where)
    ).one()
    blobs = (
        sa.select(a.blob_key, sa.func.max(a.size).label("size"), sa.func.max(a.stored_size).label("stored"),
                  sa.func.max(a.codec).label("codec"))
        .where(*where).group_by(a.blob_key).subquery()
    )
    by_codec_rows = conn.execute(
        sa.select(blobs.c.codec, sa.func.count(), sa.func.sum(blobs.c.size), sa.func.sum(blobs.c.stored))
        .group_by(blobs.c.codec)
    ).all()
    by_type = conn.execute(sa.select(a.artifact_type, sa.func.count()).where(*where).group_by(a.artifact_type)).all()
    by_model = conn.execute(
        sa.select(a.model_id, sa.func.count()).where(*where, a.model_id.is_not(None)).group_by(a.model_id)
    ).all()
    return StoreStats(
        total_artifacts=int(n), total_size_bytes=int(total),
        unique_blobs=sum(int(r[1]) for r in by_codec_rows),
        unique_size_bytes=sum(int(r[2]) for r in by_codec_rows),
        stored_size_bytes=sum(int(r[3]) for r in by_codec_rows),
        artifacts_by_type=dict(sorted((str(k), int(v)) for k, v in by_type)),
        artifacts_by_model=dict(sorted((str(k), int(v)) for k, v in by_model if k)),
        bytes_by_codec=dict(sorted((str(r[0]), int(r[3])) for r in by_codec_rows)),
    )
