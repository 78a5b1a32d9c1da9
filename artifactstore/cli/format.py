"""Output helpers for the CLI: human sizes, plain-text tables, JSON, times.

No third-party dependency: a table is a list of rows of strings, padded to
the widest cell of each column.
"""

from __future__ import annotations

import datetime as _dt
import json
import unicodedata
from collections.abc import Iterable, Sequence
from typing import Any

__all__ = [
    "human_size",
    "key_values",
    "local_time",
    "percent",
    "printable",
    "short_id",
    "table",
    "to_json",
]

_UNITS = ("KiB", "MiB", "GiB", "TiB", "PiB", "EiB")


def human_size(n: int | float | None) -> str:
    """``1536`` -> ``1.5 KiB``; bytes below 1 KiB stay exact (``512 B``); negatives keep their sign."""
    if n is None:
        return "-"
    sign = "-" if n < 0 else ""
    value = float(abs(n))
    if value < 1024:
        return f"{sign}{int(value)} B"
    for unit in _UNITS:
        value /= 1024
        if value < 1024 or unit == _UNITS[-1]:
            text = f"{value:.1f}" if value < 100 else f"{value:.0f}"
            return f"{sign}{text} {unit}"
    raise AssertionError("unreachable")  # pragma: no cover


def percent(part: int | float, whole: int | float) -> str:
    if not whole:
        return "-"
    return f"{100.0 * part / whole:.1f}%"


def printable(value: Any) -> str:
    """A cell safe to print on a terminal: control/format characters are escaped,
    so metadata cannot move the cursor or recolour the screen."""
    if value is None:
        return "-"
    text = value if isinstance(value, str) else str(value)
    if all(ch.isprintable() for ch in text):
        return text
    out = []
    for ch in text:
        if ch.isprintable():
            out.append(ch)
        elif ch in "\t\n":
            out.append(" ")
        elif unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp", "Co", "Cs", "Cn"):
            out.append(ch.encode("unicode_escape").decode("ascii"))
        else:
            out.append(ch)
    return "".join(out)


def _width(text: str) -> int:
    """Display width: East Asian wide/full-width characters take two columns."""
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 0 if unicodedata.combining(ch) else 1
               for ch in text)


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]], *, align: str = "", gap: int = 2) -> str:
    """Render a plain-text table. ``align`` holds one ``l``/``r`` per column (default left).

    Returns the table without a trailing newline; an empty ``rows`` renders the header only.
    """
    cells = [[printable(c) for c in row] for row in rows]
    head = [str(h) for h in headers]
    ncol = len(head)
    for row in cells:
        if len(row) != ncol:
            raise ValueError(f"row has {len(row)} cells, expected {ncol}")
    widths = [_width(h) for h in head]
    for row in cells:
        for i, c in enumerate(row):
            widths[i] = max(widths[i], _width(c))
    al = (align + "l" * ncol)[:ncol]
    sep = " " * gap

    def line(row: Sequence[str]) -> str:
        parts = []
        for i, c in enumerate(row):
            pad = " " * (widths[i] - _width(c))
            parts.append(pad + c if al[i] == "r" else c + pad)
        return sep.join(parts).rstrip()

    return "\n".join([line(head), *(line(r) for r in cells)])


def key_values(pairs: Iterable[tuple[str, Any]]) -> str:
    """``key: value`` lines with the values aligned."""
    items = [(k, printable(v)) for k, v in pairs]
    if not items:
        return ""
    w = max(len(k) for k, _ in items) + 1
    return "\n".join(f"{(k + ':').ljust(w)} {v}".rstrip() for k, v in items)


def _default(obj: Any) -> Any:
    if isinstance(obj, (_dt.datetime, _dt.date)):
        return obj.isoformat()
    if isinstance(obj, (set, frozenset, tuple)):
        return list(obj)
    if hasattr(obj, "to_dict"):
        return obj.to_dict()
    raise TypeError(f"{type(obj).__name__} is not JSON-serialisable")


def to_json(value: Any) -> str:
    """Indented JSON with exact numbers (sizes in bytes), non-ASCII kept as is."""
    return json.dumps(value, indent=2, ensure_ascii=False, default=_default)


def short_id(artifact_id: str) -> str:
    """The last 8 hex digits of an id: its random part, so ids made in the same
    second still differ (the leading digits of a UUIDv7 are its timestamp).
    For display only: commands take the full id or a ref."""
    return artifact_id.replace("-", "")[-8:]


def local_time(value: _dt.datetime | None) -> str:
    """A timestamp in the local zone, to the second, for tables."""
    if value is None:
        return "-"
    if value.tzinfo is None:
        value = value.replace(tzinfo=_dt.UTC)
    return value.astimezone().strftime("%Y-%m-%d %H:%M:%S")
