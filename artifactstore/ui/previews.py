"""Previews of artifact content that stay fast and bounded in memory on big files.

Every function here reads the artifact through :meth:`ArtifactStore.open` (a
verified, decoded stream) and stops as soon as it has what the page shows:
text previews read at most ``TEXT_LIMIT`` bytes past the offset, table pages
stop after the requested rows unless the page is sorted or filtered, in which
case one streaming pass keeps only the top ``offset + page_size`` rows.
"""

from __future__ import annotations

import difflib
import io
import json
import math
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from ..models import Artifact

__all__ = [
    "TEXT_LIMIT",
    "PAGE_SIZE",
    "JSON_NODE_LIMIT",
    "kind_of",
    "skip",
    "text_preview",
    "json_tree",
    "TablePage",
    "table_page",
    "column_summary",
    "text_diff",
]

TEXT_LIMIT = 64 * 1024
PAGE_SIZE = 50
JSON_NODE_LIMIT = 2000
JSON_PARSE_LIMIT = 4 * 1024 * 1024  # larger JSON documents are shown as text
PARQUET_SPOOL_LIMIT = 512 * 1024 * 1024
_CHUNK = 1 << 20

_TEXT = {".txt", ".log", ".md", ".yaml", ".yml", ".toml", ".ini", ".cfg", ".py", ".sh", ".xml", ".html", ".out", ".err"}
_IMAGE = {".png", ".jpg", ".jpeg", ".gif", ".webp", ".svg", ".bmp"}
_VIDEO = {".mp4", ".webm", ".ogv", ".mov", ".m4v"}
_AUDIO = {".wav", ".mp3", ".ogg", ".oga", ".flac", ".m4a"}


def kind_of(art: Artifact) -> str:
    """The preview kind of an artifact, from its name.

    One of text, json, csv, tsv, jsonl, parquet, image, video, audio, binary.
    """
    base = art.name.rsplit("/", 1)[-1].lower()
    ext = "." + base.rsplit(".", 1)[-1] if "." in base else ""
    if ext == ".json":
        return "json"
    if ext in (".csv", ".tsv", ".jsonl", ".ndjson", ".parquet"):
        return {".ndjson": "jsonl"}.get(ext, ext[1:])
    if ext in _IMAGE:
        return "image"
    if ext in _VIDEO:
        return "video"
    if ext in _AUDIO:
        return "audio"
    if ext in _TEXT or art.artifact_type in ("log", "configuration", "trace"):
        return "text"
    return "binary"


def skip(f: IO[bytes], n: int) -> None:
    """Read and drop ``n`` bytes (decode-and-skip: blobs may be compressed, so no seek)."""
    while n > 0:
        chunk = f.read(min(n, _CHUNK))
        if not chunk:
            return
        n -= len(chunk)


def text_preview(store: Any, art: Artifact, offset: int = 0, limit: int = TEXT_LIMIT) -> dict[str, Any]:
    """``limit`` bytes of the artifact from ``offset`` as text, cut at a line end when possible."""
    offset = max(0, min(offset, art.size))
    with store.open(art) as f:
        skip(f, offset)
        data = f.read(limit)
    end = offset + len(data)
    if end < art.size:
        nl = data.rfind(b"\n")
        if nl > 0:
            data = data[: nl + 1]
            end = offset + len(data)
    return {"offset": offset, "end": end, "size": art.size, "more": end < art.size,
            "text": data.decode("utf-8", errors="replace")}


def json_tree(value: Any, limit: int = JSON_NODE_LIMIT) -> tuple[str, bool]:
    """``value`` as nested ``<details>`` HTML (every string escaped), at most ``limit`` nodes.

    Returns the HTML and whether it was cut. The first level is open, deeper ones collapsed.
    """
    from html import escape

    budget = [limit]
    cut = [False]

    def node(v: Any, depth: int) -> str:
        budget[0] -= 1
        if budget[0] < 0:
            cut[0] = True
            return '<span class="cut">…</span>'
        if isinstance(v, dict):
            items = [f'<li><span class="k">{escape(json.dumps(k))}</span>: {node(x, depth + 1)}</li>'
                     for k, x in _take(v.items())]
            summary = f"{{…}} {len(v)} keys"
        elif isinstance(v, list):
            items = [f"<li>{node(x, depth + 1)}</li>" for x in _take(enumerate(v), value_only=True)]
            summary = f"[…] {len(v)} items"
        else:
            return f'<span class="v">{escape(json.dumps(v, ensure_ascii=False))}</span>'
        op = " open" if depth == 0 else ""
        return f"<details{op}><summary>{escape(summary)}</summary><ul>{''.join(items)}</ul></details>"

    def _take(pairs: Any, value_only: bool = False) -> Iterator[Any]:
        for p in pairs:
            if budget[0] <= 0:
                cut[0] = True
                return
            yield p[1] if value_only else p

    return node(value, 0), cut[0]


