"""The main job (`artifactstore demo`) and the evaluation-workflow commands."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

import artifactstore
from artifactstore.cli.main import cli


def _run(args: list[str]) -> tuple[int, str]:
    res = CliRunner().invoke(cli, args, catch_exceptions=False)
    return res.exit_code, res.output


def test_demo_campaign(tmp_path: Path) -> None:
    store = tmp_path / "demo"
    code, out = _run(["--store", str(store), "demo", "--json", "--episodes-per-map", "6"])
    assert code == 0, out
    d = json.loads(out)
    assert d["evaluations"] == 7 and d["promotions"] >= 1 and d["episodes"] == 7 * 6 * 6
    st = d["stats"]
    assert st["dedup_saved_bytes"] > 0 and st["compression_saved_bytes"] > 0
    assert st["artifacts_by_type"]["video"] >= 1 and st["artifacts_by_type"]["episode_data"] == 14
    scores = [c["global_score"] for c in d["champions"]]
    assert scores == sorted(scores, reverse=True) and len(set(scores)) == len(scores)
    assert d["plot"] is None  # no loose file: the plot is an artifact
    assert not list(tmp_path.rglob("*.png"))
    assert d["plot_artifact"]["ref"] == "demo/champion_progression.png@v1"
    assert d["gc_dry_run"]["would_delete"] >= 1
    assert d["gc_dry_run"]["policies"] == ["keep_top_k:k=8", "keep_champions"]
    with artifactstore.open(store) as s:
        assert s.count() == st["total_artifacts"]  # the dry run deleted nothing
        assert s.verify().ok
        videos = s.find(artifact_type="video")
        assert videos and all(v.codec == "none" for v in videos)  # incompressible: stored raw
        assert all(c.codec == "zstd" for c in s.find(artifact_type="episode_data"))
        assert s.evaluations()[0].repro["python"]
        (png,) = s.find(artifact_type="plot", name="demo/champion_progression.png")
        assert png.id == d["plot_artifact"]["id"]
        data = s.read_bytes(png)
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
        # the evaluation report: stored as HTML (self-contained) next to its JSON and SVG figures
        html = s.read_bytes(d["report_artifact"]["id"]).decode()
        assert html.lower().startswith("<!doctype html>") and "<svg" in html and "Leaderboard" in html
        assert d["report_summary"]["champion"] in html
        report_json = s.find(artifact_type="report", tags=["report"], name_prefix="reports/")
        assert any(a.name.endswith("/report.json") for a in report_json)
    # the human summary of a second run: per-run and whole-store figures in labelled columns
    code, out = _run(["--store", str(store), "demo", "--models", "2", "--episodes-per-map", "2",
                      "--out", str(tmp_path / "copy")])
    assert code == 0 and "champion chain" in out and "stored / original" in out
    lines = out.splitlines()
    assert next(x for x in lines if "this run" in x).split() == ["this", "run", "whole", "store"]
    artifacts_row = next(x for x in lines if x.startswith("artifacts ")).split()
    assert int(artifacts_row[1]) < int(artifacts_row[2]) == st["total_artifacts"] + int(artifacts_row[1])
    assert ("gc dry run (policies keep_top_k:k=8 + keep_champions, whole store): would delete" in out)
    assert ("champion progression plot: stored as demo/champion_progression.png@v2 (type plot, id " in out)
    assert f"copy written to {tmp_path / 'copy' / 'champion_progression.png'}" in out
    assert (tmp_path / "copy" / "champion_progression.png").read_bytes()[:4] == b"\x89PNG"
    assert out.rstrip().splitlines()[-1] == f"HTML report written to {tmp_path / 'copy' / 'report.html'}"
    assert "<svg" in (tmp_path / "copy" / "report.html").read_text()


def test_history_champions_gc_commands(tmp_path: Path) -> None:
    store = tmp_path / "s"
    with artifactstore.open(store) as s:
        arts = [s.put(f"x{i}".encode() * 100, artifact_type="log", name=f"l{i}", model_id="m1") for i in range(6)]
        s.record_evaluation("e1", "m1", global_score=0.5, success_rate=0.5, artifacts=[arts[0].id])
        s.promote_champion("m1", evaluation_id="e1", global_score=0.5, success_rate=0.5, artifacts=[arts[0].id])
    code, out = _run(["--store", str(store), "history", "--json"])
    assert code == 0 and json.loads(out)[0]["is_champion"] is True
    code, out = _run(["--store", str(store), "champions"])
    assert code == 0 and "m1" in out
    png = tmp_path / "c.png"
    code, out = _run(["--store", str(store), "champions", "--plot", str(png)])
    assert code == 0 and png.stat().st_size > 1000
    code, out = _run(["--store", str(store), "gc", "--policy", "keep_top_k:k=2", "--policy", "keep_champions",
                      "--grace", "0", "--json"])
    d = json.loads(out)
    assert code == 0 and d["dry_run"] and len(d["plan"]["delete"]) == 3
    with artifactstore.open(store) as s:
        assert s.count() == 6
    code, out = _run(["--store", str(store), "gc", "--policy", "keep_top_k:k=2", "--policy", "keep_champions",
                      "--grace", "0", "--apply"])
    assert code == 0 and "deleted 3" in out
    with artifactstore.open(store) as s:
        assert s.count() == 3 and s.resolve("l0:champion")
    code, out = _run(["--store", str(store), "gc", "--policy", "keep_nothing"])
    assert code == 1


def test_export_episodes_command(tmp_path: Path) -> None:
    rows = [{"episode_id": f"ep{i}", "success": i % 2 == 0, "reward": i / 10} for i in range(20)]
    src = tmp_path / "episodes.json"
    src.write_text(json.dumps(rows))
    jl = tmp_path / "episodes.jsonl"
    jl.write_text("\n".join(json.dumps(r) for r in rows))
    store = tmp_path / "s"
    for path in (src, jl):
        code, out = _run(["--store", str(store), "export-episodes", str(path), "--model", "m", "--evaluation", "e",
                          "--json"])
        assert code == 0, out
        d = json.loads(out)
        assert set(d) == {"csv", "json"}
    with artifactstore.open(store) as s:
        doc = json.loads(s.read_bytes(d["json"]["id"]))
        assert doc["episodes"] == rows
        csv_text = s.read_bytes(d["csv"]["id"]).decode()
        assert csv_text.splitlines()[0] == "episode_id,success,reward" and len(csv_text.splitlines()) == 21


def test_checkout_view(tmp_path: Path) -> None:
    import os

    from artifactstore.checkout import checkout
    from artifactstore.errors import IntegrityError

    store = tmp_path / "s"
    big = os.urandom(200_000)
    with artifactstore.open(store) as s:
        s.put(b"v1", artifact_type="report", name="suite/report.json", model_id="m/1")
        v2 = s.put(b"v2 " * 1000, artifact_type="report", name="suite/report.json", model_id="m/1")
        vid = s.put(big, artifact_type="video", name="fail.mp4", model_id="../evil")
        plain = checkout(s, tmp_path / "plain")  # default: a reflink where possible, else a copy; no hard link
        assert plain.linked == 0 and plain.reflinked + plain.copied == 2
        plain_video = tmp_path / "plain" / "video" / "evil" / "fail.mp4"
        blob = s.backend.local_path(vid.blob_key)
        assert blob is not None  # a local store: blobs are files
        assert os.stat(plain_video).st_ino != os.stat(blob).st_ino
        r = checkout(s, tmp_path / "view", link=True)
        assert (r.files, r.linked, r.copied) == (2, 1, 1)
        again = checkout(s, tmp_path / "view", link=True)  # re-running leaves no temporary link behind
        assert again.linked == 1
        assert not [p for p in (tmp_path / "view").rglob(".*") if p.name.endswith(".link")]
        report = tmp_path / "view" / "report" / "m_1" / "suite" / "report.json"
        assert report.read_bytes() == b"v2 " * 1000  # latest version, decoded (zstd)
        video = tmp_path / "view" / "video" / "evil" / "fail.mp4"  # no traversal out of the view
        assert video.read_bytes() == big and os.stat(video).st_ino == os.stat(blob).st_ino
        assert not os.access(video, os.W_OK) or os.geteuid() == 0
        r = checkout(s, tmp_path / "all", all_versions=True, link=False)
        assert r.files == 3 and r.linked == 0
        assert (tmp_path / "all" / "report" / "m_1" / "suite" / "report.json@v1").read_bytes() == b"v1"
        # a damaged blob is never linked into the view
        os.chmod(blob, 0o644)
        blob.write_bytes(b"X" * len(big))
        import pytest

        with pytest.raises(IntegrityError):
            checkout(s, tmp_path / "view2", link=True)
        with pytest.raises(IntegrityError):
            checkout(s, tmp_path / "view3")  # reflinked or copied: verified either way
        assert v2.version == 2
    code, out = _run(["--store", str(store), "checkout", str(tmp_path / "cli-view"), "--copy", "--json"])
    assert code == 1 and "integrity check failed" in out  # copies are verified too
    with artifactstore.open(store) as s:
        s.delete(vid.id)
    code, out = _run(["--store", str(store), "checkout", str(tmp_path / "cli-view"), "--json"])
    assert code == 0 and json.loads(out)["files"] == 1 and json.loads(out)["linked"] == 0


def test_checkout_link_warns_and_rerun_leaves_no_temporary_files(tmp_path: Path) -> None:
    store = tmp_path / "s"
    with artifactstore.open(store) as s:
        s.put(bytes(range(256)) * 100, artifact_type="video", name="a.bin", model_id="m", codec="none")
    view = tmp_path / "view"
    for _ in range(2):
        res = CliRunner().invoke(cli, ["--store", str(store), "checkout", str(view), "--link"])
        assert res.exit_code == 0, res.output
        assert res.stderr == ("warning: --link: the view's files are the store's blobs; writing to one corrupts the "
                              "store (artifactstore verify reports it)\n")
        assert res.stdout == f"1 files under {view} (0 reflinks, 1 hard links, 0 copies)\n"
    assert sorted(p.name for p in view.rglob("*") if p.is_file()) == ["a.bin"]
    res = CliRunner().invoke(cli, ["--store", str(store), "checkout", str(view), "--link", "--copy"])
    assert res.exit_code == 2 and "--copy and --link exclude each other" in res.stderr
