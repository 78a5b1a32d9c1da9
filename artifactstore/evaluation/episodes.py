"""Episode-level result export: CSV, JSON and Parquet, streamed through temporary files.

Memory stays bounded by one row (one batch for Parquet) whatever the number of
episodes: each format is written row by row to a temporary file that the store
then streams in. Two passes are made over the rows (the CSV header is the union
of every row's keys, in first-seen order); rows given as a one-shot iterator
are spooled once to a temporary JSON-lines file to allow that.

Formats:

- **JSON**: one document ``{"metadata": {...}, "episodes": [row, ...]}``, one row per line.
  Values JSON cannot hold are converted: NumPy scalars to numbers, dates to
  ISO 8601, enums to their value, anything else to ``str``. NaN and infinities
  are written as ``NaN``/``Infinity``, as Python's ``json`` reads them back.
- **CSV**: stdlib :mod:`csv` (no pandas), header = union of keys; a missing
  value or ``None`` is an empty cell, nested dicts and lists are written as JSON.
- **Parquet**: needs ``pyarrow``; columns get one type each (unified over all rows).
"""

from __future__ import annotations

import csv
import datetime as _dt
import json
import os
import re
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InvalidInputError, MissingDependencyError
from ..models import Artifact, ArtifactType

if TYPE_CHECKING:
    from ..store import ArtifactStore

__all__ = [
    "FORMATS",
    "EpisodeRows",
    "export_episodes",
    "parse_formats",
    "write_csv",
    "write_json",
    "write_parquet",
]

#: Formats in the order they are written and returned.
FORMATS = ("json", "csv", "parquet")
_SUFFIX = {"json": "json", "csv": "csv", "parquet": "parquet"}
_BUF = 1 << 20
_PLAIN = frozenset((str, int, float, bool, type(None)))
_JSON_CHUNK = 512
_PARQUET_BATCH = 16_384


def parse_formats(format_type: str | Iterable[str]) -> tuple[str, ...]:
    """``"both"`` (JSON and CSV, the seed's default), ``"json"``, ``"csv"``, ``"parquet"``,
    ``"all"``, or an iterable of format names."""
    names: list[str]
    if isinstance(format_type, str):
        ft = format_type.strip().lower()
        names = ["json", "csv"] if ft == "both" else list(FORMATS) if ft == "all" else [ft]
    else:
        names = [str(x).strip().lower() for x in format_type]
    bad = [n for n in names if n not in FORMATS]
    if bad or not names:
        raise InvalidInputError(
            f"format_type must be 'both', 'all', 'json', 'csv' or 'parquet' (or a list of them), got {format_type!r}"
        )
    return tuple(f for f in FORMATS if f in names)


# --- value conversion --------------------------------------------------------------------


def _json_default(o: Any) -> Any:
    tolist = getattr(o, "tolist", None)  # NumPy scalars and arrays, to Python numbers and lists
    if callable(tolist) and type(o).__module__ == "numpy":
        return tolist()
    if isinstance(o, (_dt.datetime, _dt.date, _dt.time)):
        return o.isoformat()
    if isinstance(o, Enum):
        return o.value
    if isinstance(o, (set, frozenset)):
        return sorted(o, key=str)
    if isinstance(o, (bytes, bytearray)):
        return bytes(o).decode("utf-8", "backslashreplace")
    return str(o)


_ENCODER = json.JSONEncoder(default=_json_default, ensure_ascii=False)


def _cell(v: Any) -> Any:
    """A CSV cell for a value that is not a plain str/int/float/bool/None."""
    if isinstance(v, (dict, list, tuple)):
        return _ENCODER.encode(v)
    if isinstance(v, (str, int, float)):  # subclasses: NumPy float64, IntEnum...
        return _json_default(v) if isinstance(v, Enum) else v
    j = _json_default(v)
    return _ENCODER.encode(j) if isinstance(j, (dict, list)) else j


# --- rows --------------------------------------------------------------------------------


