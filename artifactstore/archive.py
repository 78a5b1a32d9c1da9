"""Archives: artifacts of a store as one ``tar.gz`` / ``tar.zst`` file, and back into any store.

An archive holds, in this order::

    index.json                   format, created_at, the artifact list, linked evaluations and
                                 champion events (only with ``include_metadata``)
    manifests/<id>.json          one per artifact: ``Artifact.to_dict()`` plus ``"kind": "artifact"``
    artifacts/<id>/<name>        the artifact's original bytes (``name`` may contain ``/``)

The index and the manifests come first so that an import knows every declared
name, size and SHA-256 before it meets any artifact data.

Import never trusts the archive. It reads it twice:

1. a validation pass over the whole archive that writes nothing anywhere: every
   member header is checked (names, types, duplicates, layout), every manifest is
   validated as strictly as :meth:`ArtifactStore.put` validates its input, and
   every artifact member is streamed through SHA-256 and compared with its
   manifest. Decompressed bytes are capped at what the headers already accepted
   declare, plus a small allowance per member, and reading stops the moment the
   cap is passed (gzip/zstd bombs, huge pax headers);
2. the import pass, which re-checks the same things (the file may have changed
   in between) while streaming each member into the target store's blob writer,
   then commits every new artifact in one catalog transaction.

A hostile archive raises :class:`~artifactstore.errors.HostileArchiveError` naming
the member, from the first pass, before the target store has been touched.
"""

from __future__ import annotations

import datetime as _dt
import gzip
import io
import json
import math
import os
import re
import tarfile
import time
import zlib
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, BinaryIO

from .atomic import replacing
from .errors import ArtifactNotFoundError, ArtifactStoreError, HostileArchiveError, InvalidInputError
from .models import Artifact, ChampionRecord, EvaluationRecord
from .refs import is_artifact_id, safe_member_path
from .streams import CHUNK, pump

if TYPE_CHECKING:
    from .store import ArtifactStore

__all__ = ["ARCHIVE_FORMAT", "ARCHIVE_VERSION", "ArchiveInfo", "ImportReport", "create_archive", "import_archive"]

ARCHIVE_FORMAT = "artifactstore-archive"
ARCHIVE_VERSION = 1
FORMATS = ("tar.gz", "tar.zst")

#: Largest index.json / manifest member accepted on import.
INDEX_MAX = 256 << 20
MANIFEST_MAX = 2 << 20  # a put's metadata limit (1 MiB, validation.METADATA_MAX_BYTES) plus its other fields
#: Decompressed bytes allowed beyond a member's declared data: its own tar and pax
#: headers, the next member's, tar padding and tarfile's read-ahead.
MEMBER_ALLOWANCE = 64 << 10

_SHA_RE = re.compile(r"^[0-9a-f]{64}$")
_GZIP_MAGIC = b"\x1f\x8b"
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_INDEX = "index.json"
_TAR_BUF = 1 << 20
_ARCHIVE = "(archive)"


@dataclass(frozen=True)
class ArchiveInfo:
    """What :func:`create_archive` wrote: ``bytes`` is the archive file's size,
    ``content_bytes`` the sum of the artifacts' original sizes."""

    path: Path
    fmt: str
    count: int
    bytes: int
    content_bytes: int = 0
    ids: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "fmt": self.fmt, "count": self.count, "bytes": self.bytes,
                "content_bytes": self.content_bytes, "ids": list(self.ids)}


@dataclass
class ImportReport:
    """Outcome of :func:`import_archive`.

    ``imported``: ids now stored from the archive. ``skipped``: ids the store
    already held (same id and content). ``tombstoned``: ids the store has a
    recorded deletion for; they are not resurrected (a reindex would drop them
    again). ``evaluations``: evaluation records restored from the index.
    """

    imported: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    tombstoned: list[str] = field(default_factory=list)
    evaluations: list[str] = field(default_factory=list)
    bytes: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"imported": self.imported, "skipped": self.skipped, "tombstoned": self.tombstoned,
                "evaluations": self.evaluations, "bytes": self.bytes}


# --- creating ------------------------------------------------------------------------------


