"""Compare two artifacts: their fields, then their content (``artifactstore diff``).

Content is read through :meth:`ArtifactStore.open` (verified while streaming):

- the same SHA-256: identical content, nothing more is read;
- tables (``.csv``/``.tsv``, and JSON that is a list of row objects or an
  ``{"episodes": [...]}`` document): a per-column summary, streamed row by row
  for CSV (memory bounded by the number of columns); JSON tables are parsed
  whole, so only up to ``max_text_bytes``;
- other text (UTF-8 without NUL bytes in its first 8 KiB): a unified diff of
  files up to ``max_text_bytes`` each, else sizes and digests only;
- anything else: sizes and digests.
"""

from __future__ import annotations

import csv
import difflib
import io
import json
import math
from dataclasses import dataclass, field
from typing import Any

from .models import Artifact
from .store import ArtifactStore

__all__ = ["ColumnSummary", "DiffResult", "diff_artifacts"]

_FIELDS = ("name", "version", "artifact_type", "model_id", "evaluation_id", "suite_name", "map_name", "episode_id",
           "size", "codec", "sha256")
_SAMPLE = 8192


@dataclass
class ColumnSummary:
    """One column of a table: rows with a value, numeric ones, and their mean (``None`` if none is numeric)."""

    name: str
    values: int = 0
    numeric: int = 0
    total: float = 0.0

    def add(self, value: Any) -> None:
        if value is None or value == "":
            return
        self.values += 1
        x = _number(value)
        if x is not None:
            self.numeric += 1
            self.total += x

    @property
    def mean(self) -> float | None:
        return self.total / self.numeric if self.numeric else None


@dataclass
class DiffResult:
    """What :func:`diff_artifacts` found; ``text`` is the human form, ``to_dict()`` the JSON one."""

    a: Artifact
    b: Artifact
    kind: str  # "identical", "table", "text", "binary" or "too large"
    fields: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    rows: tuple[int, int] | None = None
    columns: list[dict[str, Any]] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)

    @property
    def identical(self) -> bool:
        return self.a.sha256 == self.b.sha256

    def to_dict(self) -> dict[str, Any]:
        return {
            "a": {"id": self.a.id, "ref": self.a.ref}, "b": {"id": self.b.id, "ref": self.b.ref},
            "identical_content": self.identical, "kind": self.kind,
            "fields": {k: {"a": va, "b": vb} for k, (va, vb) in self.fields.items()},
            "rows": None if self.rows is None else {"a": self.rows[0], "b": self.rows[1]},
            "columns": self.columns, "diff": "".join(self.lines) if self.kind == "text" else None,
        }

    @property
    def text(self) -> str:
        out = [f"--- {self.a.ref}  ({self.a.id})", f"+++ {self.b.ref}  ({self.b.id})"]
        for k, (va, vb) in self.fields.items():
            out.append(f"{k}: {_show(va)} -> {_show(vb)}")
        if self.kind == "identical":
            out.append("content: identical")
        elif self.kind == "table" and self.rows is not None:
            out.append(f"rows: {self.rows[0]} -> {self.rows[1]} ({self.rows[1] - self.rows[0]:+d})")
            width = max((len(c["column"]) for c in self.columns), default=6)
            for c in self.columns:
                if c["status"] != "both":
                    out.append(f"  {c['column']:<{width}}  only in {c['status'][5:]}")
                elif c["mean_a"] is not None and c["mean_b"] is not None:
                    out.append(f"  {c['column']:<{width}}  mean {c['mean_a']:.6g} -> {c['mean_b']:.6g} "
                               f"({c['mean_b'] - c['mean_a']:+.6g})")
                else:
                    out.append(f"  {c['column']:<{width}}  values {c['values_a']} -> {c['values_b']}")
        elif self.kind == "text":
            out.extend(line.rstrip("\n") for line in self.lines[2:])  # the ---/+++ header is printed above
            if len(self.lines) <= 2:
                out.append("content: the same text (different bytes, e.g. line endings)")
        else:
            out.append(f"content ({self.kind}): {self.a.size} bytes sha256 {self.a.sha256[:12]} -> "
                       f"{self.b.size} bytes sha256 {self.b.sha256[:12]}")
        return "\n".join(out)


def _show(v: Any) -> str:
    return json.dumps(v, ensure_ascii=False, sort_keys=True) if isinstance(v, (dict, list)) else str(v)


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, str):
        low = value.strip().lower()
        if low in ("true", "false"):
            return 1.0 if low == "true" else 0.0
        try:
            x = float(low)
        except ValueError:
            return None
        return x if math.isfinite(x) else None
    return None