# --- tables ------------------------------------------------------------------------------


@dataclass
class TablePage:
    """One page of a table preview."""

    columns: list[str]
    rows: list[list[Any]]
    offset: int
    page_size: int
    has_more: bool
    matched: int | None = None  # rows matching the filter, when a full pass counted them
    sort: str | None = None
    desc: bool = False
    filter_column: str | None = None
    filter_text: str | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"columns": self.columns, "rows": self.rows, "offset": self.offset, "page_size": self.page_size,
                "has_more": self.has_more, "matched": self.matched, "sort": self.sort, "desc": self.desc,
                "filter_column": self.filter_column, "filter_text": self.filter_text, "notes": self.notes}


def _batches(store: Any, art: Artifact, kind: str) -> Iterator[Any]:
    """pyarrow RecordBatches of the table, streamed from the store."""
    import pyarrow as pa

    f = store.open(art)
    try:
        if kind in ("csv", "tsv"):
            import pyarrow.csv as pacsv

            parse = pacsv.ParseOptions(delimiter="\t" if kind == "tsv" else ",")
            # Types are inferred from the first block (pyarrow's streaming reader); sorting uses them.
            reader = pacsv.open_csv(f, parse_options=parse, read_options=pacsv.ReadOptions(block_size=1 << 20))
            yield from reader
        elif kind == "jsonl":
            rows: list[dict[str, Any]] = []
            for line in io.TextIOWrapper(f, encoding="utf-8", errors="replace"):
                if line.strip():
                    obj = json.loads(line)
                    rows.append(obj if isinstance(obj, dict) else {"value": obj})
                if len(rows) >= 10_000:
                    yield pa.RecordBatch.from_pylist(_stringify(rows))
                    rows = []
            if rows:
                yield pa.RecordBatch.from_pylist(_stringify(rows))
        elif kind == "parquet":
            import pyarrow.parquet as pq

            # Parquet needs random access: spool the verified stream to a temp file (bounded memory).
            if art.size > PARQUET_SPOOL_LIMIT:
                raise ValueError(f"Parquet preview is limited to {PARQUET_SPOOL_LIMIT >> 20} MiB")
            with tempfile.TemporaryFile() as tmp:
                shutil.copyfileobj(f, tmp, _CHUNK)
                tmp.seek(0)
                yield from pq.ParquetFile(tmp).iter_batches(batch_size=65536)
        else:
            raise ValueError(f"not a table: {kind}")
    finally:
        f.close()