def _tarinfo(name: str, size: int, mtime: float) -> tarfile.TarInfo:
    ti = tarfile.TarInfo(name)
    ti.size = size
    ti.mtime = int(mtime)
    ti.mode = 0o644
    ti.type = tarfile.REGTYPE
    return ti


def _linked_history(
    store: ArtifactStore, arts: list[Artifact]
) -> tuple[list[EvaluationRecord], list[ChampionRecord]]:
    ids = {a.id for a in arts}
    eval_ids = {a.evaluation_id for a in arts if a.evaluation_id}
    evals = [e for e in store.evaluations() if ids.intersection(e.artifacts) or e.evaluation_id in eval_ids]
    linked = {e.evaluation_id for e in evals}
    champs = [c for c in store.champion_history()
              if ids.intersection(c.artifacts) or (c.evaluation_id is not None and c.evaluation_id in linked)]
    evals.sort(key=lambda e: (e.timestamp, e.evaluation_id))
    champs.sort(key=lambda c: c.seq)
    return evals, champs


class _CountingReader:
    """Passes reads through and reports the byte counts to ``progress``."""

    def __init__(self, inner: IO[bytes], progress: Callable[[int], None]) -> None:
        self._inner = inner
        self._progress = progress

    def read(self, size: int = -1) -> bytes:
        data = self._inner.read(size)
        if data:
            self._progress(len(data))
        return data


def _write_members(store: ArtifactStore, tf: tarfile.TarFile, arts: list[Artifact], include_metadata: bool,
                   now: float, progress: Callable[[int], None] | None) -> None:
    if include_metadata:
        evals, champs = _linked_history(store, arts)
        index = {
            "format": ARCHIVE_FORMAT,
            "version": ARCHIVE_VERSION,
            "created_at": _dt.datetime.fromtimestamp(now, _dt.UTC).isoformat(),
            "source": store.url,
            "artifacts": [
                {"id": a.id, "name": a.name, "version": a.version, "sha256": a.sha256, "size": a.size,
                 "type": a.artifact_type, "model": a.model_id}
                for a in arts
            ],
            "evaluations": [e.to_dict() for e in evals],
            "champions": [c.to_dict() for c in champs],
        }
        data = json.dumps(index, indent=1, sort_keys=True, ensure_ascii=False, allow_nan=False).encode()
        tf.addfile(_tarinfo(_INDEX, len(data), now), io.BytesIO(data))
    # Every manifest before any artifact data: import knows each declared size and
    # SHA-256 before it decompresses a byte of artifact data.
    for a in arts:
        data = json.dumps({"kind": "artifact", **a.to_dict()}, indent=1, sort_keys=True,
                          ensure_ascii=False, allow_nan=False).encode()
        tf.addfile(_tarinfo(f"manifests/{a.id}.json", len(data), a.created_at.timestamp()), io.BytesIO(data))
    for a in arts:
        ti = _tarinfo(f"artifacts/{a.id}/{a.name}", a.size, a.created_at.timestamp())
        with store.open(a.id) as f:
            src: Any = f if progress is None else _CountingReader(f, progress)
            tf.addfile(ti, src)
            # tarfile reads exactly `size` bytes; the verifying reader checks the
            # SHA-256 on the read that reaches the end, so make that read happen.
            if f.read(1):
                raise ArtifactStoreError(f"artifact {a.id} is longer than its recorded size")