def _field_changes(a: Artifact, b: Artifact) -> dict[str, tuple[Any, Any]]:
    out: dict[str, tuple[Any, Any]] = {}
    for k in _FIELDS:
        va, vb = getattr(a, k), getattr(b, k)
        if va != vb:
            out[k] = (va, vb)
    if a.tags != b.tags:
        out["tags"] = (list(a.tags), list(b.tags))
    for k in sorted(set(a.metadata) | set(b.metadata)):
        va, vb = a.metadata.get(k), b.metadata.get(k)
        if va != vb:
            out[f"metadata.{k}"] = (va, vb)
    return out


def _sample(store: ArtifactStore, art: Artifact) -> bytes:
    with store.open(art) as f:
        return f.read(_SAMPLE)


def _is_text(sample: bytes) -> bool:
    if b"\x00" in sample:
        return False
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start >= len(sample) - 3  # a character cut by the end of the sample
    return True


def _csv_table(store: ArtifactStore, art: Artifact) -> tuple[int, dict[str, ColumnSummary]]:
    delimiter = "\t" if art.name.lower().endswith(".tsv") else ","
    with store.open(art) as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8", errors="replace", newline="")
        reader = csv.reader(text, delimiter=delimiter)
        header = next(reader, [])
        cols = {name: ColumnSummary(name) for name in header}
        names = list(cols)
        n = 0
        for row in reader:
            n += 1
            for name, value in zip(names, row, strict=False):
                cols[name].add(value)
    return n, cols


def _json_rows(data: Any) -> list[Any] | None:
    if isinstance(data, dict) and isinstance(data.get("episodes"), list):
        data = data["episodes"]
    if isinstance(data, list) and data and all(isinstance(r, dict) for r in data):
        return data
    return None


def _json_table(rows: list[dict[str, Any]]) -> tuple[int, dict[str, ColumnSummary]]:
    cols: dict[str, ColumnSummary] = {}
    for r in rows:
        for k, v in r.items():
            cols.setdefault(str(k), ColumnSummary(str(k))).add(v)
    return len(rows), cols


def _read_text(store: ArtifactStore, art: Artifact) -> str:
    with store.open(art) as f:
        return f.read().decode("utf-8", errors="replace")


def diff_artifacts(
    store: ArtifactStore, a: Artifact, b: Artifact, *, context_lines: int = 3, max_text_bytes: int = 16 << 20
) -> DiffResult:
    """Compare ``a`` with ``b`` (see the module's description)."""
    fields = _field_changes(a, b)
    if a.sha256 == b.sha256:
        return DiffResult(a, b, "identical", fields)
    sa, sb = _sample(store, a), _sample(store, b)
    if not (_is_text(sa) and _is_text(sb)):
        return DiffResult(a, b, "binary", fields)
    tables: list[tuple[int, dict[str, ColumnSummary]]] = []
    csv_like = all(x.name.lower().endswith((".csv", ".tsv")) for x in (a, b))
    small = a.size <= max_text_bytes and b.size <= max_text_bytes
    if csv_like:
        tables = [_csv_table(store, a), _csv_table(store, b)]
    elif small and sa.lstrip()[:1] in (b"[", b"{") and sb.lstrip()[:1] in (b"[", b"{"):
        try:
            ja, jb = json.loads(_read_text(store, a)), json.loads(_read_text(store, b))
        except ValueError:
            ja = jb = None
        ra, rb = _json_rows(ja), _json_rows(jb)
        if ra is not None and rb is not None:
            tables = [_json_table(ra), _json_table(rb)]
    if tables:
        (na, ca), (nb, cb) = tables
        columns = []
        for name in list(ca) + [c for c in cb if c not in ca]:
            x, y = ca.get(name), cb.get(name)
            status = "both" if x and y else ("only a" if x else "only b")
            columns.append({
                "column": name, "status": status,
                "values_a": x.values if x else None, "values_b": y.values if y else None,
                "mean_a": x.mean if x else None, "mean_b": y.mean if y else None,
                "mean_change": (y.mean - x.mean) if x and y and x.mean is not None and y.mean is not None else None,
            })
        return DiffResult(a, b, "table", fields, rows=(na, nb), columns=columns)
    if not small:
        return DiffResult(a, b, "too large", fields)
    lines = list(difflib.unified_diff(
        _read_text(store, a).splitlines(keepends=True), _read_text(store, b).splitlines(keepends=True),
        fromfile=a.ref, tofile=b.ref, n=context_lines))
    return DiffResult(a, b, "text", fields, lines=lines)
