"""capture_repro: git SHA and dirty flag, Python, platform, packages, seeds, container image, parameters."""

from __future__ import annotations

import datetime as _dt
import json
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import artifactstore
from artifactstore import ArtifactStore
from artifactstore.evaluation import capture_repro
from artifactstore.evaluation.repro import COMMIT_ENV, IMAGE_DIGEST_ENV, git_info, package_versions

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in (*COMMIT_ENV, *IMAGE_DIGEST_ENV):
        monkeypatch.delenv(var, raising=False)


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True,
                          env={"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
                               "GIT_COMMITTER_EMAIL": "t@example.com", "HOME": str(repo), "PATH": "/usr/bin:/bin"},
                          ).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    r = tmp_path / "repo"
    r.mkdir()
    _git(r, "init", "-q", "-b", "main")
    (r / "train.py").write_text("print('hi')\n")
    _git(r, "add", "train.py")
    _git(r, "commit", "-q", "-m", "first")
    return r


def test_record_shape_and_json(tmp_path: Path) -> None:
    rec = capture_repro(seeds=[1, 2, 3], parameters={"episodes": 100, "maps": ("a", "b")}, cwd=tmp_path)
    assert set(rec) == {"captured_at", "git", "python", "platform", "packages", "seeds", "container_image",
                        "container_image_source", "parameters"}
    assert json.loads(json.dumps(rec, allow_nan=False)) == rec
    assert rec["python"]["version"] == platform.python_version()
    assert rec["python"]["implementation"] == platform.python_implementation()
    assert rec["python"]["executable"] == sys.executable
    assert rec["platform"]["system"] == platform.system() and rec["platform"]["machine"] == platform.machine()
    assert rec["seeds"] == [1, 2, 3]
    assert rec["parameters"] == {"episodes": 100, "maps": ["a", "b"]}
    assert _dt.datetime.fromisoformat(rec["captured_at"]).tzinfo is not None


def test_all_installed_packages_by_default(tmp_path: Path) -> None:
    pkgs = capture_repro(cwd=tmp_path)["packages"]
    assert pkgs["artifactstore"] == artifactstore.__version__
    assert "pluggy" in pkgs and {"SQLAlchemy", "sqlalchemy"} & set(pkgs)
    assert list(pkgs) == sorted(pkgs, key=str.lower)


def test_named_packages_only(tmp_path: Path) -> None:
    rec = capture_repro(packages=["artifactstore", "no-such-package-xyz"], cwd=tmp_path)
    assert rec["packages"] == {"artifactstore": artifactstore.__version__, "no-such-package-xyz": None}
    assert package_versions([]) == {}


def test_seeds_and_parameters_conversion(tmp_path: Path) -> None:
    assert capture_repro(seeds=7, cwd=tmp_path)["seeds"] == [7]
    assert capture_repro(cwd=tmp_path)["seeds"] == []
    assert capture_repro(seeds=range(3), cwd=tmp_path)["seeds"] == [0, 1, 2]
    when = _dt.datetime(2024, 1, 2, 3, 4, 5)
    params = capture_repro(parameters={"when": when, "path": Path("/x"), "set": {1}}, cwd=tmp_path)["parameters"]
    assert params == {"when": "2024-01-02T03:04:05", "path": "/x", "set": [1]}


def test_numpy_values(tmp_path: Path) -> None:
    np = pytest.importorskip("numpy")
    rec = capture_repro(seeds=np.arange(3), parameters={"lr": np.float32(0.5), "w": np.ones(2)}, cwd=tmp_path)
    assert rec["seeds"] == [0, 1, 2] and rec["parameters"] == {"lr": 0.5, "w": [1.0, 1.0]}


def test_container_image(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rec = capture_repro(cwd=tmp_path)
    assert (rec["container_image"], rec["container_image_source"]) == (None, None)
    monkeypatch.setenv("IMAGE_DIGEST", "sha256:" + "b" * 64)
    rec = capture_repro(cwd=tmp_path)
    assert (rec["container_image"], rec["container_image_source"]) == ("sha256:" + "b" * 64, "env:IMAGE_DIGEST")
    monkeypatch.setenv("CONTAINER_IMAGE_DIGEST", "sha256:" + "a" * 64)
    assert capture_repro(cwd=tmp_path)["container_image"] == "sha256:" + "a" * 64
    rec = capture_repro(container_image="ghcr.io/x/eval@sha256:" + "c" * 64, cwd=tmp_path)
    assert rec["container_image"].endswith("c" * 64) and rec["container_image_source"] == "argument"


@needs_git
def test_git_sha_and_dirty_flag(repo: Path) -> None:
    head = _git(repo, "rev-parse", "HEAD")
    info = capture_repro(cwd=repo)["git"]
    assert info == {"sha": head, "dirty": False, "branch": "main", "source": "git"}
    (repo / "results.csv").write_text("untracked output\n")
    assert git_info(repo)["dirty"] is False  # untracked files (outputs) do not count
    (repo / "train.py").write_text("print('changed')\n")
    assert git_info(repo)["dirty"] is True
    assert git_info(repo / ".git" / "..")["sha"] == head


@needs_git
def test_detached_head_has_no_branch(repo: Path) -> None:
    _git(repo, "checkout", "-q", "--detach")
    info = git_info(repo)
    assert info["branch"] is None and info["sha"] == _git(repo, "rev-parse", "HEAD")


def test_not_a_repository(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    outside = tmp_path / "plain"
    outside.mkdir()
    assert git_info(outside) == {"sha": None, "dirty": None, "branch": None, "source": None}
    monkeypatch.setenv("GITHUB_SHA", "abc123")
    assert git_info(outside) == {"sha": "abc123", "dirty": None, "branch": None, "source": "env:GITHUB_SHA"}


def test_no_git_executable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    rec = capture_repro(cwd=Path(__file__).parent)
    assert rec["git"]["sha"] is None and rec["git"]["dirty"] is None
    assert rec["python"]["version"] == platform.python_version()


def test_repro_recorded_with_an_evaluation(store: ArtifactStore, tmp_path: Path) -> None:
    repro = capture_repro(seeds=[1, 2], parameters={"suite": "base"}, packages=["artifactstore"], cwd=tmp_path)
    store.record_evaluation("e1", "m1", global_score=0.5, success_rate=0.6, repro=repro)
    assert store.evaluation("e1").repro == repro