def create_archive(
    store: ArtifactStore,
    dest_path: str | os.PathLike[str],
    artifacts: Iterable[str | Artifact] | None = None,
    *,
    include_metadata: bool = True,
    fmt: str = "tar.gz",
    progress: Callable[[int], None] | None = None,
) -> ArchiveInfo:
    """Write ``artifacts`` (ids, refs or :class:`Artifact`; every artifact when ``None``)
    of ``store`` into a ``tar.gz`` or ``tar.zst`` archive at ``dest_path``.

    The archive is streamed: memory stays bounded whatever the artifacts' sizes,
    and each artifact's bytes are verified against its SHA-256 as they are read
    (a corrupt blob raises :class:`IntegrityError` and leaves no archive behind).
    The file appears at ``dest_path`` only once complete (written to a temporary
    name in the same folder, then renamed).
    """
    if fmt not in FORMATS:
        raise InvalidInputError(f"unknown archive format {fmt!r}; use one of {', '.join(FORMATS)}")
    dest = Path(dest_path)
    if not dest.parent.is_dir():
        raise InvalidInputError(f"destination folder does not exist: {dest.parent}")
    if dest.is_dir():
        raise InvalidInputError(f"destination is a folder: {dest}")
    if artifacts is None:
        arts = store.find(order_by="created_at")
    else:
        arts, seen = [], set()
        for ref in artifacts:
            a = store.resolve(ref)
            if a.id not in seen:
                seen.add(a.id)
                arts.append(a)
    now = time.time()
    # a temporary name in dest's folder, renamed onto dest once complete and on disk
    with replacing(dest, fsync=True) as tmp, open(tmp, "wb") as out:
        comp: Any
        if fmt == "tar.gz":
            comp = gzip.GzipFile(fileobj=out, mode="wb", compresslevel=6, mtime=0)
        else:
            import zstandard

            comp = zstandard.ZstdCompressor(level=3, threads=0).stream_writer(
                out, closefd=False
            )
        # tarfile's stream buffer re-slices itself per `bufsize` written: keep it as large as the
        # pieces copied (copybufsize), or each MiB of data costs a hundred MiB of memmove.
        with tarfile.open(fileobj=comp, mode="w|", format=tarfile.PAX_FORMAT, bufsize=_TAR_BUF) as tf:
            tf.copybufsize = _TAR_BUF  # type: ignore[attr-defined]
            _write_members(store, tf, arts, include_metadata, now, progress)
        comp.close()  # writes the gzip trailer / ends the zstd frame; `out` stays open
    return ArchiveInfo(path=dest, fmt=fmt, count=len(arts), bytes=dest.stat().st_size,
                       content_bytes=sum(a.size for a in arts), ids=tuple(a.id for a in arts))


# --- reading: limits and strict parsing ----------------------------------------------------


class _BudgetExceeded(Exception):
    pass


class _Budget:
    """The decompressed stream tarfile reads from, cut off at ``limit`` bytes.

    The walker raises the limit as it accepts each header, by the member's
    declared size plus :data:`MEMBER_ALLOWANCE`; anything else a hostile archive
    makes the decompressor produce stops the read at once.
    """

    def __init__(self, inner: IO[bytes]) -> None:
        self._inner = inner
        self.n = 0
        self.limit = MEMBER_ALLOWANCE

    def allow(self, nbytes: int) -> None:
        self.limit = self.n + nbytes

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            size = CHUNK
        room = self.limit - self.n
        # Ask for one byte more than the room left so that crossing the limit is seen.
        data = self._inner.read(max(0, min(size, room + 1)))
        self.n += len(data)
        if self.n > self.limit:
            raise _BudgetExceeded()
        return data


class _JSONError(ValueError):
    pass


def _pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
    d: dict[str, Any] = {}
    for k, v in items:
        if k in d:
            raise _JSONError(f"duplicate key {k!r}")
        d[k] = v
    return d


def _no_constant(name: str) -> Any:
    raise _JSONError(f"{name} is not valid JSON")