class EpisodeRows:
    """The episode rows, iterable as many times as needed, with their count and columns.

    A sequence is used as it is; any other iterable is spooled once to a
    JSON-lines file in ``tmpdir`` (so values come back as JSON types).
    """

    def __init__(self, rows: Iterable[Mapping[str, Any]], tmpdir: str | os.PathLike[str]) -> None:
        self._seq: Sequence[Mapping[str, Any]] | None = None
        self._spool: Path | None = None
        cols: dict[str, None] = {}
        n = 0
        if isinstance(rows, Sequence) and not isinstance(rows, (str, bytes)):
            self._seq = rows
            for r in rows:
                self._add_keys(r, n, cols)
                n += 1
        elif isinstance(rows, Iterable) and not isinstance(rows, (str, bytes, Mapping)):
            self._spool = Path(tmpdir) / "episodes.spool.jsonl"
            with open(self._spool, "w", encoding="utf-8", buffering=_BUF) as f:
                for r in rows:
                    self._add_keys(r, n, cols)
                    f.write(_ENCODER.encode(r))
                    f.write("\n")
                    n += 1
        else:
            raise InvalidInputError(f"episode results must be a list of mappings, not {type(rows).__name__}")
        self.count = n
        self.columns = list(cols)

    @staticmethod
    def _add_keys(r: Any, i: int, cols: dict[str, None]) -> None:
        if not isinstance(r, Mapping):
            raise InvalidInputError(f"episode result #{i} is a {type(r).__name__}, not a mapping")
        for k in r:
            if k not in cols:
                if not isinstance(k, str):
                    raise InvalidInputError(f"episode result #{i} has a non-string key {k!r}")
                cols[k] = None

    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> Iterator[Mapping[str, Any]]:
        if self._seq is not None:
            return iter(self._seq)
        assert self._spool is not None
        return self._read_spool(self._spool)

    @staticmethod
    def _read_spool(path: Path) -> Iterator[Mapping[str, Any]]:
        with open(path, encoding="utf-8", buffering=_BUF) as f:
            for line in f:
                yield json.loads(line)


# --- writers -----------------------------------------------------------------------------


def write_csv(rows: Iterable[Mapping[str, Any]], dest: str | os.PathLike[str], columns: Sequence[str]) -> int:
    """Write ``rows`` as CSV with the header ``columns``; return the number of rows."""
    n = 0
    cols = list(columns)
    with open(dest, "w", encoding="utf-8", newline="", buffering=_BUF) as f:
        w = csv.writer(f)
        w.writerow(cols)
        plain = _PLAIN
        for r in rows:
            vals = [r.get(k) for k in cols]
            w.writerow([v if type(v) in plain else _cell(v) for v in vals])
            n += 1
    return n


def write_json(rows: Iterable[Mapping[str, Any]], dest: str | os.PathLike[str], metadata: Mapping[str, Any]) -> int:
    """Write ``{"metadata": ..., "episodes": [...]}`` incrementally, one row per line; return the row count."""
    n = 0
    enc = _ENCODER.encode
    with open(dest, "w", encoding="utf-8", buffering=_BUF) as f:
        f.write('{"metadata": ')
        f.write(json.dumps(dict(metadata), default=_json_default, ensure_ascii=False))
        f.write(',\n"episodes": [')
        chunk: list[str] = []
        for r in rows:
            chunk.append(enc(r))
            if len(chunk) >= _JSON_CHUNK:
                f.write(("\n" if n == 0 else ",\n") + ",\n".join(chunk))
                n += len(chunk)
                chunk = []
        if chunk:
            f.write(("\n" if n == 0 else ",\n") + ",\n".join(chunk))
            n += len(chunk)
        f.write("\n]}\n")
    return n


def _require_pyarrow() -> Any:
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError:
        raise MissingDependencyError("pyarrow", "parquet", "exporting episode data as Parquet") from None
    return pyarrow


def _arrow_value(v: Any) -> Any:
    if type(v) in _PLAIN or isinstance(v, (dict, list, _dt.datetime, _dt.date)):
        return v
    return _json_default(v)


