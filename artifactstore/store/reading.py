"""The read path of :class:`~artifactstore.store.ArtifactStore`: verified reads, queries, verify.

Every read is decoded and verified against the artifact's SHA-256 and size by the
blob layer (:mod:`artifactstore.blobs`); ``get`` replaces its destination only
with bytes that passed.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from ..atomic import temp_sibling
from ..errors import (
    InvalidInputError,
)
from ..models import Artifact, StoreStats, VerifyReport
from ..refs import validate_name
from ..validation import (
    type_of,
)
from .core import StoreCore

if TYPE_CHECKING:
    from .artifact_store import ArtifactStore

__all__ = ["ReadPath"]

_FILTERS = frozenset({"artifact_type", "model_id", "evaluation_id", "suite_name", "map_name", "episode_id", "tags",
                      "tags_mode", "metadata", "name", "name_prefix", "created_after", "created_before"})


class ReadPath(StoreCore):
    """Reading artifacts, finding them, and checking the stored blobs."""

    def get_artifact(self, ref: str) -> Artifact:
        return self.resolve(ref)

    def open(self, ref: str | Artifact) -> BinaryIO:
        """A binary stream of the artifact's bytes, verified against its SHA-256 as it is read.

        The read that reaches the end raises :class:`IntegrityError` on a mismatch.
        """
        return self.blobs.open(self.resolve(ref))

    def read_bytes(self, ref: str | Artifact) -> bytes:
        """The whole artifact in memory, verified. Prefer :meth:`get` or :meth:`open` for large ones."""
        with self.open(ref) as f:
            return f.read()

    def get(
        self, ref: str | Artifact, dest: str | os.PathLike[str], progress: Callable[[int], None] | None = None
    ) -> Path:
        """Write the artifact to ``dest`` (a file path, or an existing folder that receives
        the artifact's base name), verified; ``dest`` is replaced atomically."""
        art = self.resolve(ref)
        out = Path(dest)
        if out.is_dir():
            out = out / art.name.rsplit("/", 1)[-1]
        elif os.fspath(dest).endswith(("/", os.sep)):
            raise InvalidInputError(f"destination folder does not exist: {dest}")
        if not out.parent.is_dir():
            raise InvalidInputError(f"destination folder does not exist: {out.parent}")
        if out.is_dir():  # dest/<base name> is itself a folder: never replace a folder with a file
            raise InvalidInputError(f"destination {out} is an existing folder")
        tmp = temp_sibling(out)
        try:
            self.blobs.write_file(art, tmp, out, progress)
        except OSError as exc:
            if exc.filename is None or os.fspath(exc.filename) != os.fspath(tmp):
                raise
            raise _dest_error(exc, out, len(tmp.name) - len(out.name)) from exc
        return out

    def find(
        self,
        *,
        artifact_type: Any = None,
        model_id: str | None = None,
        evaluation_id: str | None = None,
        suite_name: str | None = None,
        map_name: str | None = None,
        episode_id: str | None = None,
        tags: Iterable[str] | str | None = None,
        tags_mode: str = "any",
        metadata: Mapping[str, Any] | None = None,
        name: str | None = None,
        name_prefix: str | None = None,
        created_after: Any = None,
        created_before: Any = None,
        order_by: str = "-created_at",
        limit: int | None = None,
        offset: int = 0,
    ) -> list[Artifact]:
        """Artifacts matching every given filter, newest first unless ``order_by`` says otherwise.

        ``tags`` matches any (``tags_mode="any"``) or all of the tags; ``metadata``
        matches each given top-level key exactly. ``order_by`` is one of
        ``-created_at`` (default), ``created_at``, ``name``, ``-name``, ``size``,
        ``-size``, ``version``, ``-version``.
        """
        filters = self._filters(locals())
        return self.catalog.find(filters, order_by=order_by, limit=limit, offset=offset)

    def count(self, **filters: Any) -> int:
        """Number of artifacts matching the same filters as :meth:`find`."""
        bad = set(filters) - _FILTERS
        if bad:
            raise InvalidInputError(f"unknown filter(s): {', '.join(sorted(bad))}")
        return self.catalog.count(self._filters(filters))

    def search(self, text: str, *, limit: int | None = 50, offset: int = 0, **filters: Any) -> list[Artifact]:
        """Artifacts whose name, type, model, evaluation, suite, map, episode, tags or metadata
        (keys and values, nested ones as ``key.sub``) match ``text``, best match first, then newest.

        ``text`` holds words (all must match; a prefix with ``resnet*``), ``"exact phrases"``
        and ``-excluded`` words; case and accents do not matter. ``filters`` are those of
        :meth:`find`. An empty query raises :class:`~artifactstore.errors.InvalidQueryError`.
        """
        from ..catalog.search import parse_query

        bad = set(filters) - _FILTERS
        if bad:
            raise InvalidInputError(f"unknown filter(s): {', '.join(sorted(bad))}")
        return self.catalog.search(parse_query(text), self._filters(filters), limit=limit, offset=offset)

    @staticmethod
    def _filters(values: Mapping[str, Any]) -> dict[str, Any]:
        f = {k: v for k, v in values.items() if k not in ("self", "order_by", "limit", "offset") and v is not None}
        if "artifact_type" in f:
            at = f["artifact_type"]
            f["artifact_type"] = [type_of(x) for x in at] if isinstance(at, (list, tuple, set)) else type_of(at)
        return f

    def versions(self, name: str) -> list[Artifact]:
        """Every stored version of ``name``, oldest first."""
        validate_name(name)
        return self.catalog.find({"name": name}, order_by="version")

    def stats(self) -> StoreStats:
        return self.catalog.stats()

    def aliases(self, ref: str | Artifact) -> list[str]:
        return self.catalog.aliases_of(self.resolve(ref).id)

    def verify(self, progress: Callable[[int], None] | None = None, *, repair: bool = False,
               replica: ArtifactStore | None = None) -> VerifyReport:
        """Re-hash every blob; report which artifacts are corrupt or missing their blob.

        ``repair=True`` restores each broken blob from ``replica`` (another store holding the
        same content) when it can, and reports the rest as needing a re-put
        (:mod:`artifactstore.repair`)."""
        by_blob: dict[str, list[Artifact]] = {}
        for a in self.catalog.iter_all():
            by_blob.setdefault(a.blob_key, []).append(a)
        checked: list[str] = []
        corrupt: list[str] = []
        missing: list[str] = []
        for arts in by_blob.values():
            ids = [a.id for a in arts]
            checked += ids
            status = self.blobs.check(arts[0], progress)
            if status == "missing":
                missing += ids
            elif status == "corrupt":
                corrupt += ids
        bad = set(corrupt)
        bad_keys = sorted({a.blob_key for arts in by_blob.values() for a in arts if a.id in bad})

        # Remembered, so that a put of the same bytes heals the blob instead of sharing it
        # (a flipped byte keeps the size dedup checks).
        self.catalog.mark_blobs_suspect(bad_keys)
        if not repair:
            return VerifyReport(checked=sorted(checked), corrupt=sorted(corrupt), missing=sorted(missing))
        from ..repair import repair_blobs

        broken = set(corrupt) | set(missing)
        outcome = repair_blobs(self.as_store(), [a for arts in by_blob.values() for a in arts if a.id in broken],
                               replica)
        fixed = set(outcome.repaired)
        healed = sorted({a.blob_key for arts in by_blob.values() for a in arts if a.id in fixed})

        self.catalog.clear_blob_suspect(healed)
        return VerifyReport(checked=sorted(checked), corrupt=sorted(corrupt), missing=sorted(missing),
                            repaired=sorted(outcome.repaired), needs_reput=sorted(outcome.needs_reput), repair=True)


def _dest_error(exc: OSError, out: Path, extra: int) -> OSError:
    # Name the user's destination, not the hidden temporary file beside it.
    why = f"{exc.strerror} (writing the temporary file beside it)"
    if exc.errno == errno.ENAMETOOLONG:
        why = f"{exc.strerror}: the temporary file beside it needs {extra} more characters; use a shorter name"
    return OSError(exc.errno, why, str(out))