def _strict_json(member: str, data: bytes) -> Any:
    try:
        return json.loads(data.decode("utf-8"), object_pairs_hook=_pairs, parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise HostileArchiveError(member, f"not valid JSON: {exc}") from None


def _timestamp(member: str, what: str, value: Any) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        ts = float(value)
    elif isinstance(value, str):
        try:
            d = _dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise HostileArchiveError(member, f"{what} is not an ISO timestamp: {value[:40]!r}") from None
        ts = (d if d.tzinfo else d.replace(tzinfo=_dt.UTC)).timestamp()
    else:
        raise HostileArchiveError(member, f"{what} is not a timestamp")
    if not math.isfinite(ts) or not 0 <= ts < 1e11:
        raise HostileArchiveError(member, f"{what} is out of range")
    return ts


def _checked(member: str, fn: Callable[..., Any], *args: Any) -> Any:
    """Run one of the store's own input checks, turning its error into a HostileArchiveError."""
    try:
        return fn(*args)
    except InvalidInputError as exc:
        raise HostileArchiveError(member, str(exc)) from None


def _check_sha_size(member: str, where: str, d: Mapping[str, Any]) -> tuple[str, int]:
    sha, size = d.get("sha256"), d.get("size")
    if not isinstance(sha, str) or not _SHA_RE.match(sha):
        raise HostileArchiveError(member, f"{where}: sha256 must be 64 lowercase hex digits")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise HostileArchiveError(member, f"{where}: size must be a non-negative integer")
    return sha, size


def _check_manifest(member: str, aid: str, data: bytes) -> dict[str, Any]:
    """Validate one manifest as strictly as put() validates its arguments; return the row fields."""
    # The store's own validators (artifactstore.validation): an archive
    # entry must pass exactly what a put() call would have to pass.
    from .validation import FIELDS, check_field, check_metadata, check_tags, type_of

    m = _strict_json(member, data)
    if not isinstance(m, dict):
        raise HostileArchiveError(member, "a manifest must be a JSON object")
    if m.get("kind") != "artifact":
        raise HostileArchiveError(member, "manifest kind is not 'artifact'")
    if m.get("id") != aid:
        raise HostileArchiveError(member, f"manifest id {str(m.get('id'))[:40]!r} does not match the member name")
    name = m.get("name")
    if not isinstance(name, str):
        raise HostileArchiveError(member, "manifest has no name")
    _checked(member, safe_member_path, name)
    sha, size = _check_sha_size(member, "manifest", m)
    fields: dict[str, Any] = {
        "id": aid, "name": name, "sha256": sha, "size": size,
        "artifact_type": _checked(member, type_of, m.get("artifact_type")),
        "tags": _checked(member, check_tags, m.get("tags")),
        "metadata": _checked(member, check_metadata, m.get("metadata")),
        "created_at": _timestamp(member, "created_at", m.get("created_at")),
    }
    for f in FIELDS:
        fields[f] = _checked(member, check_field, f, m.get(f))
    return fields


def _check_evaluation(member: str, e: Any) -> dict[str, Any]:
    from .validation import check_metadata, check_score, required_field

    if not isinstance(e, dict):
        raise HostileArchiveError(member, "an evaluation must be a JSON object")
    arts = e.get("artifacts") or []
    if not isinstance(arts, list) or not all(isinstance(a, str) and is_artifact_id(a) for a in arts):
        raise HostileArchiveError(member, "evaluation artifacts must be a list of artifact ids")
    rank = e.get("champion_rank")
    if rank is not None and (not isinstance(rank, int) or isinstance(rank, bool)):
        raise HostileArchiveError(member, "champion_rank must be an integer")
    return {
        "evaluation_id": _checked(member, required_field, "evaluation_id", e.get("evaluation_id")),
        "model_id": _checked(member, required_field, "model_id", e.get("model_id")),
        "global_score": _checked(member, check_score, "global_score", e.get("global_score")),
        "success_rate": _checked(member, check_score, "success_rate", e.get("success_rate")),
        "metrics": _checked(member, check_metadata, e.get("metrics")),
        "metadata": _checked(member, check_metadata, e.get("metadata")),
        "repro": _checked(member, check_metadata, e.get("repro")),
        "artifacts": list(arts),
        "is_champion": bool(e.get("is_champion", False)),
        "champion_rank": rank,
        "timestamp": _timestamp(member, "evaluation timestamp", e.get("timestamp")),
    }


@dataclass
class _Index:
    artifacts: dict[str, tuple[str, str, int]]  # id -> (name, sha256, size)
    evaluations: list[dict[str, Any]]
    champions: list[Any]


def _check_index(data: bytes) -> _Index:
    doc = _strict_json(_INDEX, data)
    if not isinstance(doc, dict) or doc.get("format") != ARCHIVE_FORMAT:
        raise HostileArchiveError(_INDEX, f"not an {ARCHIVE_FORMAT} index")
    version = doc.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise HostileArchiveError(_INDEX, "index version must be a positive integer")
    if version > ARCHIVE_VERSION:
        raise InvalidInputError(
            f"archive format version {version} is newer than this artifactstore supports ({ARCHIVE_VERSION}); "
            "upgrade artifactstore"
        )
    entries = doc.get("artifacts")
    if not isinstance(entries, list):
        raise HostileArchiveError(_INDEX, "'artifacts' must be a list")
    arts: dict[str, tuple[str, str, int]] = {}
    for e in entries:
        if not isinstance(e, dict) or not isinstance(e.get("id"), str) or not is_artifact_id(e["id"]):
            raise HostileArchiveError(_INDEX, "an artifact entry has no valid artifact id")
        aid = e["id"]
        if aid in arts:
            raise HostileArchiveError(_INDEX, f"artifact {aid} is listed twice")
        name = e.get("name")
        if not isinstance(name, str):
            raise HostileArchiveError(_INDEX, f"artifact {aid} has no name")
        try:
            safe_member_path(name)
        except InvalidInputError as exc:
            raise HostileArchiveError(_INDEX, f"artifact {aid}: {exc}") from None
        sha, size = _check_sha_size(_INDEX, f"artifact {aid}", e)
        arts[aid] = (name, sha, size)
    evals = doc.get("evaluations") or []
    champs = doc.get("champions") or []
    if not isinstance(evals, list) or not isinstance(champs, list):
        raise HostileArchiveError(_INDEX, "'evaluations' and 'champions' must be lists")
    return _Index(arts, [_check_evaluation(_INDEX, e) for e in evals], champs)


# --- reading: the walk over the archive ----------------------------------------------------


@dataclass
class _Plan:
    """What the validation pass learned; the import pass must see exactly the same."""

    index: _Index | None = None
    manifests: dict[str, dict[str, Any]] = field(default_factory=dict)
    members: list[tuple[str, int]] = field(default_factory=list)


#: on_artifact(fields, member_file) -> (sha256, size) of the bytes it consumed
_OnArtifact = Callable[[dict[str, Any], IO[bytes]], tuple[str, int]]


def _open_decompressed(raw: BinaryIO) -> IO[bytes]:
    magic = raw.read(4)
    raw.seek(0)
    if magic.startswith(_GZIP_MAGIC):
        return gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[return-value]
    if magic == _ZSTD_MAGIC:
        import zstandard

        reader: IO[bytes] = zstandard.ZstdDecompressor(max_window_size=1 << 27).stream_reader(
            raw, read_across_frames=True, closefd=False
        )
        return reader
    return raw  # a plain tar; tarfile rejects anything else


def _stream_errors() -> tuple[type[BaseException], ...]:
    errs: list[type[BaseException]] = [tarfile.TarError, EOFError, OSError, zlib.error, ValueError]
    try:
        import zstandard

        errs.append(zstandard.ZstdError)
    except ImportError:  # pragma: no cover
        pass
    return tuple(errs)


def _member_type_problem(ti: tarfile.TarInfo) -> str | None:
    if ti.issym():
        return f"symbolic link (to {ti.linkname!r})"
    if ti.islnk():
        return f"hard link (to {ti.linkname!r})"
    if ti.ischr() or ti.isblk():
        return "device file"
    if ti.isfifo():
        return "FIFO"
    if ti.isdir():
        return "directory (the archive layout has none)"
    if ti.type not in (tarfile.REGTYPE, tarfile.AREGTYPE) or ti.sparse is not None:
        return f"unsupported member type {ti.type!r}"
    return None


class _Walker:
    """One pass over an archive: checks every member, feeds artifact members to ``on_artifact``.

    With ``expect`` (the import pass) the archive must be exactly what the
    validation pass saw: the file may have changed in between.
    """

    def __init__(self, on_artifact: _OnArtifact, expect: _Plan | None) -> None:
        self.on_artifact = on_artifact
        self.expect = expect
        self.plan = _Plan()
        self.seen: set[str] = set()
        self.done: set[str] = set()
        self.errors = _stream_errors()

    def run(self, path: Path) -> _Plan:
        last = "(start of archive)"
        current = "(the first member)"  # tarfile.open reads the first header itself
        with open(path, "rb") as raw:
            budget = _Budget(_open_decompressed(raw))
            try:
                with tarfile.open(fileobj=budget, mode="r|") as tf:  # type: ignore[call-overload]
                    while True:
                        current = f"(the member after {last})"
                        ti = tf.next()
                        if ti is None:
                            break
                        current = ti.name
                        self.member(tf, ti, budget)
                        last = ti.name
            except _Passthrough as p:
                raise p.exc from None
            except _BudgetExceeded:
                raise HostileArchiveError(
                    current, f"decompressed data goes beyond the sizes the archive declares (cut off after "
                    f"{budget.n} bytes): a decompression bomb?"
                ) from None
            except ArtifactStoreError:  # HostileArchiveError among them
                raise
            except self.errors as exc:
                raise HostileArchiveError(current, f"unreadable archive: {type(exc).__name__}: {exc}") from None
        self.finish()
        return self.plan

    def member(self, tf: tarfile.TarFile, ti: tarfile.TarInfo, budget: _Budget) -> None:
        plan, name = self.plan, ti.name
        _check_header(ti, self.seen, plan)
        self.seen.add(name)
        plan.members.append((name, ti.size))
        if self.expect is not None:
            i = len(plan.members) - 1
            if i >= len(self.expect.members) or self.expect.members[i] != (name, ti.size):
                raise HostileArchiveError(name, "the archive changed between validation and import")
        # The member's declared size (checked against its caps or manifest by now)
        # plus one allowance for headers: all the decompressor may produce until the next member.
        if name == _INDEX:
            budget.allow(_pad(ti.size) + MEMBER_ALLOWANCE)
            plan.index = _check_index(_read_all(tf, ti))
        elif name.startswith("manifests/"):
            budget.allow(_pad(ti.size) + MEMBER_ALLOWANCE)
            self.manifest(name, _read_all(tf, ti))
        else:  # artifacts/<id>/<name>: _check_header saw its manifest
            self.artifact(tf, ti, budget)
        budget.allow(MEMBER_ALLOWANCE)

    def manifest(self, name: str, data: bytes) -> None:
        aid = name[len("manifests/") : -len(".json")]
        fields = _check_manifest(name, aid, data)
        index = self.plan.index
        if index is not None:
            listed = index.artifacts.get(aid)
            if listed is None:
                raise HostileArchiveError(name, "artifact is not listed in index.json")
            if listed != (fields["name"], fields["sha256"], fields["size"]):
                raise HostileArchiveError(name, "manifest disagrees with index.json (name, sha256 or size)")
        if self.expect is not None and self.expect.manifests.get(aid) != fields:
            raise HostileArchiveError(name, "the archive changed between validation and import")
        self.plan.manifests[aid] = fields

    def artifact(self, tf: tarfile.TarFile, ti: tarfile.TarInfo, budget: _Budget) -> None:
        name = ti.name
        aid, rest = name[len("artifacts/") :].split("/", 1)
        fields = self.plan.manifests[aid]
        if rest != fields["name"]:
            raise HostileArchiveError(name, f"member name disagrees with its manifest's name {fields['name']!r}")
        if ti.size != fields["size"]:
            raise HostileArchiveError(
                name, f"member size {ti.size} disagrees with its manifest ({fields['size']} bytes)"
            )
        budget.allow(_pad(ti.size) + MEMBER_ALLOWANCE)
        f = tf.extractfile(ti)
        assert f is not None
        try:
            sha, size = self.on_artifact(fields, _MemberReader(f, name, self.errors))  # type: ignore[arg-type]
        except (HostileArchiveError, _BudgetExceeded):
            raise
        except BaseException as exc:  # the target store's own failure, not the archive's
            raise _Passthrough(exc) from exc
        if size != fields["size"]:
            raise HostileArchiveError(name, f"member holds {size} bytes, its manifest says {fields['size']}")
        if sha != fields["sha256"]:
            raise HostileArchiveError(name, f"sha256 {sha} disagrees with its manifest ({fields['sha256']})")
        self.done.add(aid)

    def finish(self) -> None:
        plan = self.plan
        for aid in plan.manifests:
            if aid not in self.done:
                raise HostileArchiveError(f"manifests/{aid}.json", "no artifact member holds its data")
        if plan.index is not None:
            for aid in plan.index.artifacts:
                if aid not in plan.manifests:
                    raise HostileArchiveError(_INDEX, f"artifact {aid} is listed but has no manifest")
        if self.expect is not None and len(plan.members) != len(self.expect.members):
            raise HostileArchiveError(_ARCHIVE, "the archive changed between validation and import")


def _walk(path: Path, on_artifact: _OnArtifact, expect: _Plan | None = None) -> _Plan:
    return _Walker(on_artifact, expect).run(path)


class _Passthrough(Exception):
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc
        super().__init__(str(exc))


class _MemberReader:
    """An artifact member's data; a read error is the archive's fault and names the member."""

    def __init__(self, inner: IO[bytes], member: str, errors: tuple[type[BaseException], ...]) -> None:
        self._inner = inner
        self._member = member
        self._errors = errors

    def read(self, size: int = -1) -> bytes:
        try:
            return self._inner.read(size)
        except _BudgetExceeded:
            raise
        except self._errors as exc:
            raise HostileArchiveError(self._member, f"unreadable member: {type(exc).__name__}: {exc}") from None


def _pad(size: int) -> int:
    return -(-size // tarfile.BLOCKSIZE) * tarfile.BLOCKSIZE


def _read_all(tf: tarfile.TarFile, ti: tarfile.TarInfo) -> bytes:
    f = tf.extractfile(ti)
    assert f is not None
    data = f.read()
    if len(data) != ti.size:
        raise HostileArchiveError(ti.name, "truncated member")
    return data


def _check_header(ti: tarfile.TarInfo, seen: set[str], plan: _Plan) -> None:
    """Reject an unsafe or unexpected member from its header alone, before reading its data."""
    name = ti.name
    if "\x00" in name:
        raise HostileArchiveError(name, "NUL character in the member name")
    if "\\" in name:
        raise HostileArchiveError(name, "backslash in the member name")
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        raise HostileArchiveError(name, "absolute path")
    try:
        safe_member_path(name)
    except InvalidInputError as exc:
        raise HostileArchiveError(name, getattr(exc, "reason", str(exc))) from None
    if name in seen:
        raise HostileArchiveError(name, "duplicate member name")
    problem = _member_type_problem(ti)
    if problem is not None:
        raise HostileArchiveError(name, problem)
    if name == _INDEX:
        if plan.members:
            raise HostileArchiveError(name, "index.json must be the first member")
        if ti.size > INDEX_MAX:
            raise HostileArchiveError(name, f"index larger than {INDEX_MAX} bytes")
        return
    parts = name.split("/")
    if len(parts) == 2 and parts[0] == "manifests" and parts[1].endswith(".json"):
        aid = parts[1][: -len(".json")]
        if not is_artifact_id(aid):
            raise HostileArchiveError(name, "manifest name is not manifests/<artifact id>.json")
        if ti.size > MANIFEST_MAX:
            raise HostileArchiveError(name, f"manifest larger than {MANIFEST_MAX} bytes")
        return
    if len(parts) >= 3 and parts[0] == "artifacts":
        if not is_artifact_id(parts[1]):
            raise HostileArchiveError(name, "not artifacts/<artifact id>/<name>")
        if parts[1] not in plan.manifests:
            raise HostileArchiveError(name, "artifact member without a manifest before it")
        return
    raise HostileArchiveError(
        name, "not in the archive layout (index.json, manifests/<id>.json, artifacts/<id>/<name>)"
    )


# --- importing -----------------------------------------------------------------------------


def _tombstones(store: ArtifactStore) -> set[str]:
    """Ids the store has recorded a deletion for (reindex would drop them again)."""
    return {str(e.get("artifact_id")) for e in store.records.read_all() if e.get("kind") == "delete"}


def _no_reopen() -> IO[bytes]:
    raise InvalidInputError(
        "the codec failed on an archive member; a streamed member cannot be re-read to store it uncompressed"
    )


def import_archive(
    store: ArtifactStore,
    path: str | os.PathLike[str],
    *,
    restore_evaluations: bool = True,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Load the archive at ``path`` into ``store``, verifying every checksum.

    Artifacts keep their ids, names, types, tags, metadata and creation times;
    versions are assigned by ``store``. Ids the store already holds are skipped,
    so importing twice imports nothing the second time. Evaluation records in
    the index that ``store`` lacks are recorded too (with ``restore_evaluations``);
    champion events are kept in the index for reference but not replayed, since
    the target store has its own champion chain.

    A hostile or damaged archive raises :class:`HostileArchiveError` before
    anything is written to ``store``. New artifacts become visible together, in
    one catalog transaction, or not at all.
    """
    src = Path(path)
    if not src.is_file():
        raise InvalidInputError(f"archive not found: {src}")

    # Pass 1: validate everything; nothing is written anywhere.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="artifactstore-archive-hash") as pool:
        def hash_only(fields: dict[str, Any], f: IO[bytes]) -> tuple[str, int]:
            return pump(f.read, lambda _b: None, pool)

        plan = _walk(src, hash_only)

    tomb = _tombstones(store) if plan.manifests else set()
    to_import: set[str] = set()
    report = ImportReport()
    for aid, fields in plan.manifests.items():
        existing = store.catalog.get(aid)
        if existing is not None:
            if existing.sha256 != fields["sha256"] or existing.size != fields["size"]:
                raise HostileArchiveError(
                    f"manifests/{aid}.json", "the store already holds this artifact id with different content"
                )
            report.skipped.append(aid)
        elif aid in tomb:
            report.tombstoned.append(aid)
        else:
            to_import.add(aid)

    # Pass 2: stream the new artifacts into blobs, re-checking everything, then commit once.
    # Uses the blob layer's publish and the store's commit_rows: they are the put()
    # path minus id generation, so imported artifacts keep their ids.
    from .validation import OpenedSource

    rows: list[dict[str, Any]] = []
    if to_import:
        def store_one(fields: dict[str, Any], f: IO[bytes]) -> tuple[str, int]:
            if fields["id"] not in to_import:
                return pump(f.read, lambda _b: None, None)
            reader: IO[bytes] = f if progress is None else _CountingReader(f, progress)  # type: ignore[assignment]
            member = fields["name"].rsplit("/", 1)[-1]
            blob = store.blobs.publish(OpenedSource(reader, fields["size"], member, _no_reopen, False),
                                       store.default_codec, member)
            rows.append({**fields, **blob})
            return str(blob["sha256"]), int(blob["size"])

        _walk(src, store_one, expect=plan)
        # A mismatch raised above leaves at most content-addressed blobs holding the
        # bytes they are named after (orphans gc removes); nothing is committed.
        order = {aid: i for i, aid in enumerate(plan.manifests)}
        rows.sort(key=lambda r: order[r["id"]])
        for r in rows:
            r["tags"] = tuple(r["tags"])
        arts = store.commit_rows(rows)
        report.imported.extend(a.id for a in arts)
        report.bytes = sum(a.size for a in arts)

    if restore_evaluations and plan.index is not None:
        report.evaluations.extend(_restore_evaluations(store, plan.index.evaluations))
    return report


def _restore_evaluations(store: ArtifactStore, evals: list[dict[str, Any]]) -> list[str]:
    restored = []
    for e in evals:
        try:
            store.evaluation(e["evaluation_id"])
            continue  # the store's own record wins
        except ArtifactNotFoundError:
            pass
        present = []
        for aid in e["artifacts"]:
            try:
                present.append(store.resolve(aid).id)
            except ArtifactNotFoundError:
                pass
        store.record_evaluation(
            e["evaluation_id"], e["model_id"], global_score=e["global_score"], success_rate=e["success_rate"],
            metrics=e["metrics"], artifacts=present, metadata=e["metadata"], repro=e["repro"],
            is_champion=e["is_champion"], champion_rank=e["champion_rank"], timestamp=e["timestamp"],
        )
        restored.append(e["evaluation_id"])
    return restored
