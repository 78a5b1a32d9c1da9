"""Evaluation history and champion progression tables (mixed into SQLCatalog)."""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from ..models import Artifact, ChampionRecord, EvaluationRecord
from . import schema as S
from .base import JournalBatch
from .leases import note_journal

__all__ = ["EvaluationTables", "champion_row", "eval_row"]


def _dt_of(ts: float) -> _dt.datetime:
    return _dt.datetime.fromtimestamp(ts, _dt.UTC)


def _j(v: Any) -> str:
    return json.dumps(v, sort_keys=True, separators=(",", ":"), allow_nan=False)


def eval_row(e: Mapping[str, Any]) -> dict[str, Any]:
    """Catalog row of an evaluation entry (as written to records/)."""
    return {
        "evaluation_id": e["evaluation_id"], "model_id": e["model_id"], "timestamp": float(e["timestamp"]),
        "global_score": float(e["global_score"]), "success_rate": float(e["success_rate"]),
        "is_champion": bool(e.get("is_champion", False)), "champion_rank": e.get("champion_rank"),
        "metrics": _j(e.get("metrics") or {}), "artifacts": _j(list(e.get("artifacts") or [])),
        "metadata": _j(e.get("metadata") or {}), "repro": _j(e.get("repro") or {}),
    }


def champion_row(e: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "champion_id": e["champion_id"], "seq": int(e["seq_no"]), "model_id": e["model_id"],
        "evaluation_id": e.get("evaluation_id"), "timestamp": float(e["timestamp"]),
        "global_score": float(e["global_score"]), "success_rate": float(e["success_rate"]),
        "previous_champion": e.get("previous_champion"), "previous_model_id": e.get("previous_model_id"),
        "improvement_metrics": _j(e.get("improvement_metrics") or {}), "metrics": _j(e.get("metrics") or {}),
        "artifacts": _j(list(e.get("artifacts") or [])),
    }


def _eval_of(r: Any) -> EvaluationRecord:
    return EvaluationRecord(
        evaluation_id=r["evaluation_id"], model_id=r["model_id"], timestamp=_dt_of(r["timestamp"]),
        global_score=r["global_score"], success_rate=r["success_rate"], is_champion=bool(r["is_champion"]),
        champion_rank=r["champion_rank"], metrics=json.loads(r["metrics"]), artifacts=tuple(json.loads(r["artifacts"])),
        metadata=json.loads(r["metadata"]), repro=json.loads(r["repro"]),
    )


def _champ_of(r: Any) -> ChampionRecord:
    return ChampionRecord(
        champion_id=r["champion_id"], seq=r["seq"], model_id=r["model_id"], evaluation_id=r["evaluation_id"],
        timestamp=_dt_of(r["timestamp"]), global_score=r["global_score"], success_rate=r["success_rate"],
        previous_champion=r["previous_champion"], previous_model_id=r["previous_model_id"],
        improvement_metrics=json.loads(r["improvement_metrics"]), metrics=json.loads(r["metrics"]),
        artifacts=tuple(json.loads(r["artifacts"])),
    )


