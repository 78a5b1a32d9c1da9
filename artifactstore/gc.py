"""Garbage collection: plan with retention policies, then apply.

``plan`` asks every active policy which artifacts it keeps; an artifact no
policy keeps is planned for deletion, with the reasons each policy gives for
not keeping it. ``apply`` deletes catalog rows (recording a deletion in the
backend's records) and then sweeps blobs that nothing references and that are
older than a grace period, re-checking references and in-flight leases at the
moment each blob is deleted, so a writer in flight elsewhere loses nothing.
"""

from __future__ import annotations

import functools
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .errors import InvalidInputError, UnknownPolicyError
from .models import Artifact
from .retention.base import RetentionContext, RetentionPolicy
from .store import ArtifactStore

__all__ = ["GcPlan", "GcResult", "plan", "apply", "collect", "resolve_policies", "DEFAULT_GRACE_SECONDS"]

log = logging.getLogger("artifactstore.gc")
DEFAULT_GRACE_SECONDS = 3600.0
PolicySpec = RetentionPolicy | str | Mapping[str, Any]


@dataclass
class GcPlan:
    """What gc would do. Nothing has changed when you hold one."""

    policies: list[str]
    total_artifacts: int
    delete: list[tuple[Artifact, str]]
    kept: int
    kept_by_reason: dict[str, int]
    deleted_by_reason: dict[str, int]
    freed_bytes_by_reason: dict[str, int]
    freed_bytes: int
    orphan_blobs: list[tuple[str, int]]  # (key, stored size) unreferenced and older than grace
    grace_seconds: float
    created_at: float = field(default_factory=time.time)

    @property
    def delete_ids(self) -> list[str]:
        return [a.id for a, _ in self.delete]

    def to_dict(self) -> dict[str, Any]:
        return {
            "policies": self.policies,
            "total_artifacts": self.total_artifacts,
            "delete": [{"id": a.id, "ref": a.ref, "reason": r, "size": a.size} for a, r in self.delete],
            "kept": self.kept,
            "kept_by_reason": self.kept_by_reason,
            "deleted_by_reason": self.deleted_by_reason,
            "freed_bytes_by_reason": self.freed_bytes_by_reason,
            "freed_bytes": self.freed_bytes,
            "orphan_blobs": len(self.orphan_blobs),
            "grace_seconds": self.grace_seconds,
        }


@dataclass
class GcResult:
    deleted_artifacts: int
    swept_blobs: int
    freed_bytes: int
    skipped_blobs: int  # referenced again or leased at sweep time
    removed_staging: int

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def resolve_policies(store: ArtifactStore, specs: Iterable[PolicySpec]) -> list[RetentionPolicy]:
    """Turn policy instances, names (``"keep_recent"``, ``"keep_top_k:k=5"``) or
    ``{"name": ..., **params}`` mappings into policy objects through the registry."""
    out: list[RetentionPolicy] = []
    for spec in specs:
        if isinstance(spec, RetentionPolicy):
            out.append(spec)
            continue
        if isinstance(spec, str):
            name, _, rest = spec.partition(":")
            params: dict[str, Any] = {}
            for part in filter(None, rest.split(",")):
                k, eq, v = part.partition("=")
                if not eq:
                    raise InvalidInputError(f"policy parameter must be key=value, got {part!r}")
                params[k.strip()] = _num(v.strip())
        elif isinstance(spec, Mapping):
            params = dict(spec)
            name = str(params.pop("name", ""))
        else:
            raise InvalidInputError(f"not a retention policy: {spec!r}")
        reg = store.registry.get("retention policy", name)
        if reg is None:
            raise UnknownPolicyError(name, store.registry.names("retention policy"))
        try:
            out.append(reg.factory(**params))
        except TypeError as exc:
            raise InvalidInputError(f"bad parameters for policy {name!r}: {exc}") from None
    if not out:
        raise InvalidInputError("gc needs at least one retention policy")
    return out


def _num(v: str) -> Any:
    for conv in (int, float):
        try:
            return conv(v)
        except ValueError:
            pass
    return v


def _reject_reason(policy: RetentionPolicy) -> str:
    return f"not kept by {policy.describe()}"


