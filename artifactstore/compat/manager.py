"""The seed's ``ArtifactManager``: a thin facade over :class:`~artifactstore.store.ArtifactStore`.

Every method the seed document shows works as written there. Each one is a
call or two into the store (or into :mod:`artifactstore.gc`,
:mod:`artifactstore.archive`, :mod:`artifactstore.sync`); nothing here stores
bytes or rows itself. What the seed leaves open is decided and documented on
each method.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import tempfile
import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InvalidInputError, InvalidNameError
from ..evaluation.episodes import export_episodes
from ..models import Artifact, ArtifactType
from ..refs import validate_name
from ..retention.base import RetentionPolicy
from ..store import ArtifactStore, open_store
from .config import (
    DEFAULT_DATABASE_NAME,
    ArtifactManagerConfig,
    ArtifactMetadata,
    ChampionProgression,
    EvaluationHistory,
    StoragePolicy,
    load_config,
)

if TYPE_CHECKING:
    from ..checkout import CheckoutReport
    from ..sync import SyncReport

__all__ = ["ARCHIVE_TYPE", "VIEW_FOLDER", "ArtifactManager", "create_artifact_manager"]

log = logging.getLogger("artifactstore.compat")

#: Artifact type of the archives :meth:`ArtifactManager.create_archive` stores.
#: A type of their own (the seed used ``LOG``) so that archives neither show up
#: as logs nor compete with logs or reports for a per-type retention quota.
ARCHIVE_TYPE = "archive"

#: Folder of the by-type view inside the store's root (see :attr:`ArtifactManager.subdirs`).
VIEW_FOLDER = "by-type"


class ArtifactManager:
    """The seed-compatible artifact manager.

    ``config`` is an :class:`ArtifactManagerConfig`, a plain path (used as
    ``base_path``) or ``None`` for the defaults. ``store`` uses an already
    opened :class:`ArtifactStore` instead of opening one from the config (the
    manager then does not close it).

    Attributes: ``config``, ``store`` (the :class:`ArtifactStore`), ``base_path``
    (the store's local root folder, ``None`` for a remote store).

    Thread-safe as the store is. Close it (or use it as a context manager) to
    release the catalog connection.
    """

    def __init__(
        self,
        config: ArtifactManagerConfig | str | os.PathLike[str] | None = None,
        *,
        store: ArtifactStore | None = None,
    ) -> None:
        if config is None:
            config = ArtifactManagerConfig()
        elif isinstance(config, (str, os.PathLike)):
            config = ArtifactManagerConfig(base_path=os.fspath(config))
        elif not isinstance(config, ArtifactManagerConfig):
            raise InvalidInputError(
                f"config must be an ArtifactManagerConfig or a path, not {type(config).__name__}"
            )
        self.config = config
        self.logger = log
        self._owns_store = store is None
        if store is None:
            url = config.store_url or config.base_path
            catalog = config.catalog_url or self._database_path(config)
            if catalog is not None and "://" not in catalog:
                Path(catalog).expanduser().parent.mkdir(parents=True, exist_ok=True)
            store = open_store(url, catalog, **config.storage_options)
        self.store = store
        root = store.local_root()
        self.base_path: Path | None = Path(root) if root is not None else None
        #: Root of the by-type view that :meth:`checkout` writes (``<base_path>/by-type``).
        self.view_path = (self.base_path or Path(config.base_path)) / VIEW_FOLDER
        #: The seed's per-type folders: each :class:`ArtifactType`'s folder of the by-type view
        #: (``<view_path>/<type>/<model id>/<name>`` once :meth:`checkout` has run).
        self.subdirs: dict[ArtifactType, Path] = {t: self.view_path / t.value for t in ArtifactType}
        if self.base_path is not None:  # the seed made its folders on start; so do we (a local store only)
            for d in self.subdirs.values():
                d.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._cleanup_lock = threading.Lock()
        self._writes_since_check = 0
        self._pending_types: set[str] = set()
        self._cleanup_floor: dict[str, int] = {}
        self._last_backup: float | None = None
        self._warned: set[str] = set()

    # --- lifecycle -----------------------------------------------------------------------

    def close(self) -> None:
        """Close the store if this manager opened it."""
        if self._owns_store:
            self.store.close()

    def __enter__(self) -> ArtifactManager:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<ArtifactManager {self.store.url}>"

    # --- helpers -------------------------------------------------------------------------

    @staticmethod
    def _database_path(config: ArtifactManagerConfig) -> str | None:
        """The catalog file for the config: ``database_path``, except that the derived default
        (``<base_path>/registry.db``) gives way to the store's own default catalog for a
        ``store_url``, and to ``<base_path>/catalog.db`` for a store made before that default."""
        db = config.database_path
        derived = os.path.join(config.base_path, DEFAULT_DATABASE_NAME)
        if db is None or db != derived:
            return db
        if config.store_url:
            return None
        legacy = os.path.join(config.base_path, "catalog.db")
        if not os.path.exists(db) and os.path.exists(legacy):
            log.info("using the existing catalog %s (database_path not set)", legacy)
            return legacy
        return db

    def _codec(self, compress: bool | None) -> str:
        """The store codec for a write: see :meth:`store_artifact`."""
        cfg = self.config
        if compress is False or (compress is None and not cfg.compression_enabled):
            return "none"
        if cfg.default_compression is not None:
            return cfg.default_compression.value
        return "auto" if compress is None else "zstd"

    @staticmethod
    def _name_for(file_path: str | os.PathLike[str]) -> str | None:
        """The artifact name for a file: its base name, with the characters names reserve
        (``@`` and ``:`` name versions and aliases in refs) replaced by ``_``. ``None`` keeps
        the store's default (the base name) when it is valid as it is."""
        base = Path(file_path).name
        try:
            validate_name(base)
            return None
        except InvalidNameError:
            pass
        fixed = re.sub(r"[@:\\\x00-\x1f\x7f]", "_", base)
        if fixed.startswith("~"):
            fixed = "_" + fixed[1:]
        try:
            return validate_name(fixed)
        except InvalidNameError:
            return None  # let the store report the original name

    def _file_path(self, art: Artifact) -> str:
        local = self.store.blobs.local_path(art.blob_key)
        if local is not None:
            return str(local)
        return f"{self.store.url.rstrip('/')}/{art.blob_key}"

    def _metadata(self, art: Artifact) -> ArtifactMetadata:
        return ArtifactMetadata.from_artifact(art, self._file_path(art))

    def _warn_once(self, key: str, msg: str, *args: Any) -> None:
        if key not in self._warned:
            self._warned.add(key)
            log.warning(msg, *args)

    def _after_write(self, arts: Iterable[Artifact]) -> None:
        """Auto cleanup and backup, each at a bounded cost per write."""
        arts = list(arts)
        if self.config.auto_cleanup_enabled and self.config.storage_policy is not StoragePolicy.KEEP_ALL:
            with self._lock:
                self._writes_since_check += len(arts)
                self._pending_types.update(a.artifact_type for a in arts)
                due = self._writes_since_check >= self.config.auto_cleanup_check_every
                types: set[str] = set()
                if due:
                    self._writes_since_check = 0
                    types, self._pending_types = self._pending_types, set()
            if types:
                self._auto_cleanup(types)
        if self.config.backup_enabled and self.config.backup_url:
            self._maybe_backup()

    def _auto_cleanup(self, types: set[str]) -> None:
        limit = self.config.max_artifacts_per_type
        margin = max(1, limit // 10)
        over = []
        for t in sorted(types):
            n = self.store.count(artifact_type=t)
            if n > max(limit, self._cleanup_floor.get(t, 0)) + margin:
                over.append(t)
        if not over or not self._cleanup_lock.acquire(blocking=False):
            return  # nothing over the limit, or another thread is cleaning up already
        try:
            stats = self.cleanup_artifacts(dry_run=False)
            log.info("auto cleanup (%s over %d): deleted %d artifacts", ", ".join(over), limit,
                     stats["deleted_artifacts"])
            for t in over:
                self._cleanup_floor[t] = self.store.count(artifact_type=t)
        except ImportError as exc:
            self._warn_once("gc", "auto cleanup skipped: %s", exc)
        except Exception as exc:  # a failed cleanup must never fail the write that triggered it
            log.warning("auto cleanup failed: %s: %s", type(exc).__name__, exc)
        finally:
            self._cleanup_lock.release()

    # --- storing -------------------------------------------------------------------------

    def store_artifact(
        self,
        file_path: str | os.PathLike[str],
        artifact_type: ArtifactType | str,
        model_id: str | None = None,
        evaluation_id: str | None = None,
        suite_name: str | None = None,
        map_name: str | None = None,
        episode_id: str | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        compress: bool | None = None,
    ) -> str:
        """Store a file; return its artifact id.

        The artifact's name is the file's base name (storing the same name again
        adds a version), with ``@`` and ``:`` (reserved in refs) replaced by ``_``.

        ``compress``: ``None`` follows the config (compression on: the configured
        ``default_compression``, or the ``auto`` codec when none is configured,
        which compresses with zstd only what compresses); ``True`` forces
        ``default_compression`` (zstd when none is configured); ``False`` stores
        the bytes as they are. Identical content is stored once, so a blob
        stored earlier with another codec is shared as it is.

        A missing file raises ``FileNotFoundError``
        (:class:`~artifactstore.errors.SourceNotFoundError`).
        """
        art = self.store.put(
            file_path,
            artifact_type=artifact_type,
            name=self._name_for(file_path),
            model_id=model_id,
            evaluation_id=evaluation_id,
            suite_name=suite_name,
            map_name=map_name,
            episode_id=episode_id,
            tags=tags or (),
            metadata=metadata,
            codec=self._codec(compress),
        )
        log.info("stored artifact %s (%s, %d bytes, %s)", art.id, art.ref, art.size, art.codec)
        self._after_write([art])
        return art.id

    def store_video_with_compression(
        self,
        video_path: str | os.PathLike[str],
        model_id: str | None = None,
        evaluation_id: str | None = None,
        episode_id: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> str:
        """Store a video tagged ``video`` and ``failure_analysis``; return its id.

        Compression follows the config: by default the ``auto`` codec stores
        already-compressed video (mp4, webm, avi...) as it is, since compressing
        it again costs time and saves next to nothing.
        """
        return self.store_artifact(
            video_path, ArtifactType.VIDEO, model_id=model_id, evaluation_id=evaluation_id,
            episode_id=episode_id, tags=["video", "failure_analysis"], metadata=metadata,
        )

    def store_trace_file(
        self,
        trace_path: str | os.PathLike[str],
        model_id: str | None = None,
        evaluation_id: str | None = None,
        episode_id: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> str:
        """Store a trace file tagged ``trace`` and ``failure_analysis``; return its id."""
        return self.store_artifact(
            trace_path, ArtifactType.TRACE, model_id=model_id, evaluation_id=evaluation_id,
            episode_id=episode_id, tags=["trace", "failure_analysis"], metadata=metadata,
        )

    def export_episode_data(
        self,
        episode_results: Iterable[Mapping[str, Any]],
        format_type: str = "both",
        model_id: str | None = None,
        evaluation_id: str | None = None,
        suite_name: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> dict[str, str]:
        """Export episode results; return ``{format: artifact id}`` for the requested formats.

        ``format_type`` is ``"both"`` (JSON and CSV), ``"json"``, ``"csv"`` or
        ``"parquet"`` (needs pyarrow). The JSON artifact is the document
        ``{"metadata": {...}, "episodes": [rows]}``; the CSV's header is the
        union of the rows' keys in first-seen order. Both are streamed through
        temporary files (memory stays bounded) and stored in one atomic batch,
        named ``episode_data/<evaluation_id or model_id>.<format>``, type
        ``episode_data``, tagged ``episode_data`` and the format. No rows is a
        ``ValueError``.
        """
        arts = export_episodes(
            self.store, episode_results, format_type, model_id=model_id, evaluation_id=evaluation_id,
            suite_name=suite_name, metadata=metadata, codec=self._codec(None),
        )
        log.info("exported episode data in %d format(s)", len(arts))
        self._after_write(arts.values())
        return {fmt: a.id for fmt, a in arts.items()}

    # --- history and champions -----------------------------------------------------------

    def record_evaluation_history(
        self,
        evaluation_id: str,
        model_id: str,
        global_score: float,
        success_rate: float,
        is_champion: bool = False,
        champion_rank: int | None = None,
        artifacts: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> EvaluationHistory:
        """Record (or replace, for the same ``evaluation_id``) an evaluation; return its record.

        ``artifacts`` are kept as the seed's callers pass them: a stored artifact's
        id or ref is recorded as its id; a string that names no stored artifact is
        kept as given (the seed stored any string), logged as a warning, and listed
        as a dangling reference by ``artifactstore history --json``
        (``dangling_artifacts``) and :meth:`dangling_artifacts`.
        """
        rec = self.store.record_evaluation(
            evaluation_id, model_id, global_score=global_score, success_rate=success_rate,
            is_champion=is_champion, champion_rank=champion_rank, artifacts=artifacts or (), metadata=metadata,
            allow_unknown_artifacts=True,
        )
        self._warn_dangling(f"evaluation {evaluation_id}", rec.artifacts)
        return EvaluationHistory.from_record(rec)

    def record_champion_progression(
        self,
        model_id: str,
        global_score: float,
        success_rate: float,
        previous_champion: str | None = None,
        improvement_metrics: dict[str, float] | None = None,
        artifacts: list[str] | None = None,
        *,
        evaluation_id: str | None = None,
        require_significant: bool = False,
        metric: str = "reward",
    ) -> str | None:
        """Make ``model_id`` the champion and return the new link's ``champion_id``.

        With ``require_significant=True`` (not in the seed) it promotes only when
        the episode data of ``evaluation_id`` (else the model's newest) beats the
        current champion's on ``metric`` with the 95% interval of the difference
        above zero, and returns ``None`` otherwise; see
        ``ArtifactStore.promote_champion``.

        ``artifacts`` are kept as given, dangling ones too (see
        :meth:`record_evaluation_history`).

        This always records, whatever the score (the seed did not compare; use
        ``store.promote_champion(..., only_if_better=True)`` for an atomic
        compare-and-promote). The previous champion is the store's current one;
        ``previous_champion`` (a model id, as in the seed) is used only when the
        chain is empty. Without ``improvement_metrics`` the store computes them
        against the previous champion. The champion's artifacts get the
        ``champion`` alias and are kept by cleanup.
        """
        rec = self.store.promote_champion(
            model_id, global_score=global_score, success_rate=success_rate, artifacts=artifacts or (),
            only_if_better=False, improvement_metrics=improvement_metrics, previous_model_id=previous_champion,
            evaluation_id=evaluation_id, require_significant=require_significant, evidence_metric=metric,
            allow_unknown_artifacts=True,
        )
        if rec is None:
            if require_significant:
                return None
            raise RuntimeError("champion promotion was not recorded")  # pragma: no cover
        self._warn_dangling(f"champion {rec.champion_id} ({model_id})", rec.artifacts)
        if previous_champion is not None and rec.previous_model_id != previous_champion:
            log.info("previous champion is %s in the store's chain, not %s as given", rec.previous_model_id,
                     previous_champion)
        return rec.champion_id

    def _warn_dangling(self, what: str, ids: Iterable[str]) -> None:
        missing = self.store.catalog.missing_ids(list(ids))
        if missing:
            log.warning("%s refers to %d artifact id(s) not in the store (kept as given): %s", what,
                        len(missing), ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else ""))

    def dangling_artifacts(self) -> dict[str, list[str]]:
        """Artifact ids that evaluation or champion records refer to but the store does not hold.

        Keys are ``evaluation:<evaluation_id>`` and ``champion:<champion_id>``; only
        records with at least one dangling id appear. The ids were recorded as given
        (see :meth:`record_evaluation_history`) or their artifacts were deleted since.
        """
        out: dict[str, list[str]] = {}
        for ev in self.store.evaluations():
            missing = self.store.catalog.missing_ids(list(ev.artifacts))
            if missing:
                out[f"evaluation:{ev.evaluation_id}"] = missing
        for ch in self.store.champion_history():
            missing = self.store.catalog.missing_ids(list(ch.artifacts))
            if missing:
                out[f"champion:{ch.champion_id}"] = missing
        return out

    def get_evaluation_history(
        self,
        model_id: str | None = None,
        limit: int | None = None,
        champions_only: bool = False,
    ) -> list[EvaluationHistory]:
        """Recorded evaluations, newest first (the seed's positional order: model, limit, champions_only)."""
        if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool)):
            raise InvalidInputError(f"limit must be an integer or None, not {limit!r}")
        return [EvaluationHistory.from_record(r)
                for r in self.store.evaluations(model_id, champions_only=champions_only, limit=limit)]

    def get_champion_progression(self, limit: int | None = None) -> list[ChampionProgression]:
        """The champion chain, newest first."""
        return [ChampionProgression.from_record(r) for r in self.store.champion_history(limit)]

    # --- querying and reading ------------------------------------------------------------

    def get_artifacts(
        self,
        artifact_type: ArtifactType | str | None = None,
        model_id: str | None = None,
        evaluation_id: str | None = None,
        tags: list[str] | None = None,
        limit: int | None = None,
    ) -> list[ArtifactMetadata]:
        """Artifacts matching every given filter (``tags``: any of them), newest first."""
        arts = self.store.find(
            artifact_type=artifact_type, model_id=model_id, evaluation_id=evaluation_id,
            tags=list(tags) if tags else None, tags_mode="any", limit=limit,
        )
        return [self._metadata(a) for a in arts]

    def get_artifact(self, artifact_id: str) -> ArtifactMetadata:
        """One artifact's metadata (an id or a ref); unknown raises ``ArtifactNotFoundError``."""
        return self._metadata(self.store.resolve(artifact_id))

    def retrieve_artifact(self, artifact_id: str, output_path: str | os.PathLike[str] | None = None) -> Path:
        """Write the artifact's original bytes (verified) to ``output_path``; return its :class:`~pathlib.Path`.

        The returned path is ``Path(output_path)`` as given (relative stays relative, so
        ``retrieved == Path(output_path)``); for a folder, the artifact's base name inside it.

        Without ``output_path`` the file goes to a new temporary folder, under
        the artifact's base name; the caller removes it. Missing parent folders
        of ``output_path`` are created. An unknown id raises
        :class:`~artifactstore.errors.ArtifactNotFoundError`, a ``ValueError``
        (as the seed's) and a ``KeyError``.
        """
        art = self.store.resolve(artifact_id)
        if output_path is None:
            out = Path(tempfile.mkdtemp(prefix="artifactstore-retrieved-")) / art.name.rsplit("/", 1)[-1]
        else:
            out = Path(output_path)
            if not out.is_dir():
                out.parent.mkdir(parents=True, exist_ok=True)
        path = Path(self.store.get(art, out))
        log.info("retrieved artifact %s to %s", art.id, path)
        return path

    def get_storage_stats(self) -> dict[str, Any]:
        """Storage figures, computed in SQL by the catalog.

        - ``total_artifacts``; ``total_size_bytes``: original bytes of every artifact.
        - ``compressed_size_bytes``: bytes the blobs actually occupy (after
          compression *and* deduplication: identical content is stored once).
        - ``compression_ratio`` = compressed_size_bytes / total_size_bytes
          (stored / original, lower is better); ``storage_efficiency`` = 1 - that
          ratio, the fraction of the original bytes that storage saved. Both are
          0.0 for an empty store.
        - ``artifacts_by_type`` / ``artifacts_by_model``: counts.
        - Also ``unique_blobs``, ``unique_size_bytes``, ``dedup_saved_bytes``,
          ``compression_saved_bytes`` and ``bytes_by_codec``, which split the saving.
        """
        s = self.store.stats()
        ratio = s.stored_size_bytes / s.total_size_bytes if s.total_size_bytes else 0.0
        return {
            "total_artifacts": s.total_artifacts,
            "total_size_bytes": s.total_size_bytes,
            "compressed_size_bytes": s.stored_size_bytes,
            "compression_ratio": ratio,
            "storage_efficiency": 1.0 - ratio if s.total_size_bytes else 0.0,
            "artifacts_by_type": self._groups("artifact_type", s.artifacts_by_type),
            "artifacts_by_model": self._groups("model_id", s.artifacts_by_model),
            "unique_blobs": s.unique_blobs,
            "unique_size_bytes": s.unique_size_bytes,
            "dedup_saved_bytes": s.dedup_saved_bytes,
            "compression_saved_bytes": s.compression_saved_bytes,
            "bytes_by_codec": dict(s.bytes_by_codec),
        }

    def _groups(self, column: str, counts: Mapping[str, int]) -> dict[str, dict[str, int]]:
        # The seed's shape: {key: {"count": n, "size_bytes": original bytes}}, one SQL sum per key.
        return {k: {"count": n, "size_bytes": self.store.catalog.stats({column: k}).total_size_bytes}
                for k, n in counts.items()}

    def sql_connection(self) -> Any:
        """A DB-API connection to the catalog on which the seed's tables can be queried by name.

        ``artifacts``, ``evaluation_history`` and ``champion_progression`` are
        temporary views with the seed's columns (see
        :mod:`artifactstore.catalog.seed_views`), so the seed's SQL runs as written::

            with manager.sql_connection() as conn:   # sqlite3: commits/rolls back, then close()
                rows = conn.execute("SELECT artifact_id, file_path FROM artifacts WHERE model_id = ?",
                                    ("enhanced_model_v1",)).fetchall()

        Any client of the catalog file also finds them, read-only, as
        ``seed_artifacts``, ``seed_evaluation_history`` and ``seed_champion_progression``
        (our own table is called ``artifacts`` too, so the seed's names can only be
        temporary views). On SQLite this is a :class:`sqlite3.Connection`; on
        PostgreSQL a psycopg connection. The caller closes it.
        """
        from ..catalog.seed_views import create_temp_views

        engine = getattr(self.store.catalog, "engine", None)
        if engine is None:
            raise InvalidInputError("this store's catalog is not an SQL database")
        root = None if self.base_path is None else str(self.base_path) + os.sep
        if engine.dialect.name == "sqlite":
            import sqlite3

            conn: Any = sqlite3.connect(str(engine.url.database))
        else:
            # a connection of its own (never one of the catalog's pool: the temporary views would
            # shadow the catalog's table there), with the catalog's search_path
            import psycopg

            schema = getattr(self.store.catalog, "schema", None)
            url = engine.url.set(drivername="postgresql")
            dsn = url.render_as_string(hide_password=False)
            conn = psycopg.connect(dsn, options=f"-csearch_path={schema}") if schema else psycopg.connect(dsn)
        create_temp_views(conn, engine.dialect.name, root)
        return conn

    # --- cleanup, archives, backups ------------------------------------------------------

    def retention_policies(
        self, max_age_days: float | None = None, keep_champions: bool = True
    ) -> list[RetentionPolicy]:
        """The policies cleanup applies (composed: an artifact goes only when none keeps it).

        With an explicit ``max_age_days`` the seed's rule applies, whatever the
        configured ``storage_policy``: an artifact goes when it is older than that
        many days (any number; 0 or less: every artifact) and, with
        ``keep_champions``, is not a champion's.

        Without it, the configured ``storage_policy`` decides (as auto cleanup does):

        - ``KEEP_ALL``: ``keep_all`` (nothing goes);
        - ``KEEP_TOP_K``: ``keep_top_k(max_artifacts_per_type)`` of each type;
        - ``KEEP_RECENT``: ``keep_recent(max_age_days of the config)``;
        - ``KEEP_CHAMPIONS``: champions' artifacts and ``keep_recent(max_age_days of the config)``;

        plus ``keep_champions`` when asked (or when it is the configured policy).
        ``keep_champions`` comes first, so cleanup can count the champion artifacts it preserves.
        """
        from ..gc import resolve_policies

        cfg = self.config
        specs: list[Any] = []
        if max_age_days is not None:
            if not isinstance(max_age_days, (int, float)) or isinstance(max_age_days, bool):
                raise InvalidInputError(f"max_age_days must be a number or None, not {max_age_days!r}")
            if keep_champions:
                specs.append({"name": "keep_champions"})
            # keep_recent(0) keeps nothing already made: "0 or less" means every unprotected artifact
            specs.append({"name": "keep_recent", "max_age_days": max(0.0, float(max_age_days))})
            return resolve_policies(self.store, specs)
        policy = cfg.storage_policy
        if keep_champions or policy is StoragePolicy.KEEP_CHAMPIONS:
            specs.append({"name": "keep_champions"})
        if policy is StoragePolicy.KEEP_ALL:
            specs.append({"name": "keep_all"})
        elif policy is StoragePolicy.KEEP_TOP_K:
            specs.append({"name": "keep_top_k", "k": cfg.max_artifacts_per_type})
        else:
            specs.append({"name": "keep_recent", "max_age_days": cfg.max_age_days})
        return resolve_policies(self.store, specs)

    def cleanup_artifacts(
        self,
        dry_run: bool = True,
        max_age_days: float | None = None,
        keep_champions: bool = True,
        *,
        grace_seconds: float | None = None,
    ) -> dict[str, int]:
        """Delete what the retention policies do not keep (by default only report it).

        Plans with :func:`artifactstore.gc.plan` over :meth:`retention_policies`
        and, unless ``dry_run``, applies the plan with :func:`artifactstore.gc.apply`.
        An explicit ``max_age_days`` applies the seed's age rule (older than that,
        and not a champion's with ``keep_champions``; 0 or less: every artifact
        not protected) whatever the configured ``storage_policy``; without one
        the configured policy applies, as in auto cleanup.

        Returns ``total_artifacts``, ``deleted_artifacts`` (planned, when
        ``dry_run``), ``preserved_champions`` (champion artifacts kept),
        ``freed_bytes`` (planned when ``dry_run``, else the blob bytes actually
        removed; a blob younger than ``grace_seconds``, default one hour, is only
        removed by a later cleanup), plus ``kept_artifacts`` and ``swept_blobs``.
        """
        from .. import gc

        policies = self.retention_policies(max_age_days, keep_champions)
        grace = gc.DEFAULT_GRACE_SECONDS if grace_seconds is None else float(grace_seconds)
        plan = gc.plan(self.store, policies, grace_seconds=grace)
        stats = {
            "total_artifacts": plan.total_artifacts,
            "deleted_artifacts": len(plan.delete),
            "preserved_champions": plan.kept_by_reason.get("keep_champions", 0),
            "freed_bytes": plan.freed_bytes,
            "kept_artifacts": plan.kept,
            "swept_blobs": 0,
        }
        if not dry_run:
            result = gc.apply(self.store, plan)
            stats["deleted_artifacts"] = result.deleted_artifacts
            stats["freed_bytes"] = result.freed_bytes
            stats["swept_blobs"] = result.swept_blobs
        log.info("%s %d artifacts, %d bytes", "would delete" if dry_run else "deleted",
                 stats["deleted_artifacts"], stats["freed_bytes"])
        return stats

    def create_archive(
        self,
        archive_path: str | os.PathLike[str],
        model_id: str | None = None,
        evaluation_id: str | None = None,
        artifact_types: list[ArtifactType | str] | None = None,
        include_metadata: bool = True,
    ) -> str:
        """Archive the matching artifacts to ``archive_path`` and store the archive; return its id.

        The archive is written by :func:`artifactstore.archive.create_archive`
        (tar.zst for a path ending in ``.tar.zst``, else tar.gz), kept at
        ``archive_path``, and stored as it is (no second compression) with type
        ``"archive"`` (:data:`ARCHIVE_TYPE`), tags ``archive`` and ``backup``,
        and the filters and member count in its metadata. No matching artifact
        is a ``ValueError``.
        """
        from ..archive import create_archive

        types = [getattr(t, "value", t) for t in artifact_types] if artifact_types else None
        arts = self.store.find(model_id=model_id, evaluation_id=evaluation_id, artifact_type=types)
        if not arts:
            raise InvalidInputError("no artifacts match the archive's criteria")
        dest = Path(archive_path)
        fmt = "tar.zst" if dest.name.lower().endswith((".tar.zst", ".tzst")) else "tar.gz"
        if not dest.parent.is_dir():
            dest.parent.mkdir(parents=True, exist_ok=True)
        create_archive(self.store, dest, arts, include_metadata=include_metadata, fmt=fmt)
        art = self.store.put(
            dest, artifact_type=ARCHIVE_TYPE, model_id=model_id, evaluation_id=evaluation_id,
            tags=["archive", "backup"], codec="none",
            metadata={
                "archive_type": "artifact_collection", "format": fmt, "artifact_count": len(arts),
                "includes_metadata": include_metadata, "artifact_ids": [a.id for a in arts],
                "artifact_types": types,
            },
        )
        log.info("created archive %s with %d artifacts", art.id, len(arts))
        self._after_write([art])
        return art.id

    def checkout(self, *, all_versions: bool = False) -> CheckoutReport:
        """Refresh the by-type view under :attr:`view_path`; return what was written.

        Writes ``<view_path>/<type>/<model id>/<name>`` for the latest version of
        every artifact (every version as ``<name>@v<N>`` with ``all_versions``),
        so each folder of :attr:`subdirs` holds its type's files, as the seed's
        folders did. Files are reflinks or verified copies (never hard links):
        writing to the view never changes the store. The view is not refreshed
        by writes; call this (or ``artifactstore checkout DIR``) when you want to browse.
        """
        from ..checkout import checkout

        if self.base_path is None:
            self.view_path.mkdir(parents=True, exist_ok=True)
        return checkout(self.store, self.view_path, all_versions=all_versions)

    def _backup_state_file(self) -> Path:
        import platformdirs

        key = hashlib.sha256(f"{self.store.url}\n{self.config.backup_url}".encode()).hexdigest()[:16]
        return Path(platformdirs.user_state_dir("artifactstore")) / "backups" / f"{key}.json"

    def _maybe_backup(self) -> None:
        interval = self.config.backup_interval_hours * 3600
        with self._lock:
            if self._last_backup is None:
                try:
                    self._last_backup = float(json.loads(self._backup_state_file().read_text())["last_backup"])
                except (OSError, ValueError, KeyError, TypeError):
                    self._last_backup = 0.0
            if time.time() - self._last_backup < interval:
                return
            self._last_backup = time.time()  # one attempt per interval, even if it fails
        try:
            self.backup()
        except ImportError as exc:
            self._warn_once("sync", "backup skipped: %s", exc)
        except Exception as exc:  # a failed backup must never fail the write that triggered it
            log.warning("backup to %s failed: %s: %s", _redacted(self.config.backup_url), type(exc).__name__, exc)

    def backup(self) -> SyncReport:
        """Copy this store to ``config.backup_url`` now with :func:`artifactstore.sync.sync`; return its report.

        This is the backup mechanism (``artifactstore sync`` does the same from a
        terminal). With ``backup_enabled``, writes run it by themselves once
        ``backup_interval_hours`` have passed since the last backup, whose time is
        kept in the user state folder.
        """
        if not self.config.backup_url:
            raise InvalidInputError("no backup_url is configured")
        from ..sync import sync

        with open_store(self.config.backup_url) as dst:
            report = sync(self.store, dst)
        now = time.time()
        with self._lock:
            self._last_backup = now
        state = self._backup_state_file()
        try:
            state.parent.mkdir(parents=True, exist_ok=True)
            state.write_text(json.dumps({"last_backup": now, "store": self.store.url}))
        except OSError as exc:
            log.warning("cannot record the backup time in %s: %s", state, exc)
        log.info("backed up %s to %s", self.store.url, _redacted(self.config.backup_url))
        return report


def _redacted(url: str | None) -> str:
    from ..redact import redact_url

    return redact_url(url or "")


def create_artifact_manager(config_path: str | os.PathLike[str] | None = None) -> ArtifactManager:
    """An :class:`ArtifactManager` configured from a JSON or TOML file (defaults without one).

    Unlike the seed, a ``config_path`` that does not exist is an error
    (``FileNotFoundError``) rather than silently ignored.
    """
    config = load_config(config_path) if config_path is not None else ArtifactManagerConfig()
    return ArtifactManager(config)

