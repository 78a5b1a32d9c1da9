"""Episode export: CSV/JSON/Parquet writers, spooling of one-shot iterators, bounded memory, atomic storing."""

from __future__ import annotations

import csv
import datetime as _dt
import enum
import io
import json
import math
import sys
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from artifactstore import ArtifactStore
from artifactstore.errors import InvalidInputError, MissingDependencyError
from artifactstore.evaluation import export_episodes
from artifactstore.evaluation.episodes import EpisodeRows, parse_formats, write_csv, write_json, write_parquet


class Outcome(enum.Enum):
    OK = "ok"
    CRASH = "crash"


def rows_of(n: int) -> list[dict[str, Any]]:
    return [{"episode_id": f"ep_{i:05d}", "success": i % 3 != 0, "reward": i / 7, "steps": 100 + i,
             "map_name": ("loop_empty", "udem1")[i % 2]} for i in range(n)]


def read_csv(path: Path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


# --- formats -----------------------------------------------------------------------------


@pytest.mark.parametrize(("given", "expected"), [
    ("both", ("json", "csv")), ("BOTH", ("json", "csv")), ("csv", ("csv",)), ("json", ("json",)),
    ("parquet", ("parquet",)), ("all", ("json", "csv", "parquet")), (["csv", "json"], ("json", "csv")),
])
def test_parse_formats(given: Any, expected: tuple[str, ...]) -> None:
    assert parse_formats(given) == expected


@pytest.mark.parametrize("bad", ["xml", "", [], ["csv", "xlsx"]])
def test_parse_formats_rejects(bad: Any) -> None:
    with pytest.raises(ValueError, match="format_type"):
        parse_formats(bad)


# --- rows and columns --------------------------------------------------------------------


def test_columns_are_the_union_of_keys_in_first_seen_order(tmp_path: Path) -> None:
    rows = [{"b": 1, "a": 2}, {"c": 3}, {"a": 4, "d": 5, "b": 6}]
    er = EpisodeRows(rows, tmp_path)
    assert er.columns == ["b", "a", "c", "d"] and len(er) == 3
    assert list(er) is not rows and list(er) == rows


def test_one_shot_iterator_is_spooled_and_reiterable(tmp_path: Path) -> None:
    gen = (r for r in rows_of(10))
    er = EpisodeRows(gen, tmp_path)
    assert len(er) == 10 and er.columns == ["episode_id", "success", "reward", "steps", "map_name"]
    assert list(er) == rows_of(10) == list(er)


@pytest.mark.parametrize(("rows", "match"), [
    ([{"a": 1}, ["not", "a", "mapping"]], "#1"),
    ([{1: "x"}], "non-string key"),
    ("a string", "list of mappings"),
    ({"a": 1}, "list of mappings"),
])
def test_bad_rows(tmp_path: Path, rows: Any, match: str) -> None:
    with pytest.raises(InvalidInputError, match=match):
        EpisodeRows(rows, tmp_path)


# --- CSV ---------------------------------------------------------------------------------


def test_csv_cells(tmp_path: Path) -> None:
    np = pytest.importorskip("numpy")
    rows = [
        {"id": "a", "ok": True, "r": 0.1, "n": 3, "none": None, "nested": {"x": [1, 2]}},
        {"id": 'quote " comma , newline \n ünïcode', "extra": [1, "two"], "when": _dt.datetime(2024, 5, 1, 12, 0),
         "np_f": np.float64(0.25), "np_i": np.int64(7), "enum": Outcome.CRASH},
    ]
    out = tmp_path / "e.csv"
    assert write_csv(rows, out, EpisodeRows(rows, tmp_path).columns) == 2
    header, first, second = read_csv(out)
    assert header == ["id", "ok", "r", "n", "none", "nested", "extra", "when", "np_f", "np_i", "enum"]
    assert first == ["a", "True", "0.1", "3", "", '{"x": [1, 2]}', "", "", "", "", ""]
    assert second == ['quote " comma , newline \n ünïcode', "", "", "", "", "", '[1, "two"]', "2024-05-01T12:00:00",
                      "0.25", "7", "crash"]


def test_csv_floats_round_trip(tmp_path: Path) -> None:
    values = [0.1 + 0.2, 1e-300, 123456789.123456789, -0.0, math.pi]
    rows = [{"v": v} for v in values]
    write_csv(rows, tmp_path / "f.csv", ["v"])
    assert [float(r[0]) for r in read_csv(tmp_path / "f.csv")[1:]] == values


# --- JSON --------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [0, 1, 511, 512, 513, 1025])
def test_json_document_at_chunk_boundaries(tmp_path: Path, n: int) -> None:
    rows = rows_of(n)
    out = tmp_path / "e.json"
    assert write_json(rows, out, {"total_episodes": n}) == n
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert doc == {"metadata": {"total_episodes": n}, "episodes": rows}
    assert list(doc) == ["metadata", "episodes"]
    assert len(out.read_text().splitlines()) == n + 3  # one row per line


def test_json_values(tmp_path: Path) -> None:
    np = pytest.importorskip("numpy")
    rows = [{"when": _dt.date(2024, 1, 2), "np": np.float32(0.5), "arr": np.arange(3), "enum": Outcome.OK,
             "set": {"b", "a"}, "raw": b"\xffx", "nan": float("nan"), "text": "ünï"}]
    out = tmp_path / "v.json"
    write_json(rows, out, {})
    (ep,) = json.loads(out.read_text(encoding="utf-8"))["episodes"]
    assert ep["when"] == "2024-01-02" and ep["np"] == 0.5 and ep["arr"] == [0, 1, 2] and ep["enum"] == "ok"
    assert ep["set"] == ["a", "b"] and ep["raw"] == "\\xffx" and math.isnan(ep["nan"]) and ep["text"] == "ünï"


# --- Parquet -----------------------------------------------------------------------------


def test_parquet(tmp_path: Path) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    rows = [{"a": None, "b": "x"}] * 3 + [{"a": 1.5, "c": {"k": 1}}] * 2
    out = tmp_path / "e.parquet"
    assert write_parquet(rows, out, ["a", "b", "c"], batch_rows=2) == 5
    table = pq.read_table(out)
    assert table.column_names == ["a", "b", "c"]
    assert table.column("a").to_pylist() == [None, None, None, 1.5, 1.5]
    assert table.column("c").to_pylist() == [None, None, None, {"k": 1}, {"k": 1}]


def test_parquet_mixed_types_are_a_clear_error(tmp_path: Path) -> None:
    pytest.importorskip("pyarrow")
    with pytest.raises(InvalidInputError, match="Parquet"):
        write_parquet([{"a": 1}, {"a": "x"}], tmp_path / "e.parquet", ["a"], batch_rows=1)


def test_parquet_without_pyarrow(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    with pytest.raises(MissingDependencyError, match="pyarrow") as info:
        write_parquet([{"a": 1}], tmp_path / "e.parquet", ["a"])
    assert isinstance(info.value, ImportError)


# --- into a store ------------------------------------------------------------------------


def test_export_into_store(store: ArtifactStore) -> None:
    rows = rows_of(100)
    arts = export_episodes(store, rows, "both", model_id="m1", evaluation_id="eval/01", suite_name="s",
                           metadata={"campaign": "c1"})
    assert list(arts) == ["json", "csv"]
    assert arts["json"].name == "episode_data/eval_01.json" and arts["csv"].name == "episode_data/eval_01.csv"
    for fmt, a in arts.items():
        assert (a.model_id, a.evaluation_id, a.suite_name, a.artifact_type) == ("m1", "eval/01", "s", "episode_data")
        assert set(a.tags) == {"episode_data", fmt}
        assert a.metadata["campaign"] == "c1" and a.metadata["episode_count"] == 100
        assert a.metadata["columns"] == ["episode_id", "success", "reward", "steps", "map_name"]
    doc = json.loads(store.read_bytes(arts["json"]))
    assert doc["episodes"] == rows
    assert {k: doc["metadata"][k] for k in ("model_id", "evaluation_id", "suite_name", "total_episodes",
                                            "campaign")} == {"model_id": "m1", "evaluation_id": "eval/01",
                                                             "suite_name": "s", "total_episodes": 100,
                                                             "campaign": "c1"}
    csv_rows = list(csv.DictReader(io.StringIO(store.read_bytes(arts["csv"]).decode())))
    assert [r["episode_id"] for r in csv_rows] == [r["episode_id"] for r in rows]
    again = export_episodes(store, rows, "csv", evaluation_id="eval/01")
    assert again["csv"].version == 2  # a second export of the same evaluation is a new version


def test_export_parquet_into_store(store: ArtifactStore, tmp_path: Path) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    arts = export_episodes(store, iter(rows_of(50)), "parquet", model_id="m1")
    a = arts["parquet"]
    assert a.name == "episode_data/m1.parquet" and a.codec == "none"  # Parquet is compressed already
    store.get(a, tmp_path / "x.parquet")
    assert pq.read_table(tmp_path / "x.parquet").num_rows == 50


def test_export_is_all_or_nothing(store: ArtifactStore) -> None:
    pytest.importorskip("pyarrow")
    with pytest.raises(InvalidInputError):
        export_episodes(store, [{"a": 1}, {"a": "x"}] * 20_000, "all")  # Parquet fails after JSON and CSV
    assert store.count() == 0


def test_export_nothing_is_an_error(store: ArtifactStore) -> None:
    with pytest.raises(ValueError, match="no episode"):
        export_episodes(store, [], "both")
    with pytest.raises(ValueError, match="no episode"):
        export_episodes(store, iter([]), "csv")
    assert store.count() == 0


def test_export_codec_per_format(store: ArtifactStore) -> None:
    arts = export_episodes(store, rows_of(300), "both", codec=lambda fmt: "gzip" if fmt == "csv" else "none")
    assert arts["csv"].codec == "gzip" and arts["json"].codec == "none"


def _many(n: int) -> Iterator[dict[str, Any]]:
    for i in range(n):
        yield {"episode_id": f"ep_{i:07d}", "success": i % 3 != 0, "reward": i / 7, "steps": i,
               "map_name": "loop_empty", "note": "x" * 40}


def test_memory_stays_bounded(tmp_path: Path) -> None:
    """Spooling a one-shot iterator and writing ~4.5 MB of CSV and ~7 MB of JSON from it stays
    within a few buffers. (The store streams the files in with fixed-size chunks; its own
    memory bound is tested with the store.)"""
    n = 50_000
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        rows = EpisodeRows(_many(n), tmp_path)
        write_csv(rows, tmp_path / "e.csv", rows.columns)
        write_json(rows, tmp_path / "e.json", {"total_episodes": len(rows)})
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    assert (tmp_path / "e.csv").stat().st_size > 4_000_000 and (tmp_path / "e.json").stat().st_size > 6_000_000
    assert peak < 3_000_000, peak