def write_parquet(
    rows: Iterable[Mapping[str, Any]],
    dest: str | os.PathLike[str],
    columns: Sequence[str],
    batch_rows: int = _PARQUET_BATCH,
) -> int:
    """Write ``rows`` as Parquet in batches (needs ``pyarrow``); return the row count.

    A first pass infers each batch's column types and unifies them, so a column
    that is null in early rows and numeric later gets the numeric type; a column
    mixing incompatible types (numbers and strings) is an :class:`InvalidInputError`.
    """
    pa = _require_pyarrow()
    import pyarrow.parquet as pq

    cols = list(columns)

    def batches() -> Iterator[dict[str, list[Any]]]:
        batch: dict[str, list[Any]] = {c: [] for c in cols}
        size = 0
        for r in rows:
            for c in cols:
                batch[c].append(_arrow_value(r.get(c)))
            size += 1
            if size >= batch_rows:
                yield batch
                batch = {c: [] for c in cols}
                size = 0
        if size:
            yield batch

    try:
        schemas = [pa.Table.from_pydict(b).schema for b in batches()]
        if schemas:
            schema = pa.unify_schemas(schemas, promote_options="permissive")
        else:
            schema = pa.schema([(c, pa.null()) for c in cols])
        n = 0
        with pq.ParquetWriter(os.fspath(dest), schema) as writer:
            for b in batches():
                table = pa.Table.from_pydict(b, schema=schema)
                writer.write_table(table)
                n += table.num_rows
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
        raise InvalidInputError(f"episode data cannot be written as Parquet: {exc}") from None
    return n


# --- export into a store -----------------------------------------------------------------


def _safe_segment(text: str) -> str:
    seg = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._-")
    return seg[:200] or "export"


def export_episodes(
    store: ArtifactStore,
    episode_results: Iterable[Mapping[str, Any]],
    formats: str | Iterable[str] = "both",
    *,
    model_id: str | None = None,
    evaluation_id: str | None = None,
    suite_name: str | None = None,
    metadata: Mapping[str, Any] | None = None,
    codec: str | Callable[[str], str] | None = None,
    artifact_type: Any = ArtifactType.EPISODE_DATA,
    tags: Iterable[str] = (),
    name: str | None = None,
) -> dict[str, Artifact]:
    """Write the episodes in each format to a temporary file and store them all in one batch.

    Returns ``{format: Artifact}`` for the requested formats. The artifacts are
    named ``episode_data/<evaluation_id or model_id>.<format>`` (unless ``name``
    gives the stem), so exporting the same evaluation again adds a version.
    Each is tagged ``episode_data`` and its format; its metadata holds
    ``format``, ``episode_count`` and ``columns`` plus ``metadata``. The batch
    is atomic: either every format is stored or none.

    ``codec`` is a codec name, or a callable ``format -> codec name``.
    """
    fmts = parse_formats(formats)
    extra = dict(metadata or {})
    stem = name or f"episode_data/{_safe_segment(evaluation_id or model_id or 'export')}"
    from ..scratch import entry_name, scratch_dir

    # In the store's own scratch folder: a killed export leaves it where the next open sweeps it.
    with tempfile.TemporaryDirectory(prefix=entry_name("episodes") + "-", dir=scratch_dir(store.backend)) as tmp:
        rows = EpisodeRows(episode_results, tmp)
        if rows.count == 0:
            raise InvalidInputError("no episode results to export")
        doc_meta = {
            **extra,
            "export_timestamp": _dt.datetime.now(_dt.UTC).isoformat(),
            "model_id": model_id,
            "evaluation_id": evaluation_id,
            "suite_name": suite_name,
            "total_episodes": rows.count,
        }
        items: list[dict[str, Any]] = []
        for fmt in fmts:
            path = Path(tmp) / f"episodes.{_SUFFIX[fmt]}"
            if fmt == "json":
                write_json(rows, path, doc_meta)
            elif fmt == "csv":
                write_csv(rows, path, rows.columns)
            else:
                write_parquet(rows, path, rows.columns)
            c = codec(fmt) if callable(codec) else codec
            items.append({
                "source": path,
                "name": f"{stem}.{_SUFFIX[fmt]}",
                "artifact_type": artifact_type,
                "model_id": model_id,
                "evaluation_id": evaluation_id,
                "suite_name": suite_name,
                "tags": ["episode_data", fmt, *tags],
                "metadata": {**extra, "format": fmt, "episode_count": rows.count, "columns": rows.columns},
                "codec": c,
            })
        arts = store.put_many(items)
    return dict(zip(fmts, arts, strict=True))