def _stringify(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # Nested values become JSON text, so every batch has a flat, stable schema.
    return [{k: json.dumps(v) if isinstance(v, (dict, list)) else v for k, v in r.items()} for r in rows]


def _cell(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    if isinstance(v, (int, float, str, bool)) or v is None:
        return v
    return str(v)


def table_page(store: Any, art: Artifact, kind: str, *, offset: int = 0, page_size: int = PAGE_SIZE,
               sort: str | None = None, desc: bool = False, filter_column: str | None = None,
               filter_text: str | None = None) -> TablePage:
    """Rows ``offset .. offset+page_size`` of a table, optionally filtered (case-insensitive substring of
    ``filter_column``, or of any column) and sorted by ``sort``.

    Unsorted pages stop reading once the page is full; a sort keeps a heap of the best
    ``offset + page_size`` rows over one streaming pass (memory bounded by that, not by the table).
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    offset = max(0, offset)
    needle = (filter_text or "").strip().lower() or None
    columns: list[str] = []
    page = TablePage(columns=columns, rows=[], offset=offset, page_size=page_size, has_more=False,
                     sort=sort, desc=desc, filter_column=filter_column, filter_text=filter_text)
    k = offset + page_size
    top: Any = None  # pyarrow Table of the best k rows so far (sorted views)
    seen = 0  # rows matching the filter so far
    sorting = False
    for batch in _batches(store, art, kind):
        if not columns:
            columns.extend(batch.schema.names)
            if sort is not None:
                if sort not in columns:
                    page.notes.append(f"no column {sort!r}: not sorted")
                    page.sort = sort = None
                else:
                    sorting = True
            if filter_column and filter_column not in columns:
                page.notes.append(f"no column {filter_column!r}: filter on every column")
                page.filter_column = filter_column = None
        if needle is not None:
            cols = [filter_column] if filter_column else columns
            mask = None
            for c in cols:
                m = pc.match_substring(pc.utf8_lower(pc.cast(batch.column(c), "string")), needle)
                m = pc.fill_null(m, False)
                mask = m if mask is None else pc.or_(mask, m)
            batch = batch.filter(mask)
        n = batch.num_rows
        if n == 0:
            continue
        if not sorting:
            start = max(0, offset - seen)
            if start < n and seen < k:
                take = batch.slice(start, k - seen - start)
                page.rows.extend([[_cell(v) for v in r.values()] for r in take.to_pylist()])
            seen += n
            if seen > k:
                page.has_more = True
                break
        else:
            # Keep only the best k rows: the batch's own top k, merged with the kept ones.
            order = "descending" if desc else "ascending"
            t = pa.Table.from_batches([batch])
            t = t.take(pc.sort_indices(t, sort_keys=[(sort, order)])[:k])
            top = t if top is None else pa.concat_tables([top, t])
            top = top.take(pc.sort_indices(top, sort_keys=[(sort, order)])[:k])
            seen += n
    if sorting:
        if top is not None:
            page.rows = [[_cell(v) for v in r.values()] for r in top.slice(offset, page_size).to_pylist()]
        page.has_more = seen > k
        page.matched = seen
    elif not page.has_more:
        page.matched = seen
    return page


def column_summary(store: Any, art: Artifact, kind: str, max_rows: int = 1_000_000) -> dict[str, Any]:
    """Per-column count, nulls, numeric min/max/mean and distinct values (up to 20) over at most ``max_rows``."""
    import pyarrow.compute as pc

    out: dict[str, dict[str, Any]] = {}
    rows = 0
    for batch in _batches(store, art, kind):
        for name in batch.schema.names:
            col = batch.column(name)
            s = out.setdefault(name, {"count": 0, "nulls": 0, "min": None, "max": None, "sum": 0.0,
                                      "numeric": 0, "distinct": set()})
            s["count"] += len(col)
            s["nulls"] += col.null_count
            try:
                num = pc.cast(col, "float64")
            except Exception:
                num = None
            if num is not None and len(num) - num.null_count > 0:
                mm = pc.min_max(num).as_py()
                s["min"] = mm["min"] if s["min"] is None else min(s["min"], mm["min"])
                s["max"] = mm["max"] if s["max"] is None else max(s["max"], mm["max"])
                s["sum"] += pc.sum(num).as_py() or 0.0
                s["numeric"] += len(num) - num.null_count
            if len(s["distinct"]) <= 20:
                s["distinct"].update(str(v) for v in pc.unique(col).to_pylist()[:21])
        rows += batch.num_rows
        if rows >= max_rows:
            break
    result: dict[str, Any] = {}
    for name, s in out.items():
        d = s.pop("distinct")
        s["distinct"] = len(d) if len(d) <= 20 else ">20"
        s["mean"] = s["sum"] / s["numeric"] if s["numeric"] else None
        del s["sum"]
        result[name] = s
    return {"rows": rows, "truncated": rows >= max_rows, "columns": result}


def text_diff(store: Any, a: Artifact, b: Artifact, limit: int = 256 * 1024, max_lines: int = 2000) -> dict[str, Any]:
    """A unified diff of the first ``limit`` bytes of two artifacts, at most ``max_lines`` lines."""
    texts = []
    for art in (a, b):
        with store.open(art) as f:
            texts.append(f.read(limit).decode("utf-8", errors="replace").splitlines())
    lines = []
    cut = False
    for i, line in enumerate(difflib.unified_diff(texts[0], texts[1], a.ref, b.ref, lineterm="")):
        if i >= max_lines:
            cut = True
            break
        lines.append(line)
    return {"lines": lines, "cut": cut, "partial": a.size > limit or b.size > limit}