def plan(
    store: ArtifactStore,
    policies: Sequence[PolicySpec],
    *,
    grace_seconds: float = DEFAULT_GRACE_SECONDS,
    now: float | None = None,
    sweep: bool = True,
) -> GcPlan:
    """Judge every artifact with ``policies`` (composed: deleted only if none keeps it)."""
    pols = resolve_policies(store, policies)
    now = time.time() if now is None else now
    ctx = RetentionContext(
        now=now,
        champion_artifact_ids=frozenset(store.catalog.champion_artifact_ids()),
        evaluation_scores=store.catalog.evaluation_scores(),
    )
    artifacts = list(store.catalog.iter_all(batch=5000))
    kept_reason: dict[str, str] = {}
    for p in pols:
        for aid, reason in p.keep(artifacts, ctx).items():
            kept_reason.setdefault(aid, f"{p.name}: {reason}")
    reason_all = "; ".join(_reject_reason(p) for p in pols)
    delete = [(a, reason_all) for a in artifacts if a.id not in kept_reason]
    kept_by = Counter(r.split(":", 1)[0] for r in kept_reason.values())

    # Bytes freed: blobs whose every reference is planned for deletion.
    refs = Counter(a.blob_key for a in artifacts)
    dying = Counter(a.blob_key for a, _ in delete)
    freed_by: Counter[str] = Counter()
    counted: set[str] = set()
    for a, r in delete:
        if dying[a.blob_key] == refs[a.blob_key] and a.blob_key not in counted:
            counted.add(a.blob_key)
            freed_by[r] += a.stored_size
    orphans: list[tuple[str, int]] = []
    if sweep:
        referenced = set(refs)
        for obj in store.backend.list("blobs/"):
            if obj.key in referenced:
                continue
            if (obj.mtime is None and grace_seconds > 0) or (obj.mtime is not None and now - obj.mtime < grace_seconds):
                continue
            orphans.append((obj.key, obj.size))
    freed = sum(freed_by.values()) + sum(s for _, s in orphans)
    return GcPlan(
        policies=[p.describe() for p in pols],
        total_artifacts=len(artifacts),
        delete=delete,
        kept=len(kept_reason),
        kept_by_reason=dict(kept_by),
        deleted_by_reason=dict(Counter(r for _, r in delete)),
        freed_bytes_by_reason=dict(freed_by),
        freed_bytes=freed,
        orphan_blobs=orphans,
        grace_seconds=grace_seconds,
    )


def _sha_of_key(key: str) -> str:
    name = key.rsplit("/", 1)[-1]
    return name[:64]


def apply(
    store: ArtifactStore,
    the_plan: GcPlan,
    *,
    batch: int = 1000,
    progress: Callable[[int], None] | None = None,
) -> GcResult:
    """Carry out a plan: delete the planned artifacts, then sweep unreferenced blobs.

    Blobs are only deleted if, at the moment of deletion, no artifact references
    them, no in-flight lease covers them and they are older than the grace period.
    """
    ids = the_plan.delete_ids
    deleted = 0
    for i in range(0, len(ids), batch):
        gone = store.delete_many(ids[i : i + batch], reason="gc")
        deleted += len(gone)
        if progress is not None:
            progress(len(gone))
    store.catalog.expire_leases()
    swept = skipped = 0
    freed = 0
    now = time.time()
    referenced = store.catalog.referenced_blob_keys()
    candidates = []
    sizes: dict[str, int] = {}
    for obj in store.backend.list("blobs/"):
        if obj.key in referenced:
            continue
        if obj.mtime is not None and now - obj.mtime < the_plan.grace_seconds:
            continue
        if obj.mtime is None and the_plan.grace_seconds > 0:
            continue  # no clock to judge its age by: never sweep (unless asked for grace 0)
        candidates.append((_sha_of_key(obj.key), obj.key))
        sizes[obj.key] = obj.size
    # Batches: one guarded transaction per batch, not per blob (90k blobs: 440 s -> seconds).
    # Smaller on object stores, where each delete is a round trip made under the digest locks,
    # and on a shared PostgreSQL catalog (``dialect`` is SQLCatalog's; other catalogs: by backend).
    step = 100 if store.backend.is_remote or getattr(store.catalog, "dialect", None) == "postgresql" else 500
    delete = functools.partial(_delete_if_present, store, grace=the_plan.grace_seconds)
    for i in range(0, len(candidates), step):
        done, skip = store.catalog.sweep_blobs(candidates[i : i + step], delete)
        swept += len(done)
        freed += sum(sizes[k] for k in done)
        skipped += skip
    staging = _remove_stale_staging(store, the_plan.grace_seconds, now)
    log.info("gc: deleted %d artifacts, swept %d blobs (%d bytes), skipped %d", deleted, swept, freed, skipped)
    return GcResult(deleted, swept, freed, skipped, staging)


def _delete_if_present(store: ArtifactStore, key: str, *, grace: float) -> bool:
    # Under the digest lock. Re-read the object: a concurrent gc may have removed it, or a
    # writer may have just re-uploaded the same content (a fresh mtime) after our listing.
    try:
        info = store.backend.info(key)
    except FileNotFoundError:
        return False
    if (info.mtime is None and grace > 0) or (info.mtime is not None and time.time() - info.mtime < grace):
        return False
    store.backend.delete(key)
    return True


def _remove_stale_staging(store: ArtifactStore, grace: float, now: float) -> int:
    """Remove staging files (``tmp/*.part``), spool files and scratch folders left by killed
    writers: those of dead processes, and any older than the grace period (:mod:`artifactstore.scratch`)."""
    from .scratch import sweep

    return sweep(store.backend, grace, now=now)


def collect(
    store: ArtifactStore,
    policies: Sequence[PolicySpec],
    *,
    dry_run: bool = True,
    grace_seconds: float = DEFAULT_GRACE_SECONDS,
) -> tuple[GcPlan, GcResult | None]:
    """Plan, and unless ``dry_run``, apply. Returns ``(plan, result or None)``."""
    p = plan(store, policies, grace_seconds=grace_seconds)
    return p, (None if dry_run else apply(store, p))

