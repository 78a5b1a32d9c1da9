"""The artifactstore command line: every command through click's CliRunner against real
stores in tmp_path, JSON outputs parsed, error exits, and the installed console script."""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import subprocess
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner, Result

from artifactstore.cli import common
from artifactstore.cli.format import human_size, key_values, printable, short_id, table
from artifactstore.cli.main import cli, register_commands
from artifactstore.cli.progress import ProgressBar

CLEAN_ENV: dict[str, str | None] = {
    "ARTIFACTSTORE_URL": None,
    "ARTIFACTSTORE_CATALOG": None,
    "ARTIFACTSTORE_DEBUG": None,
}


class Cli:
    """Runs ``artifactstore --store <root> ...`` in-process."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.runner = CliRunner(env=CLEAN_ENV)

    def __call__(self, *args: str, input: bytes | str | None = None, code: int | None = 0,
                 store: bool = True) -> Result:
        argv = (["--store", str(self.root)] if store else []) + list(args)
        result = self.runner.invoke(cli, argv, input=input, prog_name="artifactstore")
        if code is not None:
            assert result.exit_code == code, (
                f"{argv} -> exit {result.exit_code}\nstdout: {result.stdout}\nstderr: {result.stderr}\n"
                f"exception: {result.exception!r}"
            )
        return result

    def json(self, *args: str, input: bytes | str | None = None, store: bool = True) -> Any:
        return json.loads(self(*args, "--json", input=input, store=store).stdout)


def assert_one_line_error(result: Result, *fragments: str) -> None:
    assert result.exit_code == 1, (result.exit_code, result.stdout, result.stderr)
    err = result.stderr
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: "), err
    for frag in fragments:
        assert frag in lines[0], (frag, lines[0])


@pytest.fixture
def run(tmp_path: Path) -> Cli:
    return Cli(tmp_path / "store")


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    d = tmp_path / "in"
    d.mkdir()
    out = {
        "csv": d / "episodes.csv",
        "json": d / "report.json",
        "bin": d / "blob.bin",
        "txt": d / "notes.txt",
    }
    out["csv"].write_text("episode,reward\n" + "".join(f"{i},{i * 0.5}\n" for i in range(500)))
    out["json"].write_text(json.dumps({"success_rate": 0.91, "episodes": 500}))
    out["bin"].write_bytes(bytes(range(256)) * 64)
    out["txt"].write_text("hello\n")
    return out


@pytest.fixture
def filled(run: Cli, files: dict[str, Path]) -> dict[str, dict[str, Any]]:
    """A store with five artifacts of varied fields; returns their records by short key."""
    run("init")
    arts: dict[str, dict[str, Any]] = {}
    arts["csv"] = run.json("put", str(files["csv"]), "--type", "episode_data", "--model", "m1", "--evaluation",
                           "e1", "--suite", "nav", "--map", "town01", "--episode", "7", "--tag", "final",
                           "--tag", "nightly", "--meta", "score=0.9", "--meta", "seed=3")[0]
    arts["json"] = run.json("put", str(files["json"]), "--type", "report", "--name", "nav/town01/report.json",
                            "--model", "m1", "--tag", "final", "--meta-json", '{"score": 0.8, "note": "ok"}')[0]
    arts["bin"] = run.json("put", str(files["bin"]), "--type", "model_checkpoint", "--model", "m2",
                           "--meta", "seed=4", "--meta", "label=3x")[0]
    arts["json2"] = run.json("put", str(files["json"]), "--type", "report", "--name", "nav/town01/report.json",
                             "--model", "m2", "--tag", "nightly")[0]
    arts["txt"] = run.json("put", str(files["txt"]), "--type", "log", "--codec", "none")[0]
    return arts


def ids(records: list[dict[str, Any]]) -> set[str]:
    return {r["id"] for r in records}


# --- init ------------------------------------------------------------------------------------


def test_init_creates_store_and_reports_catalog(run: Cli) -> None:
    r = run("init")
    assert "created store: file://" in r.stdout
    assert str(run.root) in r.stdout
    assert (run.root / "store.json").is_file()
    assert f"catalog: sqlite:///{run.root}/catalog.db" in r.stdout
    again = run.json("init")
    assert again == {"store": f"file://{run.root}", "catalog": f"sqlite:///{run.root}/catalog.db", "created": False}
    assert "store already exists" in run("init").stdout


def test_init_with_separate_catalog(run: Cli, tmp_path: Path) -> None:
    cat = tmp_path / "elsewhere" / "cat.db"
    data = run.json("--catalog", f"sqlite:///{cat}", "init")
    assert data["created"] is True
    assert data["catalog"] == f"sqlite:///{cat}"
    assert cat.is_file()
    assert not (run.root / "catalog.db").exists()


def test_commands_other_than_init_and_put_need_an_existing_store(run: Cli) -> None:
    for args in (["ls"], ["stats"], ["verify"], ["show", "x"], ["reindex"]):
        assert_one_line_error(run(*args, code=None), "no artifact store at", "artifactstore init")
    assert not run.root.exists()


def test_store_from_environment_and_default(tmp_path: Path, files: dict[str, Path],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    runner = CliRunner(env={**CLEAN_ENV, "ARTIFACTSTORE_URL": str(tmp_path / "envstore")})
    r = runner.invoke(cli, ["put", str(files["txt"]), "--type", "log"])
    assert r.exit_code == 0, r.stderr
    assert "created store" in r.stderr
    assert (tmp_path / "envstore" / "store.json").is_file()
    # default: ./artifacts in the current folder
    monkeypatch.chdir(tmp_path)
    r = CliRunner(env=CLEAN_ENV).invoke(cli, ["init", "--json"])
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["store"] == f"file://{tmp_path / 'artifacts'}"


# --- put / get / cat -------------------------------------------------------------------------


def test_put_records_every_field(run: Cli, files: dict[str, Path]) -> None:
    [art] = run.json("put", str(files["csv"]), "--type", "episode_data", "--name", "nav/ep.csv", "--model", "m1",
                     "--evaluation", "e1", "--suite", "nav", "--map", "town01", "--episode", "ep7", "--tag", "a",
                     "--tag", "b", "--meta-json", '{"score": 1, "cfg": {"x": [1, 2]}}', "--meta", "score=0.5",
                     "--meta", "label=hello", "--meta", 'quoted="7"', "--meta", "flag=true", "--codec", "gzip")
    assert art["name"] == "nav/ep.csv"
    assert art["ref"] == "nav/ep.csv@v1"
    assert art["version"] == 1
    assert art["artifact_type"] == "episode_data"
    assert (art["model_id"], art["evaluation_id"], art["suite_name"], art["map_name"], art["episode_id"]) == (
        "m1", "e1", "nav", "town01", "ep7")
    assert art["tags"] == ["a", "b"]
    assert art["metadata"] == {"score": 0.5, "cfg": {"x": [1, 2]}, "label": "hello", "quoted": "7", "flag": True}
    assert art["codec"] == "gzip"
    assert art["size"] == files["csv"].stat().st_size  # exact bytes in JSON
    assert art["stored_size"] < art["size"]
    dt.datetime.fromisoformat(art["created_at"])


def test_put_text_output_has_id_and_ref(run: Cli, files: dict[str, Path]) -> None:
    r = run("put", str(files["txt"]), "--type", "log")
    assert "created store" in r.stderr
    [line] = r.stdout.strip().splitlines()
    art_id, ref = line.split()[:2]
    assert ref == "notes.txt@v1"
    assert run.json("show", art_id)["ref"] == "notes.txt@v1"
    r2 = run("put", str(files["txt"]), "--type", "log")
    assert "notes.txt@v2" in r2.stdout
    assert "created store" not in r2.stderr


@pytest.mark.parametrize("codec", ["none", "gzip", "zstd", "zip", "tar.gz", "auto"])
def test_put_codecs_round_trip(run: Cli, files: dict[str, Path], tmp_path: Path, codec: str) -> None:
    [art] = run.json("put", str(files["csv"]), "--type", "episode_data", "--codec", codec)
    if codec != "auto":
        assert art["codec"] == codec
    assert run("cat", art["id"]).stdout_bytes == files["csv"].read_bytes()


def test_put_many_is_one_batch(run: Cli, files: dict[str, Path]) -> None:
    arts = run.json("put", str(files["csv"]), str(files["json"]), str(files["bin"]), "--type", "report",
                    "--model", "m9", "--tag", "batch")
    assert [a["name"] for a in arts] == ["episodes.csv", "report.json", "blob.bin"]
    assert all(a["model_id"] == "m9" and a["tags"] == ["batch"] for a in arts)
    # one missing file: nothing of the batch is stored
    r = run("put", str(files["txt"]), str(files["txt"].with_name("nope.txt")), "--type", "log", code=None)
    assert_one_line_error(r, "source file not found", "nope.txt")
    assert run.json("ls", "--type", "log") == []


def test_put_stdin(run: Cli) -> None:
    data = b"line from a pipe\n\x00\xff binary too"
    [art] = run.json("put", "-", "--type", "log", "--name", "logs/pipe.log", input=data)
    assert art["name"] == "logs/pipe.log"
    assert art["size"] == len(data)
    assert run("cat", "logs/pipe.log").stdout_bytes == data


def test_put_usage_errors(run: Cli, files: dict[str, Path]) -> None:
    r = run("put", "-", "--type", "log", input=b"x", code=2)
    assert "needs --name" in r.stderr
    r = run("put", str(files["txt"]), str(files["csv"]), "--type", "log", "--name", "x", code=2)
    assert "--name" in r.stderr
    r = run("put", "-", str(files["txt"]), "--type", "log", "--name", "x", input=b"x", code=2)
    assert "standard input" in r.stderr
    r = run("put", str(files["txt"]), code=2)
    assert "--type" in r.stderr
    r = run("put", str(files["txt"]), "--type", "log", "--meta", "novalue", code=2)
    assert "key=value" in r.stderr
    r = run("put", str(files["txt"]), "--type", "log", "--meta-json", "[1, 2]", code=2)
    assert "JSON object" in r.stderr
    r = run("put", str(files["txt"]), "--type", "log", "--meta-json", "{bad", code=2)
    assert "not valid JSON" in r.stderr


def test_put_errors_are_one_line(run: Cli, files: dict[str, Path], tmp_path: Path) -> None:
    assert_one_line_error(run("put", str(tmp_path / "missing.csv"), "--type", "log", code=None),
                          "source file not found", "missing.csv")
    folder = tmp_path / "adir"
    folder.mkdir()
    r = run("put", str(folder), "--type", "log", code=None)
    assert_one_line_error(r, f"source is a folder, not a file: {folder} (put the files in it: "
                             f"'artifactstore put --type TYPE {folder}/*', or pack it first: "
                             f"'tar czf {folder}.tar.gz {folder}' and put that)")
    assert "not found" not in r.stderr
    assert not run.root.exists()  # a typo creates no store
    for bad in ("../../etc/passwd", "a/../../b", "/etc/passwd", "a/%2e%2e/%2e%2e/b"):
        r = run("put", str(files["txt"]), "--type", "log", "--name", bad, code=None)
        assert_one_line_error(r, "invalid name")
        assert "traversal" in r.stderr or "absolute" in r.stderr
    assert_one_line_error(run("put", str(files["txt"]), "--type", "log", "--codec", "bogus", code=None),
                          "unknown codec 'bogus'", "zstd")
    assert_one_line_error(run("put", str(files["txt"]), "--type", "log", "--tag", " ", code=None), "invalid tag")
    # nothing was stored by any of those
    assert run.json("ls") == []


def test_get_to_folder_file_and_errors(run: Cli, filled: dict[str, dict[str, Any]], files: dict[str, Path],
                                       tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out"
    out.mkdir()
    r = run("get", "nav/town01/report.json@v1", str(out))
    assert r.stdout.strip() == str(out / "report.json")
    assert (out / "report.json").read_bytes() == files["json"].read_bytes()
    data = run.json("get", filled["bin"]["id"], str(out / "copy.bin"))
    assert data["path"] == str(out / "copy.bin")
    assert data["id"] == filled["bin"]["id"]
    assert (out / "copy.bin").read_bytes() == files["bin"].read_bytes()
    # default destination: the current folder
    monkeypatch.chdir(out)
    run("get", "episodes.csv")
    assert (out / "episodes.csv").read_bytes() == files["csv"].read_bytes()
    assert not [p for p in out.iterdir() if p.name.endswith(".part")]
    assert_one_line_error(run("get", "nope.csv", str(out), code=None), "no artifact matches 'nope.csv'")
    # a destination ending in '/' is a folder, created when missing (the README's 'get x@v1 ./out/')
    r = run("get", "episodes.csv@v1", str(tmp_path / "new" / "dir") + "/")
    assert r.stdout.strip() == str(tmp_path / "new" / "dir" / "episodes.csv")
    assert (tmp_path / "new" / "dir" / "episodes.csv").read_bytes() == files["csv"].read_bytes()
    assert_one_line_error(run("get", "episodes.csv", str(tmp_path / "nodir" / "x.csv"), code=None),
                          "destination folder does not exist")


def test_cat_streams_verified_bytes(run: Cli, filled: dict[str, dict[str, Any]], files: dict[str, Path]) -> None:
    assert run("cat", "blob.bin").stdout_bytes == files["bin"].read_bytes()
    assert run("cat", "nav/town01/report.json").stdout_bytes == files["json"].read_bytes()
    assert run("cat", filled["csv"]["id"]).stdout_bytes == files["csv"].read_bytes()
    assert_one_line_error(run("cat", "nav/town01/report.json@v9", code=None), "no artifact matches")
    assert_one_line_error(run("cat", "bad@@ref", code=None), "invalid name")


def test_cat_reports_corruption(run: Cli, filled: dict[str, dict[str, Any]]) -> None:
    blob = run.root / filled["txt"]["blob_key"]
    os.chmod(blob, 0o644)
    blob.write_bytes(b"HELLO\n")  # same size, other bytes (codec none)
    r = run("cat", "notes.txt", code=None)
    assert_one_line_error(r, "integrity check failed", filled["txt"]["id"])


# --- ls --------------------------------------------------------------------------------------


def test_ls_filters(run: Cli, filled: dict[str, dict[str, Any]]) -> None:
    a = filled
    everything = run.json("ls")
    assert ids(everything) == ids(list(a.values()))
    assert [x["id"] for x in everything] == sorted(ids(everything), reverse=True)  # newest first
    assert all(set(x) >= {"id", "ref", "name", "sha256", "size", "stored_size", "codec", "metadata"}
               for x in everything)

    def q(*args: str) -> set[str]:
        return ids(run.json("ls", *args))

    assert q("--type", "report") == {a["json"]["id"], a["json2"]["id"]}
    assert q("--type", "report", "--type", "log") == {a["json"]["id"], a["json2"]["id"], a["txt"]["id"]}
    assert q("--model", "m2") == {a["bin"]["id"], a["json2"]["id"]}
    assert q("--evaluation", "e1") == {a["csv"]["id"]}
    assert q("--suite", "nav") == {a["csv"]["id"]}
    assert q("--map", "town01") == {a["csv"]["id"]}
    assert q("--episode", "7") == {a["csv"]["id"]}
    assert q("--tag", "final") == {a["csv"]["id"], a["json"]["id"]}
    assert q("--tag", "final", "--tag", "nightly") == {a["csv"]["id"], a["json"]["id"], a["json2"]["id"]}
    assert q("--tag", "final", "--tag", "nightly", "--all-tags") == {a["csv"]["id"]}
    assert q("--meta", "score=0.9") == {a["csv"]["id"]}
    assert q("--meta", "seed=3") == {a["csv"]["id"]}
    assert q("--meta", 'seed="3"') == set()  # JSON string "3" is not the number 3
    assert q("--meta", "label=3x") == {a["bin"]["id"]}  # not JSON: a string
    assert q("--meta", "note=ok", "--meta", "score=0.8") == {a["json"]["id"]}
    assert q("--name", "nav/town01/report.json") == {a["json"]["id"], a["json2"]["id"]}
    assert q("--prefix", "nav/") == {a["json"]["id"], a["json2"]["id"]}
    assert q("--prefix", "nav/", "--model", "m1") == {a["json"]["id"]}
    assert q("--after", "2000-01-01") == ids(everything)
    assert q("--before", "2000-01-01T00:00:00Z") == set()
    assert q("--after", "1h") == ids(everything)
    assert q("--before", "1h") == set()
    created = dt.datetime.fromisoformat(a["bin"]["created_at"])
    assert a["bin"]["id"] not in q("--after", created.isoformat())
    assert a["bin"]["id"] in q("--after", (created - dt.timedelta(microseconds=1)).isoformat())
    by_size = run.json("ls", "--order", "size")
    assert [x["size"] for x in by_size] == sorted(x["size"] for x in everything)
    assert [x["name"] for x in run.json("ls", "--order", "-name")] == sorted(
        (x["name"] for x in everything), reverse=True)
    assert [x["id"] for x in run.json("ls", "--order=created_at")] == sorted(ids(everything))
    assert [x["id"] for x in run.json("ls", "--order", "-created_at")] == sorted(ids(everything), reverse=True)
    page = run.json("ls", "--order", "created_at", "--limit", "2", "--offset", "1")
    assert [x["id"] for x in page] == sorted(ids(everything))[1:3]
    assert len(run.json("ls", "--limit", "0")) == 5


def test_ls_table_for_people(run: Cli, filled: dict[str, dict[str, Any]]) -> None:
    out = run("ls").stdout
    lines = out.splitlines()
    assert lines[0].split() == ["ID", "REF", "TYPE", "MODEL", "SIZE", "STORED", "CODEC", "CREATED"]
    assert len(lines) == 6
    bin_line = next(line for line in lines if "blob.bin@v1" in line)
    assert bin_line.startswith(short_id(filled["bin"]["id"]) + " ")
    assert "16.0 KiB" in bin_line  # human sizes
    assert "model_checkpoint" in bin_line and " m2 " in bin_line
    r = run("ls", "--limit", "2")
    assert len(r.stdout.splitlines()) == 3
    assert r.stderr == "showing 1-2 of 5; next page: --offset 2 (--limit 0 for all)\n"
    r = run("ls", "--model", "nobody")
    assert r.stdout == "" and "no artifacts match" in r.stderr


def test_ls_usage_errors(run: Cli, filled: dict[str, dict[str, Any]]) -> None:
    assert "Invalid value for --after" in run("ls", "--after", "yesterday-ish", code=2).stderr
    assert "--order" in run("ls", "--order", "sideways", code=2).stderr
    assert "--limit" in run("ls", "--limit", "-1", code=2).stderr
    assert "key=value" in run("ls", "--meta", "score", code=2).stderr


def test_global_json_flag(run: Cli, filled: dict[str, dict[str, Any]]) -> None:
    data = json.loads(run("--json", "ls", "--type", "log").stdout)
    assert [x["id"] for x in data] == [filled["txt"]["id"]]
    assert json.loads(run("--json", "stats").stdout)["total_artifacts"] == 5


# --- show / alias / rm -----------------------------------------------------------------------


def test_show_text_and_json(run: Cli, filled: dict[str, dict[str, Any]]) -> None:
    run("alias", "episodes.csv", "best")
    data = run.json("show", "episodes.csv:best")
    assert data["id"] == filled["csv"]["id"]
    assert data["aliases"] == ["best"]
    assert data["metadata"] == {"score": 0.9, "seed": 3}
    text = run("show", filled["csv"]["id"]).stdout
    for fragment in ("id:", filled["csv"]["id"], "ref:", "episodes.csv@v1", "type:", "episode_data",
                     "sha256:", filled["csv"]["sha256"], "model:", "m1", "evaluation:", "e1", "suite:", "nav",
                     "map:", "town01", "episode:", "7", "tags:", "final, nightly", "aliases:",
                     "episodes.csv:best", "score: 0.9", "seed: 3", f"({filled['csv']['size']} bytes"):
        assert fragment in text, fragment
    assert_one_line_error(run("show", "nope", code=None), "no artifact matches 'nope'")


def test_alias_moves_and_resolves(run: Cli, filled: dict[str, dict[str, Any]], files: dict[str, Path]) -> None:
    r = run("alias", "nav/town01/report.json@v1", "prod")
    assert "nav/town01/report.json:prod -> nav/town01/report.json@v1" in r.stdout
    assert run.json("show", "nav/town01/report.json:prod")["id"] == filled["json"]["id"]
    data = run.json("alias", "nav/town01/report.json@v2", "prod")
    assert data["alias"] == "nav/town01/report.json:prod"
    assert data["artifact"]["id"] == filled["json2"]["id"]
    assert run.json("show", "nav/town01/report.json:prod")["id"] == filled["json2"]["id"]
    assert run.json("show", "nav/town01/report.json@v1")["aliases"] == []
    assert_one_line_error(run("alias", "nope", "prod", code=None), "no artifact matches")
    assert_one_line_error(run("alias", "episodes.csv", "v2", code=None), "invalid name")
    assert_one_line_error(run("alias", "episodes.csv", "../x", code=None), "invalid name")


def test_rm_requires_yes_without_terminal(run: Cli, filled: dict[str, dict[str, Any]]) -> None:
    assert_one_line_error(run("rm", "notes.txt", code=None), "--yes")
    assert len(run.json("ls")) == 5
    # one unknown ref: nothing is deleted
    assert_one_line_error(run("rm", "notes.txt", "nope", "--yes", code=None), "no artifact matches 'nope'")
    assert len(run.json("ls")) == 5
    gone = run.json("rm", "notes.txt", filled["bin"]["id"], "blob.bin@v1", "--yes")
    assert ids(gone) == {filled["txt"]["id"], filled["bin"]["id"]}
    left = run.json("ls")
    assert ids(left) == {filled["csv"]["id"], filled["json"]["id"], filled["json2"]["id"]}
    r = run("rm", "-y", "nav/town01/report.json@v2")
    assert "deleted nav/town01/report.json@v2" in r.stdout
    assert run.json("show", "nav/town01/report.json")["version"] == 1


def test_rm_asks_on_a_terminal(run: Cli, filled: dict[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("artifactstore.cli.commands_core.is_interactive", lambda: True)
    r = run("rm", "notes.txt", input="n\n", code=1)
    assert "Delete 1 artifact(s)?" in r.stderr
    assert len(run.json("ls")) == 5
    r = run("rm", "notes.txt", input="y\n")
    assert "deleted notes.txt@v1" in r.stdout
    assert len(run.json("ls")) == 4


# --- stats / verify / reindex / plugins ------------------------------------------------------


def test_stats(run: Cli, filled: dict[str, dict[str, Any]], files: dict[str, Path]) -> None:
    st = run.json("stats")
    assert st["total_artifacts"] == 5
    sizes = [f.stat().st_size for f in files.values()]
    json_size = files["json"].stat().st_size
    assert st["total_size_bytes"] == sum(sizes) + json_size  # report.json stored twice
    assert st["unique_blobs"] == 4
    assert st["unique_size_bytes"] == sum(sizes)
    assert st["dedup_saved_bytes"] == json_size
    assert st["compression_saved_bytes"] == st["unique_size_bytes"] - st["stored_size_bytes"]
    assert st["artifacts_by_type"] == {"episode_data": 1, "report": 2, "model_checkpoint": 1, "log": 1}
    assert st["artifacts_by_model"] == {"m1": 2, "m2": 2}
    assert sum(st["bytes_by_codec"].values()) == st["stored_size_bytes"]
    assert st["store"] == f"file://{run.root}"
    text = run("stats").stdout
    for fragment in ("artifacts:", "dedup saved:", "compression saved:", "TYPE", "report", "MODEL", "m1",
                     "CODEC", human_size(st["total_size_bytes"])):
        assert fragment in text, fragment


def test_stats_empty_store(run: Cli) -> None:
    run("init")
    st = run.json("stats")
    assert st["total_artifacts"] == 0 and st["stored_size_bytes"] == 0
    assert "artifacts:         0" in run("stats").stdout


def test_verify_ok_corrupt_missing(run: Cli, filled: dict[str, dict[str, Any]]) -> None:
    ok = run.json("verify")
    assert ok == {"ok": True, "checked": 5, "corrupt": [], "missing": [], "problems": []}
    assert "all OK" in run("verify").stdout
    corrupt = run.root / filled["bin"]["blob_key"]
    os.chmod(corrupt, 0o644)
    corrupt.write_bytes(b"\x00" * 10)
    missing = run.root / filled["txt"]["blob_key"]
    missing.unlink()
    r = run("verify", "--json", code=1)
    data = json.loads(r.stdout)
    assert data["ok"] is False
    assert data["corrupt"] == [filled["bin"]["id"]]
    assert data["missing"] == [filled["txt"]["id"]]
    assert {(p["status"], p["ref"]) for p in data["problems"]} == {("corrupt", "blob.bin@v1"),
                                                                   ("missing", "notes.txt@v1")}
    r = run("verify", code=1)
    assert "corrupt" in r.stdout and filled["bin"]["id"] in r.stdout and "blob.bin@v1" in r.stdout
    assert "missing" in r.stdout and "notes.txt@v1" in r.stdout
    assert "1 corrupt, 1 missing" in r.stderr
    assert_one_line_error(run("cat", "notes.txt", code=None), "missing")


def test_reindex_rebuilds_a_lost_catalog(run: Cli, filled: dict[str, dict[str, Any]]) -> None:
    run("alias", "episodes.csv", "best")
    run("rm", "--yes", "notes.txt")
    data = run.json("reindex")
    assert data["artifacts"] == 4
    assert data["store"] == f"file://{run.root}"
    for suffix in ("", "-wal", "-shm"):
        p = run.root / f"catalog.db{suffix}"
        if p.exists():
            p.unlink()
    r = run("reindex")
    assert "reindexed 4 artifacts" in r.stdout
    assert ids(run.json("ls")) == {filled[k]["id"] for k in ("csv", "json", "json2", "bin")}
    assert run.json("show", "episodes.csv:best")["id"] == filled["csv"]["id"]


def test_plugins(run: Cli) -> None:
    data = run.json("plugins", store=False)
    names = {p["plugin"]: p for p in data["plugins"]}
    for mod in ("backends", "codecs", "catalogs", "retention"):
        p = names[f"artifactstore.default_plugins.{mod}"]
        assert p["package"] == "artifactstore" and p["version"]
    comps = {(c["kind"], c["name"]): c for c in data["components"]}
    for key in [("backend", "file"), ("backend", "s3"), ("codec", "zstd"), ("codec", "gzip"), ("codec", "none"),
                ("retention policy", "keep_all"), ("catalog", "sqlite")]:
        assert key in comps, key
        assert comps[key]["package"] == "artifactstore"
        assert comps[key]["plugin"].startswith("artifactstore.default_plugins.")
    text = run("plugins", store=False).stdout
    assert "PLUGIN" in text and "PACKAGE" in text and "VERSION" in text
    assert "artifactstore.default_plugins.codecs" in text and "zstd" in text and "keep_champions" in text


# --- errors, debug, progress -----------------------------------------------------------------


def test_unknown_scheme_and_debug(run: Cli, tmp_path: Path) -> None:
    r = run("--store", "nosuch://bucket/x", "ls", store=False, code=None)
    assert_one_line_error(r, "no backend is registered for URL scheme 'nosuch'")
    run("init")
    r = run("--debug", "show", "nope", code=None)
    assert r.exit_code == 1
    assert type(r.exception).__name__ == "ArtifactNotFoundError"  # propagated for the traceback


def test_unexpected_errors_are_one_line_too(run: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    run("init")

    def boom(self: Any) -> None:
        raise RuntimeError("disk on fire\nsecond line")

    monkeypatch.setattr("artifactstore.store.ArtifactStore.stats", boom)
    assert_one_line_error(run("stats", code=None), "RuntimeError: disk on fire second line", "--debug")


def test_credentials_in_store_url_are_not_echoed(run: Cli) -> None:
    r = run("--store", "nosuch://user:hunter2@host/bucket", "ls", store=False, code=None)
    assert "hunter2" not in r.stderr + r.stdout


def test_progress_bars(run: Cli, tmp_path: Path) -> None:
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(3 << 20))
    r = run("--progress", "put", str(big), "--type", "model_checkpoint")
    assert "put big.bin [" in r.stderr and "100.0%" in r.stderr and "3.0 MiB/3.0 MiB" in r.stderr
    assert "big.bin@v1" in r.stdout and "[" not in r.stdout
    r = run("--progress", "get", "big.bin", str(tmp_path / "copy.bin"))
    assert "get big.bin@v1 [" in r.stderr and "100.0%" in r.stderr
    assert (tmp_path / "copy.bin").read_bytes() == big.read_bytes()
    r = run("--progress", "verify")
    assert "verify [" in r.stderr and "100.0%" in r.stderr
    # no bar when not on a terminal, by default
    r = run("put", str(big), "--type", "model_checkpoint")
    assert r.stderr == ""


def test_progress_bar_unit() -> None:
    out = io.StringIO()
    bar = ProgressBar(1000, "copy", out, interval=0)
    for _ in range(4):
        bar(250)
    bar.close()
    bar.close()
    text = out.getvalue()
    assert text.endswith("\n") and text.count("\n") == 1
    assert "copy [" in text and "100.0%" in text and "1000 B" in text
    unknown = io.StringIO()
    b2 = ProgressBar(None, "stdin", unknown, interval=0)
    b2(5000)
    b2.close()
    assert "4.9 KiB" in unknown.getvalue() and "%" not in unknown.getvalue()
    quiet = io.StringIO()
    b3 = ProgressBar(None, "stdin", quiet, interval=0, start_after=10_000)
    b3(5000)
    b3.close()
    assert quiet.getvalue() == ""
    late = io.StringIO()
    b4 = ProgressBar(None, "stdin", late, interval=0, start_after=10_000)
    b4(6000)
    b4(6000)
    b4.close()
    assert "11.7 KiB" in late.getvalue()


def test_progress_bar_auto_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    from artifactstore.cli import progress

    monkeypatch.setattr(progress, "stderr_is_tty", lambda: False)
    with progress.progress_bar(1 << 30, "x") as cb:
        assert cb is None
    monkeypatch.setattr(progress, "stderr_is_tty", lambda: True)
    with progress.progress_bar(100, "x") as cb:
        assert cb is None  # small: no bar
    with progress.progress_bar(100, "x", enabled=False) as cb:
        assert cb is None
    with progress.progress_bar(progress.LARGE, "x", enabled=None) as cb:
        assert isinstance(cb, ProgressBar) and cb.start_after == 0
        cb.file = io.StringIO()
    with progress.progress_bar(None, "x") as cb:
        assert isinstance(cb, ProgressBar) and cb.start_after == progress.LARGE
        cb.file = io.StringIO()


# --- formatting helpers ----------------------------------------------------------------------


def test_human_size() -> None:
    assert human_size(0) == "0 B"
    assert human_size(1023) == "1023 B"
    assert human_size(1024) == "1.0 KiB"
    assert human_size(1536) == "1.5 KiB"
    assert human_size(5 << 20) == "5.0 MiB"
    assert human_size(300 << 30) == "300 GiB"
    assert human_size(-2048) == "-2.0 KiB"
    assert human_size(None) == "-"


def test_table_and_printable() -> None:
    t = table(["A", "NUM"], [("x", "1"), ("longer", "200")], align="lr")
    assert t.splitlines() == ["A       NUM", "x         1", "longer  200"]
    assert table(["A"], []) == "A"
    with pytest.raises(ValueError):
        table(["A", "B"], [("only one",)])
    assert printable("ok\x1b[31mred") == "ok\\x1b[31mred"
    assert printable("a\nb") == "a b"
    assert printable(None) == "-"
    assert printable("naïve ü") == "naïve ü"
    assert key_values([("a", 1), ("long", None)]) == "a:    1\nlong: -"


def test_parse_helpers() -> None:
    assert common.parse_key_value(["a=1", "b=x", "c=", "d=[1]", "e=a=b"]) == {
        "a": 1, "b": "x", "c": "", "d": [1], "e": "a=b"}
    when = common.parse_when("2024-05-01", "--after")
    assert when == dt.datetime(2024, 5, 1, tzinfo=dt.UTC)
    age = common.parse_when("2d", "--after")
    assert age is not None
    assert abs((dt.datetime.now(dt.UTC) - age).total_seconds() - 2 * 86400) < 60
    with pytest.raises(click.BadParameter):
        common.parse_when("soon", "--after")


# --- extension -------------------------------------------------------------------------------


def test_command_modules_can_add_commands(run: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    """Later issues add command groups as modules with register(group); get_store is shared."""
    mod = types.ModuleType("fake_cli_ext")

    @click.group("ext-demo")
    def cache() -> None:
        """Extension commands."""

    @cache.command("info")
    @common.json_option
    @click.pass_context
    def info(ctx: click.Context, as_json: bool) -> None:
        store = common.get_store(ctx)
        common.emit(ctx, as_json, data={"store": store.url}, text=f"store {store.url}")

    def register(group: click.Group) -> None:
        group.add_command(cache)

    mod.register = register  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "fake_cli_ext", mod)
    try:
        register_commands(cli, ["fake_cli_ext"])
        run("init")
        assert run.json("ext-demo", "info") == {"store": f"file://{run.root}"}
        assert "Extension commands." in run("--help").stdout
    finally:
        cli.commands.pop("ext-demo", None)


# --- the installed console script ------------------------------------------------------------


def _script() -> Path:
    candidates = [Path(sys.executable).parent / "artifactstore", Path("/work/venv-dev/bin/artifactstore")]
    for c in candidates:
        if c.exists():
            return c
    pytest.skip("artifactstore console script is not installed")
    raise AssertionError  # pragma: no cover


@pytest.fixture
def script_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARTIFACTSTORE_")}
    env["ARTIFACTSTORE_URL"] = str(tmp_path / "sub-store")
    yield env


def test_console_script_subprocess(tmp_path: Path, script_env: dict[str, str]) -> None:
    exe = str(_script())
    src = tmp_path / "metrics.json"
    src.write_text('{"success_rate": 0.5}')

    def sh(*args: str, input: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run([exe, *args], env=script_env, input=input, capture_output=True, timeout=120,
                              cwd=tmp_path, check=False)

    r = sh("init")
    assert r.returncode == 0, r.stderr
    assert b"created store" in r.stdout
    r = sh("put", str(src), "--type", "evaluation_result", "--model", "m1", "--json")
    assert r.returncode == 0, r.stderr
    [art] = json.loads(r.stdout)
    r = sh("put", "-", "--type", "log", "--name", "run.log", input=b"piped\n")
    assert r.returncode == 0, r.stderr
    assert b"run.log@v1" in r.stdout
    r = sh("ls", "--json", "--model", "m1")
    assert [x["id"] for x in json.loads(r.stdout)] == [art["id"]]
    r = sh("cat", "metrics.json")
    assert r.returncode == 0 and r.stdout == src.read_bytes()
    r = sh("get", "nope")
    assert r.returncode == 1
    assert r.stderr.decode().strip() == "error: no artifact matches 'nope'"
    r = sh("--version")
    assert r.returncode == 0 and b"artifactstore" in r.stdout
    r = subprocess.run([sys.executable, "-m", "artifactstore.cli", "ls", "--json"], env=script_env,
                       capture_output=True, timeout=120, check=False)
    assert r.returncode == 0, r.stderr
    assert len(json.loads(r.stdout)) == 2


# --- listing every match, short ids ----------------------------------------------------------


def _many(run: Cli, tmp_path: Path, n: int) -> list[dict[str, Any]]:
    d = tmp_path / "many"
    d.mkdir()
    paths = []
    for i in range(n):
        p = d / f"f{i:03d}.txt"
        p.write_text(f"file {i}\n")
        paths.append(str(p))
    run("init")
    records: list[dict[str, Any]] = run.json("put", *paths, "--type", "log")
    return records


def test_ls_json_returns_every_match_or_says_it_paged(run: Cli, tmp_path: Path) -> None:
    made = _many(run, tmp_path, 55)
    r = run("ls", "--json")
    assert {x["id"] for x in json.loads(r.stdout)} == ids(made)  # all 55, not the table's 50
    assert r.stderr == ""
    r = run("ls", "--json", "--limit", "20", "--offset", "20")
    assert len(json.loads(r.stdout)) == 20
    assert r.stderr == "showing 21-40 of 55; next page: --offset 40 (--limit 0 for all)\n"
    r = run("ls")  # the table keeps its page of 50 and its warning
    assert len(r.stdout.splitlines()) == 51
    assert r.stderr == "showing 1-50 of 55; next page: --offset 50 (--limit 0 for all)\n"


def test_short_ids_from_ls_are_accepted_everywhere(run: Cli, tmp_path: Path) -> None:
    made = _many(run, tmp_path, 12)
    rows = run("ls").stdout.splitlines()[1:]
    by_ref = {line.split()[1]: line.split()[0] for line in rows}
    for rec in made:
        short = by_ref[rec["ref"]]
        assert short == rec["id"].replace("-", "")[-8:]
        assert run.json("show", short)["id"] == rec["id"]
        assert run("cat", short).stdout == f"file {int(rec['name'][1:4])}\n"
    out = tmp_path / "got"
    run("get", by_ref[made[3]["ref"]], str(out) + "/")
    assert (out / made[3]["name"]).read_text() == "file 3\n"
    # one batch's ids share their leading (time) digits: a prefix matching several is refused, listing them
    prefix = made[0]["id"][:4]
    matching = sorted(r["id"] for r in made if r["id"].startswith(prefix))
    assert len(matching) > 1
    r = run("show", prefix, code=None)
    assert_one_line_error(r, f"short id {prefix!r} matches more than 10 artifacts: {', '.join(matching[:10])}, ...; "
                             "give more characters or the full id")
    two = made[0]["id"][:-1]  # 35 characters: the last digit tells them apart
    near = sorted(r["id"] for r in made if r["id"].startswith(two))
    if len(near) > 1:
        assert_one_line_error(run("show", two, code=None), f"matches {len(near)} artifacts: {', '.join(near)};")
    assert_one_line_error(run("show", "deadbeef", code=None), "no artifact matches 'deadbeef'")


def test_short_id_grows_when_another_id_shares_it(run: Cli, tmp_path: Path) -> None:
    from artifactstore.cli.common import short_ids
    from artifactstore.store import open_store

    made = _many(run, tmp_path, 2)
    with open_store(str(run.root)) as store:
        a, b = made[0]["id"], made[1]["id"]
        real = store.catalog.ids_matching

        def clash(fragment: str, limit: int = 10) -> list[str]:
            # Two random 32-bit tails colliding is too rare to wait for: pretend b shares a's last 8 digits.
            found = real(fragment, limit)
            return sorted({*found, b}) if fragment == a.replace("-", "")[-8:] else found

        store.catalog.ids_matching = clash  # type: ignore[method-assign]
        assert short_ids(store, [a]) == {a: a.replace("-", "")[-12:]}


def test_init_on_a_new_s3_prefix_says_created(s3_url: Any) -> None:
    runner = CliRunner(env=CLEAN_ENV)
    opts = [x for k, v in s3_url.storage_options.items() for x in ("-o", f"{k}={json.dumps(v)}")]
    argv = ["--store", s3_url.url, *opts, "init"]
    first = runner.invoke(cli, argv, prog_name="artifactstore")
    assert first.exit_code == 0, first.output
    assert first.stdout.splitlines()[0] == f"created store: {s3_url.url}"
    again = runner.invoke(cli, argv, prog_name="artifactstore")
    assert again.stdout.splitlines()[0] == f"store already exists: {s3_url.url}"


# --- evaluations from the command line ---------------------------------------------------------


def test_champions_plot_without_a_champion_writes_nothing(run: Cli, tmp_path: Path) -> None:
    run("init")
    png = tmp_path / "chain.png"
    r = run("champions", "--plot", str(png), code=None)
    assert_one_line_error(r, f"nothing to plot: no champion yet, {png} not written "
                             "(promote one with 'artifactstore promote' or the API's promote_champion)")
    assert not png.exists()


def test_record_eval_promote_history_and_reindex(run: Cli, filled: dict[str, dict[str, Any]], tmp_path: Path) -> None:
    short = filled["csv"]["id"].replace("-", "")[-8:]
    r = run("record-eval", "e1", "--model", "m1", "--score", "0.7", "--success-rate", "0.8", "--artifact", short,
            "--metrics-json", '{"collisions": 2}')
    assert r.stdout == "recorded evaluation e1 of m1: score 0.7000, success 80.0%, 1 artifacts\n"
    run("record-eval", "e2", "--model", "m2", "--score", "0.6", "--success-rate", "0.9")
    r = run("promote", "e1")
    assert r.stdout.startswith("champion #1: m1 (evaluation e1, score 0.7000, previous -)")
    assert_one_line_error(run("promote", "e2", code=None),
                          "not promoted: score 0.6000 does not beat the champion m1 (0.7000) (--force promotes anyway)")
    assert run.json("promote", "e2", "--force")["model_id"] == "m2"
    assert_one_line_error(run("promote", "nope", code=None), "no evaluation 'nope'")
    hist = run.json("history")
    assert {h["evaluation_id"] for h in hist} == {"e1", "e2"}
    assert next(h for h in hist if h["evaluation_id"] == "e1")["artifacts"] == [filled["csv"]["id"]]
    r = run("history", "--limit", "1")
    assert r.stderr == "showing the newest 1 evaluations; more exist (--limit 0 for all)\n"
    before = (run.json("history"), run.json("champions"))
    # a fresh catalog rebuilt from the store's records has the same evaluations and champions
    fresh = f"sqlite:///{tmp_path / 'fresh.db'}"
    run("--catalog", fresh, "reindex")
    after = (run.json("--catalog", fresh, "history"), run.json("--catalog", fresh, "champions"))
    assert after == before


def test_get_error_names_the_destination_not_the_part_file(run: Cli, filled: dict[str, dict[str, Any]],
                                                           tmp_path: Path) -> None:
    # 240 characters fit a file name (255), the hidden ".NAME.<12 hex>.part" beside it does not: a real
    # ENAMETOOLONG on the temporary file.
    dest = tmp_path / ("d" * 240)
    r = run("get", "episodes.csv", str(dest), code=None)
    assert_one_line_error(r, f"error: {dest}: File name too long: the temporary file beside it needs 19 more "
                             "characters; use a shorter name")
    assert ".part" not in r.stderr


def test_missing_s3_credentials_name_the_variables(run: Cli, moto_server: Any, monkeypatch: pytest.MonkeyPatch,
                                                   tmp_path: Path) -> None:
    # A real botocore NoCredentialsError against the moto server: no keys in the environment or options.
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    endpoint = moto_server.storage_options["endpoint_url"]
    r = run("--store", "s3://nocreds/store", "-o", f"endpoint_url={endpoint}", "ls", store=False, code=None)
    assert_one_line_error(r, "no S3 credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
                             "(or AWS_PROFILE), or pass -o key=... -o secret=... (-o anon=true for a public bucket)")
    assert "unexpected" not in r.stderr


def test_du_groups_bytes(run: Cli, filled: dict[str, dict[str, Any]]) -> None:
    by_type = {g["type"]: g for g in run.json("du")}
    assert by_type["report"]["artifacts"] == 2
    assert by_type["report"]["original_bytes"] == filled["json"]["size"] + filled["json2"]["size"]
    assert sum(g["artifacts"] for g in by_type.values()) == 5
    by_model = {g["model"]: g["artifacts"] for g in run.json("du", "--by", "model")}
    assert by_model == {"m1": 2, "m2": 2, "-": 1}
    assert {g["prefix"] for g in run.json("du", "--by", "prefix")} == {"nav/", "episodes.csv", "blob.bin", "notes.txt"}
    assert run("du").stdout.splitlines()[0].split() == ["TYPE", "ARTIFACTS", "ORIGINAL", "STORED"]