class EvaluationTables:
    """Mixin of :class:`~artifactstore.catalog.sql.SQLCatalog` for evaluations and champions."""

    write: Callable[..., Any]
    read: Callable[..., Any]
    _insert: Callable[[sa.Table], Any]
    set_alias_in: Callable[[sa.Connection, str, str, str], None]
    _hydrate: Callable[[sa.Connection, Sequence[Any]], list[Artifact]]

    def upsert_evaluation(
        self, entry: Mapping[str, Any], before_commit: Callable[[], JournalBatch | None] | None = None
    ) -> EvaluationRecord:
        row = eval_row(entry)

        def txn(conn: sa.Connection) -> EvaluationRecord:
            stmt = self._insert(S.evaluations).values(**row)
            stmt = stmt.on_conflict_do_update(
                index_elements=[S.evaluations.c.evaluation_id],
                set_={k: v for k, v in row.items() if k != "evaluation_id"},
            )
            conn.execute(stmt)
            # A promotion naming this evaluation keeps it a champion when it is re-recorded:
            # reindex replays champion records after evaluations, so live must agree.
            promoted = conn.execute(
                sa.select(S.champions.c.champion_id).where(S.champions.c.evaluation_id == row["evaluation_id"]).limit(1)
            ).first()
            out = dict(row)
            if promoted is not None and not row["is_champion"]:
                conn.execute(sa.update(S.evaluations).where(S.evaluations.c.evaluation_id == row["evaluation_id"])
                             .values(is_champion=True))
                out["is_champion"] = True
            if before_commit is not None:
                note_journal(conn, before_commit())
            return _eval_of(out)

        result: EvaluationRecord = self.write(txn)
        return result

    def get_evaluation(self, evaluation_id: str) -> EvaluationRecord | None:
        sel = sa.select(S.evaluations).where(S.evaluations.c.evaluation_id == evaluation_id)
        row = self.read(lambda c: c.execute(sel).mappings().first())
        return _eval_of(row) if row else None

    def evaluations(self, model_id: str | None = None, champions_only: bool = False, limit: int | None = None,
                    order: str = "-timestamp") -> list[EvaluationRecord]:
        t = S.evaluations.c
        sel = sa.select(S.evaluations)
        if model_id is not None:
            sel = sel.where(t.model_id == model_id)
        if champions_only:
            sel = sel.where(t.is_champion.is_(True))
        sel = sel.order_by(t.timestamp.desc() if order == "-timestamp" else t.timestamp.asc(), t.evaluation_id)
        if limit is not None:
            sel = sel.limit(limit)
        return self.read(lambda c: [_eval_of(r) for r in c.execute(sel).mappings()])  # type: ignore[no-any-return]

    def evaluation_scores(self) -> dict[str, float]:
        sel = sa.select(S.evaluations.c.evaluation_id, S.evaluations.c.global_score)
        return dict(self.read(lambda c: c.execute(sel).all()))

    def current_champion(self) -> ChampionRecord | None:
        result: ChampionRecord | None = self.read(self._current_champion_in)
        return result

    @staticmethod
    def _current_champion_in(conn: sa.Connection) -> ChampionRecord | None:
        sel = sa.select(S.champions).order_by(S.champions.c.seq.desc()).limit(1)
        row = conn.execute(sel).mappings().first()
        return _champ_of(row) if row else None

    def champion_history(self, limit: int | None = None, model_id: str | None = None) -> list[ChampionRecord]:
        sel = sa.select(S.champions).order_by(S.champions.c.seq.desc())
        if model_id is not None:
            sel = sel.where(S.champions.c.model_id == model_id)
        if limit is not None:
            sel = sel.limit(limit)
        return self.read(lambda c: [_champ_of(r) for r in c.execute(sel).mappings()])  # type: ignore[no-any-return]

    def champion_artifact_ids(self) -> set[str]:
        out: set[str] = set()
        for (arts,) in self.read(lambda c: c.execute(sa.select(S.champions.c.artifacts)).all()):
            out.update(json.loads(arts))
        for (arts,) in self.read(
            lambda c: c.execute(sa.select(S.evaluations.c.artifacts).where(S.evaluations.c.is_champion.is_(True))).all()
        ):
            out.update(json.loads(arts))
        return out

    def promote(
        self,
        make_entry: Callable[[ChampionRecord | None], dict[str, Any] | None],
        before_commit: Callable[[dict[str, Any], list[Artifact]], JournalBatch | None],
    ) -> tuple[ChampionRecord | None, ChampionRecord | None]:
        """Atomically compare with the current champion and append a new one.

        ``make_entry(current)`` returns the new champion entry (with ``seq_no``)
        or ``None`` to decline; it runs while the champion lock is held, so two
        workers can never both see the same current champion and both win. The
        entry's artifacts that exist get the ``champion`` alias, and
        ``before_commit(entry, aliased)`` runs, in the same transaction.
        Returns ``(new, previous)`` (see :meth:`Catalog.promote
        <artifactstore.catalog.base.Catalog.promote>`).
        """

        def txn(conn: sa.Connection) -> tuple[ChampionRecord | None, ChampionRecord | None]:
            # The UPDATE takes a row lock (PostgreSQL) / the write lock (SQLite)
            # for the rest of the transaction: promotions are serialised.
            conn.execute(sa.update(S.locks).where(S.locks.c.name == "champion").values(counter=S.locks.c.counter + 1))
            current = self._current_champion_in(conn)
            entry = make_entry(current)
            if entry is None:
                return None, current
            row = champion_row(entry)
            conn.execute(sa.insert(S.champions).values(**row))
            if row["evaluation_id"]:
                conn.execute(
                    sa.update(S.evaluations).where(S.evaluations.c.evaluation_id == row["evaluation_id"])
                    .values(is_champion=True)
                )
            aliased: list[Artifact] = []
            for aid in entry.get("artifacts") or ():
                found = conn.execute(sa.select(S.artifacts).where(S.artifacts.c.id == aid)).mappings().first()
                if found is not None:
                    art = self._hydrate(conn, [found])[0]
                    self.set_alias_in(conn, art.name, "champion", art.id)
                    aliased.append(art)
            note_journal(conn, before_commit(entry, aliased))
            return _champ_of(row), current

        result: tuple[ChampionRecord | None, ChampionRecord | None] = self.write(txn)
        return result

    @staticmethod
    def restore_evaluation_rows(conn: sa.Connection, evals: Sequence[Mapping[str, Any]],
                                champs: Sequence[Mapping[str, Any]]) -> None:
        latest: dict[str, Mapping[str, Any]] = {}
        for e in evals:  # records arrive in seq order: the last write of an id wins
            latest[e["evaluation_id"]] = e
        if latest:
            conn.execute(sa.insert(S.evaluations), [eval_row(e) for e in latest.values()])
        seen: set[str] = set()
        rows = []
        for c in champs:
            if c["champion_id"] not in seen:
                seen.add(c["champion_id"])
                rows.append(champion_row(c))
        if rows:
            conn.execute(sa.insert(S.champions), rows)
            # A promotion marks its evaluation as champion: replay that too.
            champ_evals = sorted({r["evaluation_id"] for r in rows if r["evaluation_id"]})
            if champ_evals:
                conn.execute(
                    sa.update(S.evaluations).where(S.evaluations.c.evaluation_id.in_(champ_evals))
                    .values(is_champion=True)
                )
