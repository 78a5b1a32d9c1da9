"""Restore evaluation records and champion events from the backend's records on reindex."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def restore_records(store: Any, records: list[dict[str, Any]]) -> Callable[[Any], None] | None:
    """Return a callable that re-inserts evaluation and champion rows inside the reindex
    transaction, or ``None`` when the records hold none."""
    evals = [r for r in records if r.get("kind") == "evaluation"]
    champs = [r for r in records if r.get("kind") == "champion"]
    if not evals and not champs:
        return None
    from .records import restore_rows

    def apply(conn: Any) -> None:
        restore_rows(conn, evals, champs)

    return apply
