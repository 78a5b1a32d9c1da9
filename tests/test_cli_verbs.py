"""The verbs MLflow/DVC/W&B users reach for: tag, meta, alias --remove, diff; search paging; dangling ids."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

import artifactstore
from artifactstore.cli.main import cli


class Cli:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.store = root / "store"

    def __call__(self, *args: str, ok: bool = True) -> Result:
        r = CliRunner().invoke(cli, ["--store", str(self.store), *args], catch_exceptions=False)
        if ok:
            assert r.exit_code == 0, (r.stdout, r.stderr)
        return r

    def file(self, name: str, text: str) -> str:
        p = self.root / name
        p.write_text(text)
        return str(p)


@pytest.fixture
def run(tmp_path: Path) -> Cli:
    c = Cli(tmp_path)
    c("init")
    return c


def _error_line(r: Result) -> str:
    assert r.exit_code == 1 and r.stdout == ""
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    return lines[0]


def test_tag_and_meta_edit_an_artifact_and_survive_reindex(run: Cli) -> None:
    run("put", run.file("r.json", "{}"), "--type", "report", "--tag", "b", "--meta", "k=1", "--meta", "z=x")
    assert run("tag", "r.json", "new", "a").stdout.strip() == "r.json@v1: b, new, a"
    assert run("tag", "r.json", "--remove", "b").stdout.strip() == "r.json@v1: new, a"
    assert run("tag", "r.json").stdout.strip() == "r.json@v1: new, a"  # no change: prints
    out = run("meta", "r.json", "lr=0.01", "note=hi", "--unset", "z").stdout
    assert out.splitlines() == ["r.json@v1:", "  k: 1", "  lr: 0.01", '  note: "hi"']
    assert _error_line(run("meta", "r.json", "--unset", "nope", ok=False)) == (
        "error: r.json@v1 has no metadata key 'nope' (its keys: k, lr, note)")
    assert json.loads(run("ls", "--json", "--tag", "new").stdout)[0]["metadata"] == {"k": 1, "lr": 0.01, "note": "hi"}
    assert len(json.loads(run("ls", "--json", "--meta", "lr=0.01").stdout)) == 1  # the indexes follow the edit
    assert [a["name"] for a in json.loads(run("search", "hi", "--json").stdout)] == ["r.json"]  # and search
    (run.store / "catalog.db").unlink()  # lose the catalog: the journal brings the edits back
    run("reindex")
    shown = json.loads(run("show", "r.json", "--json").stdout)
    assert shown["tags"] == ["new", "a"] and shown["metadata"] == {"k": 1, "lr": 0.01, "note": "hi"}


def test_alias_remove_both_forms_and_errors(run: Cli) -> None:
    run("put", run.file("m.bin", "weights"), "--type", "model_checkpoint")
    run("alias", "m.bin", "best")
    run("alias", "m.bin", "prod")
    assert run("alias", "--remove", "m.bin:best").stdout.startswith("removed m.bin:best (was ")
    assert run("alias", "--remove", "m.bin", "prod").stdout.startswith("removed m.bin:prod")
    assert _error_line(run("alias", "--remove", "m.bin:best", ok=False)) == (
        "error: no alias m.bin:best to remove (aliases of m.bin: none)")
    run("reindex")
    assert json.loads(run("show", "m.bin", "--json").stdout)["aliases"] == []
    assert _error_line(run("show", "m.bin:best", ok=False)).startswith("error: no artifact matches 'm.bin:best'")


def test_diff_tables_text_versions_and_binary(run: Cli) -> None:
    run("put", run.file("r.csv", "episode,reward,success\n1,0.5,True\n2,0.7,False\n"), "--type", "episode_data")
    run("put", run.file("r.csv", "episode,reward,steps\n1,0.9,10\n2,0.9,12\n3,1.0,9\n"), "--type", "episode_data")
    text = run("diff", "r.csv").stdout  # one REF: the version before it
    assert text.splitlines()[0].startswith("--- r.csv@v1")
    assert "rows: 2 -> 3 (+1)" in text and "reward   mean 0.6 -> 0.933333 (+0.333333)" in text
    assert "success  only in a" in text and "steps    only in b" in text
    data = json.loads(run("diff", "r.csv@v1", "r.csv@v2", "--json").stdout)
    assert data["kind"] == "table" and data["rows"] == {"a": 2, "b": 3}
    reward = next(c for c in data["columns"] if c["column"] == "reward")
    assert reward["mean_change"] == pytest.approx(1.0 / 3)
    run("put", run.file("t.txt", "a\nb\nc\n"), "--type", "log")
    run("put", run.file("t.txt", "a\nB\nc\n"), "--type", "log")
    lines = run("diff", "t.txt@v1", "t.txt@v2").stdout.splitlines()
    assert [x for x in lines if x in ("-b", "+B")] == ["-b", "+B"]
    run("put", run.file("t2.txt", "a\nb\nc\n"), "--type", "log")
    assert "content: identical" in run("diff", "t.txt@v1", "t2.txt").stdout
    (run.root / "x.bin").write_bytes(b"\x00\x01" * 10)
    run("put", str(run.root / "x.bin"), "--type", "model_checkpoint")
    assert "content (binary): 20 bytes" in run("diff", "x.bin", "t2.txt").stdout
    assert _error_line(run("diff", "x.bin", ok=False)) == (
        "error: x.bin@v1 has no earlier version to compare with; give REF_B")


def test_search_pages_explicitly(run: Cli) -> None:
    for i in range(4):
        run("put", run.file(f"alpha{i}.log", f"line {i}"), "--type", "log")
    assert len(json.loads(run("search", "alpha*", "--json").stdout)) == 4  # JSON: every match
    r = run("search", "alpha*", "--json", "--limit", "3")
    assert len(json.loads(r.stdout)) == 3
    assert r.stderr.strip() == "showing 1-3; more match: next page --offset 3 (--limit 0 for all)"
    r = run("search", "alpha*", "--json", "--limit", "3", "--offset", "3")
    assert len(json.loads(r.stdout)) == 1 and r.stderr == ""


def test_history_json_lists_dangling_artifact_ids(run: Cli, tmp_path: Path) -> None:
    from artifactstore.compat import ArtifactManager, ArtifactManagerConfig

    (tmp_path / "r.json").write_text("{}")
    with artifactstore.open(run.store) as st:
        aid = st.put(tmp_path / "r.json", artifact_type="report").id
    cfg = ArtifactManagerConfig(base_path=str(run.store), database_path=str(run.store / "catalog.db"))
    with ArtifactManager(cfg) as m:
        m.record_evaluation_history("e1", "m1", 0.5, 0.6, artifacts=[aid, "report_001"])
    hist = json.loads(run("history", "--json").stdout)
    assert hist[0]["artifacts"] == [aid, "report_001"] and hist[0]["dangling_artifacts"] == ["report_001"]
    assert "2 (1 dangling)" in run("history").stdout


def test_unreachable_endpoint_error_names_the_retry_budget(tmp_path: Path) -> None:
    pytest.importorskip("s3fs")
    # a port where nothing listens: refused at once, retried within the budget, then one line
    r = CliRunner().invoke(cli, ["--store", "s3://bucket/store", "-o", "endpoint_url=http://127.0.0.1:9",
                                 "-o", "key=a", "-o", "secret=b", "-o", 'retry={"attempts": 2, "total_timeout": 5}',
                                 "ls"])
    line = _error_line(r)
    assert "failed after 2 attempt(s)" in line and "cannot reach 127.0.0.1" in line and "Connection refused" in line
    assert "retry budget: 2 attempt(s) within 5 s" in line and "-o retry=N" in line
    assert "connect timeout 3 s" in line
