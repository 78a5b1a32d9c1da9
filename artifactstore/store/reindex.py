"""Rebuilding the catalog of an :class:`~artifactstore.store.ArtifactStore` from its journals.

Only committed journal batches count (see :mod:`artifactstore.manifests`); the
rebuild runs in one catalog transaction that excludes every writer, so a row
committed while a reindex runs is never dropped.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from ..catalog.base import AliasRow, CatalogContents
from ..catalog.recovery import is_damaged, quarantine, sqlite_file
from ..catalog.sql import SQLCatalog
from ..catalog.sql import artifact_from_fields as _artifact_from_fields
from ..errors import (
    CatalogError,
    InvalidInputError,
    InvalidMetadataError,
)
from ..manifests import MANIFESTS, RECORDS, VERSIONS, check_entry
from ..models import Artifact
from ..validation import (
    check_metadata,
    check_tags,
)
from .core import StoreCore

__all__ = ["Reindex"]

log = logging.getLogger("artifactstore")


class Reindex(StoreCore):
    """``reindex`` and the rebuild of a fresh catalog on open."""

    def reindex(self) -> int:
        """Rebuild the catalog from the manifests and records in the backend; return the artifact count.

        Whatever state an SQLite catalog file is in (garbage, truncated, another program's
        database), it is moved aside as ``catalog.db.corrupt-<timestamp>`` with a warning and
        rebuilt (:mod:`artifactstore.catalog.recovery`).

        Only committed journal batches count (see :mod:`artifactstore.manifests`). The
        rebuild runs in one catalog transaction that first excludes every writer (SQLite's
        write lock; on PostgreSQL an advisory lock and table locks), and reads the journals
        inside it: a row committed while a reindex runs is never dropped."""
        try:
            n = self.catalog.rebuild(self._reindex_contents)
        except CatalogError as exc:
            bad = sqlite_file(self.catalog.url)
            if bad is None or not is_damaged(exc):
                raise
            # A damaged SQLite file: it is only an index; move it aside and build a new one.
            self.catalog.close()
            quarantine(bad, exc)
            # sqlite_file() matched: the built-in SQLite catalog serves this URL
            self.catalog = SQLCatalog(self.catalog.url, fsync=bool(getattr(self.backend, "fsync", False)))
            self.blobs.catalog = self.catalog  # the blob layer's leases and locks are the new catalog's
            n = self.catalog.rebuild(self._reindex_contents)
        assert n is not None
        return n

    def reindex_if_fresh(self) -> bool:
        """Rebuild a fresh catalog over an existing store, once: of many processes opening a
        new catalog at the same time, one rebuilds (under the reindex lock) and the others
        wait for it. Returns whether this call rebuilt it. One small query once done."""

        def has_journals() -> bool:
            return bool(self.manifests.segments() or self.records.segments())

        return self.catalog.rebuild(self._reindex_contents, only_if_fresh=True, has_journals=has_journals) is not None

    def _reindex_contents(self, pending: frozenset[str]) -> CatalogContents:
        """What the catalog holds according to the committed journals (``pending`` batches
        count as committed): called by the catalog inside its rebuild transaction."""
        arts: dict[str, tuple[str, dict[str, Any]]] = {}
        suffixes = self.codec_suffixes()
        for e in self.manifests.read_committed(pending):
            bad = check_entry(e, MANIFESTS, suffixes)
            if bad is not None or e.get("kind") != "artifact":
                if bad is not None:
                    log.warning("reindex: skipping a manifest entry: %s", bad)
                continue
            prev = arts.get(e["id"])
            if prev is None or str(e.get("seq", "")) >= prev[0]:
                arts[e["id"]] = (str(e.get("seq", "")), e)
        records = sorted((e for e in self.records.read_committed(pending) if check_entry(e, RECORDS, suffixes) is None),
                         key=lambda e: str(e.get("seq", "")))
        renumbers = [e for e in self.version_log.read_committed(pending) if check_entry(e, VERSIONS, suffixes) is None
                     and e.get("kind") == "version"]
        renumbered = {str(e["artifact_id"]): int(e["version"]) for e in renumbers}
        deleted = {e["artifact_id"] for e in records if e.get("kind") == "delete"}
        last_versions: dict[str, int] = {}
        for e in renumbers:  # numbers a sync took count even if its manifests never landed
            last_versions[e["name"]] = max(last_versions.get(e["name"], 0), int(e["version"]))
        taken: set[tuple[str, int]] = set()
        live: list[Artifact] = []
        # Committed entries never share a (name, version): the catalog assigned them. A store
        # merged by sync records the destination's numbers as "version" records, applied here.
        for aid in sorted(arts, key=lambda i: (renumbered.get(i, int(arts[i][1]["version"])), i)):
            e = arts[aid][1]
            name, version = e["name"], renumbered.get(aid, int(e["version"]))
            if (name, version) in taken:  # a format-1 journal with a retried write
                version = max(last_versions.get(name, 0), version) + 1
                log.warning("reindex: %s@v%d already taken, restoring %s as v%d", name, e["version"], aid, version)
            taken.add((name, version))
            last_versions[name] = max(last_versions.get(name, 0), version)
            if aid in deleted:
                continue
            live.append(_artifact_from_fields({**e, "version": version}))
        live = _apply_edits(live, records)
        live_ids = {a.id for a in live}
        alias_map: dict[tuple[str, str], tuple[str, float]] = {}
        for e in records:
            if e.get("kind") == "alias":
                alias_map[(e["name"], e["alias"])] = (e["artifact_id"], float(e.get("at", 0)))
            elif e.get("kind") == "unalias":  # remove_alias
                alias_map.pop((e["name"], e["alias"]), None)
        aliases = [AliasRow(n, al, i, ts) for (n, al), (i, ts) in alias_map.items() if i in live_ids]
        evals, champs = self._reindex_evaluations(records)
        return CatalogContents(live, aliases, last_versions, evals, champs, packs=self.blobs.pack_index_rows())

    def _reindex_evaluations(
        self, records: list[dict[str, Any]]
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        evals = [r for r in records if r.get("kind") == "evaluation"]
        # Champion numbers are derived from the chain's order, never trusted as stored: two
        # chains merged by sync, or a format-1 journal, may repeat a number.
        seen: dict[str, dict[str, Any]] = {}
        for r in records:
            if r.get("kind") == "champion" and isinstance(r.get("champion_id"), str):
                seen.setdefault(r["champion_id"], r)
        chain = sorted(seen.values(), key=lambda r: (int(r.get("seq_no", 0)), float(r.get("timestamp", 0)),
                                                     str(r["champion_id"])))
        champs = [{**r, "seq_no": i} for i, r in enumerate(chain, 1)]
        return evals, champs


def _apply_edits(live: list[Artifact], records: list[dict[str, Any]]) -> list[Artifact]:
    # edit_artifact journals the resulting tags and metadata: the last edit of each artifact wins
    last: dict[str, dict[str, Any]] = {}
    for e in records:
        if e.get("kind") == "edit" and isinstance(e.get("artifact_id"), str):
            last[e["artifact_id"]] = e
    if not last:
        return live
    out = []
    for a in live:
        edit = last.get(a.id)
        if edit is not None:
            try:  # a journal from elsewhere (sync) is input like any other: validated
                a = dataclasses.replace(a, tags=check_tags(list(edit.get("tags") or ())),
                                        metadata=check_metadata(edit.get("metadata") or {}))
            except (InvalidInputError, InvalidMetadataError, TypeError) as exc:
                log.warning("reindex: ignoring an invalid edit record of %s: %s", a.id, exc)
        out.append(a)
    return out
