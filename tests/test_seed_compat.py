"""The seed document's code blocks, each run as written (only the import changed), with what they imply checked.

The blocks are copied verbatim below (trailing spaces stripped);
``test_blocks_match_the_seed_document`` compares them with the document when it
is reachable. They run in order in one namespace, as a user's session would:
later blocks use ``manager``, ``artifact_id``... from earlier ones. The
integration snippets (methods of an orchestrator and a failure analyzer) are
bound to small objects that supply the paths and episode data they use.
"""

from __future__ import annotations

import ast
import contextlib
import csv
import dataclasses
import gzip
import io
import json
import logging
import os
import re
import sqlite3
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

import artifactstore
from artifactstore.compat import (
    ArtifactManager,
    ArtifactManagerConfig,
    ArtifactMetadata,
    ArtifactType,
    ChampionProgression,
    CompressionType,
    EvaluationHistory,
    StoragePolicy,
    create_artifact_manager,
)
from artifactstore.errors import ArtifactNotFoundError, InvalidInputError

SEED_DOC_NAME = "000_aec9d86a3605170c.txt"
COMPAT_NAMES = ("ArtifactManager", "ArtifactManagerConfig", "ArtifactType", "CompressionType", "StoragePolicy",
                "create_artifact_manager")
#: The seed's code must work with ``from artifactstore import ...``: the blocks run with exactly that import.
IMPORT_FROM = "artifactstore"
SEED_IMPORT = "from duckietown_utils.artifact_manager import"

SEED_BLOCKS: dict[str, str] = {
    "core_components": """\
# Main artifact manager class
ArtifactManager(config: ArtifactManagerConfig)

# Configuration management
ArtifactManagerConfig(
    base_path: str = "artifacts",
    compression_enabled: bool = True,
    storage_policy: StoragePolicy = StoragePolicy.KEEP_TOP_K,
    max_artifacts_per_type: int = 100
)

# Artifact types
ArtifactType = {
    EVALUATION_RESULT, EPISODE_DATA, VIDEO, TRACE,
    REPORT, MODEL_CHECKPOINT, CONFIGURATION, LOG, PLOT, HEATMAP
}

# Compression options
CompressionType = {NONE, GZIP, ZIP, TAR_GZ}
""",
    "schema": """\
-- Artifacts table
CREATE TABLE artifacts (
    artifact_id TEXT PRIMARY KEY,
    artifact_type TEXT NOT NULL,
    file_path TEXT NOT NULL,
    original_size INTEGER NOT NULL,
    compressed_size INTEGER,
    compression_type TEXT NOT NULL,
    checksum TEXT NOT NULL,
    created_at TEXT NOT NULL,
    model_id TEXT,
    evaluation_id TEXT,
    suite_name TEXT,
    map_name TEXT,
    episode_id TEXT,
    tags TEXT,
    metadata TEXT
);

-- Evaluation history table
CREATE TABLE evaluation_history (
    evaluation_id TEXT PRIMARY KEY,
    model_id TEXT NOT NULL,
    timestamp TEXT NOT NULL,
    global_score REAL NOT NULL,
    success_rate REAL NOT NULL,
    is_champion INTEGER DEFAULT 0,
    champion_rank INTEGER,
    artifacts TEXT,
    metadata TEXT
);

-- Champion progression table
CREATE TABLE champion_progression (
    champion_id TEXT PRIMARY KEY,
    model_id TEXT NOT NULL,
    timestamp TEXT NOT NULL,
    global_score REAL NOT NULL,
    success_rate REAL NOT NULL,
    previous_champion TEXT,
    improvement_metrics TEXT,
    artifacts TEXT
);
""",
    "basic_storage": """\
from duckietown_utils.artifact_manager import ArtifactManager, ArtifactType

# Initialize manager
manager = ArtifactManager()

# Store evaluation report
artifact_id = manager.store_artifact(
    "evaluation_report.json",
    ArtifactType.EVALUATION_RESULT,
    model_id="enhanced_model_v1",
    evaluation_id="eval_001",
    tags=["comprehensive", "final"],
    metadata={"version": "1.0", "suite_count": 5}
)

# Store video with compression
video_id = manager.store_video_with_compression(
    "failure_episode.mp4",
    model_id="enhanced_model_v1",
    episode_id="ep_042",
    metadata={"failure_type": "collision"}
)
""",
    "episode_export": """\
# Export episode data in multiple formats
episode_results = [
    {
        "episode_id": "ep_001",
        "success": True,
        "reward": 0.85,
        "steps": 150,
        "map_name": "loop_empty"
    },
    # ... more episodes
]

artifact_ids = manager.export_episode_data(
    episode_results,
    format_type="both",  # Export as both CSV and JSON
    model_id="enhanced_model_v1",
    evaluation_id="eval_001"
)

print(f"JSON export: {artifact_ids['json']}")
print(f"CSV export: {artifact_ids['csv']}")
""",
    "history_tracking": """\
# Record evaluation history
manager.record_evaluation_history(
    evaluation_id="eval_001",
    model_id="enhanced_model_v1",
    global_score=0.87,
    success_rate=0.92,
    is_champion=True,
    champion_rank=1,
    artifacts=[artifact_id, video_id],
    metadata={"suite_count": 5, "total_episodes": 100}
)

# Record champion progression
champion_id = manager.record_champion_progression(
    model_id="enhanced_model_v1",
    global_score=0.87,
    success_rate=0.92,
    previous_champion="baseline_model",
    improvement_metrics={
        "score_improvement": 0.05,
        "success_improvement": 0.04
    }
)
""",
    "querying": """\
# Query artifacts by type
videos = manager.get_artifacts(artifact_type=ArtifactType.VIDEO)
model_artifacts = manager.get_artifacts(model_id="enhanced_model_v1")
tagged_artifacts = manager.get_artifacts(tags=["failure_analysis"])

# Get evaluation history
history = manager.get_evaluation_history(model_id="enhanced_model_v1")
champions = manager.get_champion_progression(limit=10)

# Retrieve artifact
retrieved_path = manager.retrieve_artifact(artifact_id, "output_file.json")
""",
    "storage_management": """\
# Get storage statistics
stats = manager.get_storage_stats()
print(f"Total artifacts: {stats['total_artifacts']}")
print(f"Storage efficiency: {stats['storage_efficiency']:.1%}")

# Cleanup old artifacts
cleanup_stats = manager.cleanup_artifacts(
    dry_run=False,
    max_age_days=30,
    keep_champions=True
)

# Create archive
archive_id = manager.create_archive(
    "model_archive.tar.gz",
    model_id="enhanced_model_v1",
    include_metadata=True
)
""",
    "configuration": """\
config = ArtifactManagerConfig(
    base_path="artifacts",                    # Base storage directory
    database_path="artifacts/registry.db",   # SQLite database path
    compression_enabled=True,                 # Enable compression
    default_compression=CompressionType.GZIP, # Default compression type
    storage_policy=StoragePolicy.KEEP_TOP_K, # Retention policy
    max_artifacts_per_type=100,              # Max artifacts per type
    max_age_days=30,                         # Max age for cleanup
    auto_cleanup_enabled=True,               # Enable auto cleanup
    backup_enabled=True,                     # Enable backups
    backup_interval_hours=24                 # Backup frequency
)
""",
    "orchestrator": """\
# In evaluation orchestrator
def run_evaluation(self, model_id: str) -> str:
    # Run evaluation...
    results = self.evaluate_model(model_id)

    # Store evaluation artifacts
    report_id = self.artifact_manager.store_artifact(
        results.report_path,
        ArtifactType.EVALUATION_RESULT,
        model_id=model_id,
        evaluation_id=results.evaluation_id
    )

    # Export episode data
    episode_ids = self.artifact_manager.export_episode_data(
        results.episode_data,
        format_type="both",
        model_id=model_id,
        evaluation_id=results.evaluation_id
    )

    # Record history
    self.artifact_manager.record_evaluation_history(
        evaluation_id=results.evaluation_id,
        model_id=model_id,
        global_score=results.global_score,
        success_rate=results.success_rate,
        artifacts=[report_id] + list(episode_ids.values())
    )

    return results.evaluation_id
""",
    "failure_analyzer": """\
# In failure analyzer
def analyze_failures(self, model_id: str, episodes: List[Dict]) -> str:
    # Analyze failures...
    failure_videos = self.generate_failure_videos(episodes)
    failure_traces = self.generate_failure_traces(episodes)

    # Store failure artifacts
    video_ids = []
    for video_path, episode_id in failure_videos:
        video_id = self.artifact_manager.store_video_with_compression(
            video_path,
            model_id=model_id,
            episode_id=episode_id,
            metadata={"analysis_type": "failure"}
        )
        video_ids.append(video_id)

    trace_ids = []
    for trace_path, episode_id in failure_traces:
        trace_id = self.artifact_manager.store_trace_file(
            trace_path,
            model_id=model_id,
            episode_id=episode_id,
            metadata={"analysis_type": "failure"}
        )
        trace_ids.append(trace_id)

    return video_ids + trace_ids
""",
}


REPORT = {"model": "enhanced_model_v1", "global_score": 0.87, "suites": {f"suite_{i}": 0.8 + i / 100 for i in range(5)}}
# Starts like an MP4 (ftyp box), then bytes that do not compress.
VIDEO = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + os.urandom(64 << 10)


def adapt(code: str) -> str:
    """The seed's block with only its import changed."""
    return code.replace(SEED_IMPORT, f"from {IMPORT_FROM} import")


class SeedSession:
    """Runs seed blocks in order in one namespace, in a scratch working directory."""

    def __init__(self, cwd: Path) -> None:
        self.cwd = cwd
        # What a user's module would have imported at its top for the blocks
        # that use names without importing them (the config block, the typed
        # integration snippets).
        self.ns: dict[str, Any] = {"__name__": "seed_session"}
        exec(f"from {IMPORT_FROM} import ArtifactManagerConfig, CompressionType, StoragePolicy, ArtifactType\n"
             "from typing import Dict, List\n", self.ns)

    def run(self, name: str) -> str:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(adapt(SEED_BLOCKS[name]), f"<seed:{name}>", "exec"), self.ns)
        return out.getvalue()

    def run_upto(self, last: str) -> dict[str, str]:
        printed = {}
        for name in ("basic_storage", "episode_export", "history_tracking", "querying", "storage_management"):
            printed[name] = self.run(name)
            if name == last:
                break
        return printed

    @property
    def manager(self) -> ArtifactManager:
        m = self.ns["manager"]
        assert isinstance(m, ArtifactManager)
        return m

    def close(self) -> None:
        for v in list(self.ns.values()):
            if isinstance(v, ArtifactManager):
                v.close()


@pytest.fixture
def seed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SeedSession]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg-state"))
    (tmp_path / "evaluation_report.json").write_text(json.dumps(REPORT, indent=2))
    (tmp_path / "failure_episode.mp4").write_bytes(VIDEO)
    s = SeedSession(tmp_path)
    yield s
    s.close()


def _seed_doc() -> Path | None:
    here = Path(__file__).resolve()
    candidates = [os.environ.get("ARTIFACTSTORE_SEED_DOC", "")]
    candidates += [str(p / "shared" / "seed" / SEED_DOC_NAME) for p in here.parents]
    for c in candidates:
        if c and Path(c).is_file():
            return Path(c)
    return None


def _strip(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.splitlines())


# --- the document itself -----------------------------------------------------------------


def test_blocks_match_the_seed_document() -> None:
    doc = _seed_doc()
    if doc is None:
        pytest.skip("seed document not found (set ARTIFACTSTORE_SEED_DOC)")
    blocks = re.findall(r"```(\w+)\n(.*?)```", doc.read_text(encoding="utf-8"), re.S)
    assert len(blocks) == len(SEED_BLOCKS), "the seed document gained or lost a code block"
    for (lang, code), (name, ours) in zip(blocks, SEED_BLOCKS.items(), strict=True):
        assert lang == ("sql" if name == "schema" else "python")
        assert _strip(code) == _strip(ours), name


def test_seed_import_from_top_level_package() -> None:
    ns: dict[str, Any] = {}
    exec(SEED_BLOCKS["basic_storage"].splitlines()[0].replace(SEED_IMPORT, "from artifactstore import"), ns)
    assert ns["ArtifactManager"] is ArtifactManager
    assert ns["ArtifactType"] is artifactstore.models.ArtifactType


# --- "Core Components" (a signature sketch, not runnable Python) --------------------------


def test_core_components_sketch(tmp_path: Path) -> None:
    with pytest.raises(SyntaxError):  # `f(config: T)` is a signature sketch
        ast.parse(SEED_BLOCKS["core_components"])
    # What it says, as Python:
    cfg = ArtifactManagerConfig(base_path=str(tmp_path / "a"), compression_enabled=True,
                                storage_policy=StoragePolicy.KEEP_TOP_K, max_artifacts_per_type=100)
    with ArtifactManager(cfg) as m:
        assert m.config is cfg
        assert m.base_path == (tmp_path / "a").resolve()
    defaults = ArtifactManagerConfig()
    assert (defaults.base_path, defaults.compression_enabled, defaults.storage_policy,
            defaults.max_artifacts_per_type) == ("artifacts", True, StoragePolicy.KEEP_TOP_K, 100)
    sketch = SEED_BLOCKS["core_components"]
    types = re.search(r"ArtifactType = \{(.*?)\}", sketch, re.S)
    comps = re.search(r"CompressionType = \{(.*?)\}", sketch, re.S)
    assert types and comps
    assert {n.strip() for n in types.group(1).split(",")} == {t.name for t in ArtifactType}
    assert {n.strip() for n in comps.group(1).split(",")} <= {c.name for c in CompressionType}
    assert {c.value for c in CompressionType} == {"none", "gzip", "zip", "tar.gz", "zstd"}
    assert {p.name for p in StoragePolicy} == {"KEEP_ALL", "KEEP_TOP_K", "KEEP_RECENT", "KEEP_CHAMPIONS"}
    assert ArtifactType is artifactstore.models.ArtifactType


# --- "Database Schema" ---------------------------------------------------------------------


def _tables() -> dict[str, list[str]]:
    out = {}
    for name, body in re.findall(r"CREATE TABLE (\w+) \((.*?)\);", SEED_BLOCKS["schema"], re.S):
        out[name] = [line.split()[0] for line in body.strip().splitlines()]
    return out


def test_schema_columns_are_the_record_fields() -> None:
    tables = _tables()
    assert set(tables) == {"artifacts", "evaluation_history", "champion_progression"}
    fields = [f.name for f in dataclasses.fields(ArtifactMetadata)]
    assert fields[: len(tables["artifacts"])] == tables["artifacts"]
    assert [f.name for f in dataclasses.fields(EvaluationHistory)] == tables["evaluation_history"]
    assert [f.name for f in dataclasses.fields(ChampionProgression)] == tables["champion_progression"]


def test_records_fit_the_seed_tables(seed: SeedSession) -> None:
    """Rows built from the facade's records insert into the seed's own SQL tables."""
    seed.run_upto("history_tracking")
    m = seed.manager
    db = sqlite3.connect(":memory:")
    try:
        db.executescript(SEED_BLOCKS["schema"])
        tables = _tables()

        def insert(table: str, rec: Any) -> None:
            d = dataclasses.asdict(rec)
            row = []
            for col in tables[table]:
                v = d[col]
                if isinstance(v, (list, dict)):
                    v = json.dumps(v)
                elif isinstance(v, bool):
                    v = int(v)
                elif isinstance(v, CompressionType | ArtifactType):
                    v = v.value
                row.append(v)
            db.execute(f"INSERT INTO {table} VALUES ({','.join('?' * len(row))})", row)

        for a in m.get_artifacts():
            insert("artifacts", a)
        for h in m.get_evaluation_history():
            insert("evaluation_history", h)
        for c in m.get_champion_progression():
            insert("champion_progression", c)
        assert db.execute("SELECT count(*) FROM artifacts").fetchone()[0] == 4
        assert db.execute("SELECT is_champion, champion_rank FROM evaluation_history").fetchall() == [(1, 1)]
        assert db.execute("SELECT previous_champion FROM champion_progression").fetchall() == [("baseline_model",)]
    finally:
        db.close()


# --- "Basic Artifact Storage" --------------------------------------------------------------


def test_basic_artifact_storage(seed: SeedSession, tmp_path: Path) -> None:
    seed.run("basic_storage")
    m, ns = seed.manager, seed.ns
    assert m.base_path == (tmp_path / "artifacts").resolve()
    assert (tmp_path / "artifacts" / "registry.db").is_file()
    report = m.store.resolve(ns["artifact_id"])
    assert report.artifact_type == "evaluation_result"
    assert (report.model_id, report.evaluation_id) == ("enhanced_model_v1", "eval_001")
    assert set(report.tags) == {"comprehensive", "final"}
    assert report.metadata == {"version": "1.0", "suite_count": 5}
    assert m.store.read_bytes(report) == (tmp_path / "evaluation_report.json").read_bytes()
    assert report.codec == "gzip"  # the seed's default_compression

    video = m.store.resolve(ns["video_id"])
    assert video.artifact_type == "video" and video.episode_id == "ep_042"
    assert set(video.tags) == {"video", "failure_analysis"}
    assert video.metadata == {"failure_type": "collision"}
    assert video.codec == "gzip"
    meta = m.get_artifact(ns["video_id"])
    assert meta.compression_type is CompressionType.GZIP and meta.compressed_size is not None
    with gzip.open(meta.file_path) as f:  # file_path is a real .gz blob, as the seed's
        assert f.read() == VIDEO


# --- "Episode Data Export" -----------------------------------------------------------------


def test_episode_data_export(seed: SeedSession) -> None:
    printed = seed.run_upto("episode_export")["episode_export"]
    m, ns = seed.manager, seed.ns
    ids = ns["artifact_ids"]
    assert set(ids) == {"json", "csv"}
    assert printed.splitlines() == [f"JSON export: {ids['json']}", f"CSV export: {ids['csv']}"]
    doc = json.loads(m.store.read_bytes(ids["json"]))
    assert doc["episodes"] == ns["episode_results"]
    assert doc["metadata"]["total_episodes"] == 1
    assert doc["metadata"]["model_id"] == "enhanced_model_v1"
    assert doc["metadata"]["evaluation_id"] == "eval_001"
    rows = list(csv.reader(io.StringIO(m.store.read_bytes(ids["csv"]).decode())))
    assert rows == [["episode_id", "success", "reward", "steps", "map_name"],
                    ["ep_001", "True", "0.85", "150", "loop_empty"]]
    for fmt, aid in ids.items():
        a = m.store.resolve(aid)
        assert a.artifact_type == "episode_data" and set(a.tags) == {"episode_data", fmt}
        assert (a.model_id, a.evaluation_id) == ("enhanced_model_v1", "eval_001")
        assert a.metadata["episode_count"] == 1 and a.metadata["format"] == fmt


# --- "History Tracking" --------------------------------------------------------------------


def test_history_tracking(seed: SeedSession) -> None:
    seed.run_upto("history_tracking")
    m, ns = seed.manager, seed.ns
    (h,) = m.get_evaluation_history()
    assert (h.evaluation_id, h.model_id, h.global_score, h.success_rate) == ("eval_001", "enhanced_model_v1",
                                                                              0.87, 0.92)
    assert h.is_champion is True and h.champion_rank == 1
    assert h.artifacts == [ns["artifact_id"], ns["video_id"]]
    assert h.metadata == {"suite_count": 5, "total_episodes": 100}
    (c,) = m.get_champion_progression()
    assert c.champion_id == ns["champion_id"]
    assert (c.model_id, c.global_score, c.success_rate) == ("enhanced_model_v1", 0.87, 0.92)
    assert c.previous_champion == "baseline_model"
    assert c.improvement_metrics == {"score_improvement": 0.05, "success_improvement": 0.04}
    now = m.store.champion()
    assert now is not None and now.champion_id == ns["champion_id"]


# --- "Querying and Retrieval" --------------------------------------------------------------


def test_querying_and_retrieval(seed: SeedSession, tmp_path: Path) -> None:
    seed.run_upto("querying")
    ns = seed.ns
    export = ns["artifact_ids"]
    assert [a.artifact_id for a in ns["videos"]] == [ns["video_id"]]
    assert all(isinstance(a, ArtifactMetadata) for a in ns["model_artifacts"])
    assert {a.artifact_id for a in ns["model_artifacts"]} == {ns["artifact_id"], ns["video_id"], *export.values()}
    assert [a.artifact_id for a in ns["tagged_artifacts"]] == [ns["video_id"]]
    assert [h.evaluation_id for h in ns["history"]] == ["eval_001"]
    assert [c.champion_id for c in ns["champions"]] == [ns["champion_id"]]
    assert ns["retrieved_path"] == Path("output_file.json") and ns["retrieved_path"].stat().st_size > 0
    assert (tmp_path / "output_file.json").read_bytes() == (tmp_path / "evaluation_report.json").read_bytes()
    # newest first, as the seed ordered them
    created = [a.created_at for a in ns["model_artifacts"]]
    assert created == sorted(created, reverse=True)


# --- "Storage Management" ------------------------------------------------------------------


def test_storage_management(seed: SeedSession, tmp_path: Path) -> None:
    printed = seed.run_upto("storage_management")["storage_management"]
    m, ns = seed.manager, seed.ns
    stats = ns["stats"]
    assert {"total_artifacts", "total_size_bytes", "compressed_size_bytes", "compression_ratio",
            "storage_efficiency", "artifacts_by_type", "artifacts_by_model"} <= set(stats)
    sizes = [a.original_size for a in ns["model_artifacts"]]
    assert stats["total_artifacts"] == 4 and stats["total_size_bytes"] == sum(sizes)
    by_type = {k: v["count"] for k, v in stats["artifacts_by_type"].items()}
    assert by_type == {"evaluation_result": 1, "video": 1, "episode_data": 2}
    assert stats["artifacts_by_type"]["video"]["size_bytes"] == len(VIDEO)
    assert stats["artifacts_by_model"] == {"enhanced_model_v1": {"count": 4, "size_bytes": sum(sizes)}}
    assert stats["compression_ratio"] == pytest.approx(stats["compressed_size_bytes"] / stats["total_size_bytes"])
    assert stats["storage_efficiency"] == pytest.approx(1 - stats["compression_ratio"])
    assert printed.splitlines() == ["Total artifacts: 4", f"Storage efficiency: {stats['storage_efficiency']:.1%}"]

    # Nothing is older than 30 days; the champion evaluation's two artifacts are preserved.
    cleanup = ns["cleanup_stats"]
    assert {k: cleanup[k] for k in ("total_artifacts", "deleted_artifacts", "preserved_champions", "freed_bytes")} \
        == {"total_artifacts": 4, "deleted_artifacts": 0, "preserved_champions": 2, "freed_bytes": 0}

    archive = m.store.resolve(ns["archive_id"])
    assert archive.artifact_type == "archive" and {"archive", "backup"} <= set(archive.tags)
    assert archive.model_id == "enhanced_model_v1" and archive.codec == "none"
    assert archive.metadata["artifact_count"] == 4 and archive.metadata["includes_metadata"] is True
    path = tmp_path / "model_archive.tar.gz"
    assert m.store.read_bytes(archive) == path.read_bytes()
    with tarfile.open(path) as tf:
        names = tf.getnames()
        assert "index.json" in names
        for a in ns["model_artifacts"]:
            (member,) = [n for n in names if n.startswith(f"artifacts/{a.artifact_id}/")]
            f = tf.extractfile(member)
            assert f is not None and f.read() == m.store.read_bytes(a.artifact_id)
    assert len(m.get_artifacts(model_id="enhanced_model_v1")) == 5


# --- "Configuration Options" ---------------------------------------------------------------


def test_configuration_options(seed: SeedSession, tmp_path: Path) -> None:
    seed.run("configuration")
    config = seed.ns["config"]
    assert isinstance(config, ArtifactManagerConfig)
    assert config.database_path == "artifacts/registry.db"
    assert config.default_compression is CompressionType.GZIP
    assert (config.max_age_days, config.auto_cleanup_enabled, config.backup_enabled,
            config.backup_interval_hours) == (30, True, True, 24)
    with ArtifactManager(config) as m:
        assert (tmp_path / "artifacts" / "registry.db").is_file()
        aid = m.store_artifact("evaluation_report.json", ArtifactType.REPORT, model_id="m")
        meta = m.get_artifact(aid)
        assert meta.compression_type is CompressionType.GZIP
        assert meta.file_path.endswith(".gz")
        assert gzip.decompress(Path(meta.file_path).read_bytes()) == (tmp_path / "evaluation_report.json").read_bytes()
        assert meta.compressed_size == Path(meta.file_path).stat().st_size


# --- "Evaluation Orchestrator Integration" -------------------------------------------------


class Orchestrator:
    """Supplies what ``run_evaluation`` uses: ``artifact_manager`` and ``evaluate_model``."""

    def __init__(self, manager: ArtifactManager, workdir: Path) -> None:
        self.artifact_manager = manager
        self.workdir = workdir

    def evaluate_model(self, model_id: str) -> SimpleNamespace:
        report = self.workdir / f"{model_id}_report.json"
        report.write_text(json.dumps({"model_id": model_id, "score": 0.81}))
        episodes = [{"episode_id": f"ep_{i:03d}", "success": i % 4 != 0, "reward": i / 10, "steps": 100 + i,
                     "map_name": "loop_empty" if i % 2 else "udem1"} for i in range(12)]
        return SimpleNamespace(report_path=str(report), evaluation_id=f"eval_{model_id}", episode_data=episodes,
                               global_score=0.81, success_rate=0.75)


def test_evaluation_orchestrator_integration(seed: SeedSession, tmp_path: Path) -> None:
    seed.run("basic_storage")
    seed.run("orchestrator")
    Orchestrator.run_evaluation = seed.ns["run_evaluation"]  # type: ignore[attr-defined]
    try:
        orch = Orchestrator(seed.manager, tmp_path)
        evaluation_id = orch.run_evaluation("model_x")  # type: ignore[attr-defined]
    finally:
        del Orchestrator.run_evaluation  # type: ignore[attr-defined]
    m = seed.manager
    assert evaluation_id == "eval_model_x"
    (h,) = m.get_evaluation_history(model_id="model_x")
    assert (h.global_score, h.success_rate, h.is_champion) == (0.81, 0.75, False)
    types = [m.store.resolve(a).artifact_type for a in h.artifacts]
    assert types == ["evaluation_result", "episode_data", "episode_data"]
    json_doc = json.loads(m.store.read_bytes(h.artifacts[1]))
    assert len(json_doc["episodes"]) == 12 and json_doc["metadata"]["evaluation_id"] == "eval_model_x"
    assert {a.artifact_id for a in m.get_artifacts(evaluation_id="eval_model_x")} == set(h.artifacts)


# --- "Failure Analyzer Integration" --------------------------------------------------------


class FailureAnalyzer:
    """Supplies what ``analyze_failures`` uses: ``artifact_manager`` and the two generators."""

    def __init__(self, manager: ArtifactManager, workdir: Path) -> None:
        self.artifact_manager = manager
        self.workdir = workdir

    def _failed(self, episodes: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [e for e in episodes if not e["success"]]

    def generate_failure_videos(self, episodes: list[dict[str, Any]]) -> list[tuple[str, str]]:
        out = []
        for e in self._failed(episodes):
            p = self.workdir / f"{e['episode_id']}.mp4"
            p.write_bytes(b"\x00\x00\x00\x18ftypisom" + os.urandom(4096))
            out.append((str(p), e["episode_id"]))
        return out

    def generate_failure_traces(self, episodes: list[dict[str, Any]]) -> list[tuple[str, str]]:
        out = []
        for e in self._failed(episodes):
            p = self.workdir / f"{e['episode_id']}_trace.jsonl"
            p.write_text("".join(json.dumps({"t": t, "x": t * 0.1, "episode": e["episode_id"]}) + "\n"
                                 for t in range(200)))
            out.append((str(p), e["episode_id"]))
        return out


def test_failure_analyzer_integration(seed: SeedSession, tmp_path: Path) -> None:
    seed.run("basic_storage")
    seed.run("failure_analyzer")
    FailureAnalyzer.analyze_failures = seed.ns["analyze_failures"]  # type: ignore[attr-defined]
    episodes = [{"episode_id": f"ep_{i:03d}", "success": i % 3 != 0} for i in range(9)]
    try:
        ids = FailureAnalyzer(seed.manager, tmp_path).analyze_failures("model_y", episodes)  # type: ignore[attr-defined]
    finally:
        del FailureAnalyzer.analyze_failures  # type: ignore[attr-defined]
    m = seed.manager
    assert len(ids) == 6 and len(set(ids)) == 6
    arts = [m.store.resolve(i) for i in ids]
    assert [a.artifact_type for a in arts] == ["video"] * 3 + ["trace"] * 3
    assert [a.episode_id for a in arts] == ["ep_000", "ep_003", "ep_006"] * 2
    assert all(a.model_id == "model_y" and a.metadata == {"analysis_type": "failure"} for a in arts)
    assert {a.codec for a in arts[3:]} == {"gzip"}
    tagged = {a.artifact_id for a in m.get_artifacts(tags=["failure_analysis"])}
    assert tagged == {*ids, seed.ns["video_id"]}
    assert {a.artifact_id for a in m.get_artifacts(artifact_type=ArtifactType.TRACE, model_id="model_y")} \
        == set(ids[3:])


# --- beyond the blocks: what the seed's API implies ----------------------------------------


@pytest.fixture
def manager(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ArtifactManager]:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg-state"))
    with ArtifactManager(ArtifactManagerConfig(base_path=str(tmp_path / "store"))) as m:
        yield m


def _file(tmp_path: Path, name: str, data: bytes) -> Path:
    p = tmp_path / name
    p.write_bytes(data)
    return p


TEXT = b"episode,reward\n" + b"".join(b"ep_%d,%f\n" % (i, i / 7) for i in range(2000))


@pytest.mark.parametrize(("cfg", "compress", "codec"), [
    ({}, None, "gzip"),
    ({}, True, "gzip"),
    ({"default_compression": None}, None, "zstd"),
    ({}, False, "none"),
    ({"compression_enabled": False}, None, "none"),
    ({"compression_enabled": False}, True, "gzip"),
    ({"default_compression": CompressionType.GZIP}, None, "gzip"),
    ({"default_compression": "gzip"}, True, "gzip"),
    ({"default_compression": CompressionType.ZIP}, None, "zip"),
    ({"default_compression": CompressionType.TAR_GZ}, None, "tar.gz"),
    ({"default_compression": CompressionType.ZSTD}, False, "none"),
])
def test_compress_argument_and_config(tmp_path: Path, cfg: dict[str, Any], compress: bool | None,
                                      codec: str) -> None:
    src = _file(tmp_path, "episodes.csv", TEXT)
    with ArtifactManager(ArtifactManagerConfig(base_path=str(tmp_path / "s"), **cfg)) as m:
        aid = m.store_artifact(src, ArtifactType.EPISODE_DATA, compress=compress)
        meta = m.get_artifact(aid)
        assert meta.compression_type == codec
        assert Path(meta.file_path).is_file()
        assert (meta.compressed_size is None) == (codec == "none")
        out = m.retrieve_artifact(aid, tmp_path / "out" / "x.csv")
        assert Path(out).read_bytes() == TEXT


def test_video_is_stored_as_is_by_auto(manager: ArtifactManager, tmp_path: Path) -> None:
    manager.config.default_compression = None  # auto, as artifactstore.open does
    aid = manager.store_video_with_compression(_file(tmp_path, "v.mp4", VIDEO), model_id="m")
    meta = manager.get_artifact(aid)
    assert meta.compression_type is CompressionType.NONE
    assert Path(meta.file_path).read_bytes() == VIDEO


def test_retrieve_unknown_id_raises_value_error(manager: ArtifactManager) -> None:
    with pytest.raises(ValueError):
        manager.retrieve_artifact("01a2168e-0000-7000-8000-000000000000")
    with pytest.raises(ArtifactNotFoundError):
        manager.retrieve_artifact("no-such-artifact")
    with pytest.raises(KeyError):
        manager.get_artifact("no-such-artifact")


def test_retrieve_to_a_temporary_file(manager: ArtifactManager, tmp_path: Path) -> None:
    aid = manager.store_artifact(_file(tmp_path, "r.json", b'{"a": 1}'), "report")
    out = Path(manager.retrieve_artifact(aid))
    try:
        assert out.read_bytes() == b'{"a": 1}' and out.name == "r.json"
        assert tmp_path not in out.parents
    finally:
        out.unlink()
        out.parent.rmdir()


def test_missing_source_file(manager: ArtifactManager) -> None:
    with pytest.raises(FileNotFoundError):
        manager.store_artifact("does-not-exist.json", ArtifactType.REPORT)
    assert manager.get_artifacts() == []


def test_empty_store_stats_have_no_division_by_zero(manager: ArtifactManager) -> None:
    stats = manager.get_storage_stats()
    assert stats["total_artifacts"] == 0
    assert stats["compression_ratio"] == 0.0 and stats["storage_efficiency"] == 0.0
    assert stats["artifacts_by_type"] == {} and stats["artifacts_by_model"] == {}


def test_stats_count_deduplicated_content_once(manager: ArtifactManager, tmp_path: Path) -> None:
    a = _file(tmp_path, "a.csv", TEXT)
    b = _file(tmp_path, "b.csv", TEXT)
    manager.store_artifact(a, "log", model_id="m1")
    manager.store_artifact(b, "log", model_id="m2")
    stats = manager.get_storage_stats()
    assert stats["total_size_bytes"] == 2 * len(TEXT)
    assert stats["unique_size_bytes"] == len(TEXT) and stats["dedup_saved_bytes"] == len(TEXT)
    assert stats["compressed_size_bytes"] < len(TEXT)
    assert stats["storage_efficiency"] > 0.5
    assert stats["artifacts_by_model"] == {"m1": {"count": 1, "size_bytes": len(TEXT)},
                                           "m2": {"count": 1, "size_bytes": len(TEXT)}}


def test_get_artifacts_filters_and_limit(manager: ArtifactManager, tmp_path: Path) -> None:
    ids = []
    for i in range(5):
        ids.append(manager.store_artifact(
            _file(tmp_path, f"f{i}.txt", b"x%d" % i), ArtifactType.LOG if i % 2 else ArtifactType.PLOT,
            model_id=f"m{i % 2}", evaluation_id="e1" if i < 3 else "e2", tags=[f"t{i}", "all"]))
    assert [a.artifact_id for a in manager.get_artifacts(limit=2)] == ids[::-1][:2]
    assert {a.artifact_id for a in manager.get_artifacts(artifact_type=ArtifactType.LOG)} == {ids[1], ids[3]}
    assert {a.artifact_id for a in manager.get_artifacts(artifact_type="plot", model_id="m0")} == {ids[0], ids[2],
                                                                                                   ids[4]}
    assert {a.artifact_id for a in manager.get_artifacts(evaluation_id="e2")} == {ids[3], ids[4]}
    assert {a.artifact_id for a in manager.get_artifacts(tags=["t0", "t4"])} == {ids[0], ids[4]}
    assert len(manager.get_artifacts(tags=[])) == 5
    meta = manager.get_artifacts(artifact_type=ArtifactType.LOG, limit=1)[0]
    assert meta.artifact_type is ArtifactType.LOG and meta.tags == ["t3", "all"]  # the order given


def test_history_filters_and_champion_chain(manager: ArtifactManager, tmp_path: Path) -> None:
    aid = manager.store_artifact(_file(tmp_path, "ckpt.bin", b"weights"), ArtifactType.MODEL_CHECKPOINT)
    manager.record_evaluation_history("e1", "m1", 0.5, 0.6)
    manager.record_evaluation_history("e2", "m2", 0.7, 0.8, is_champion=True, champion_rank=1, artifacts=[aid])
    manager.record_evaluation_history("e3", "m1", 0.6, 0.7)
    assert [h.evaluation_id for h in manager.get_evaluation_history()] == ["e3", "e2", "e1"]
    assert [h.evaluation_id for h in manager.get_evaluation_history(model_id="m1")] == ["e3", "e1"]
    assert [h.evaluation_id for h in manager.get_evaluation_history(champions_only=True)] == ["e2"]
    assert [h.evaluation_id for h in manager.get_evaluation_history(limit=1)] == ["e3"]
    assert [h.evaluation_id for h in manager.get_evaluation_history("m1", 1)] == ["e3"]  # (model_id, limit)
    assert [h.evaluation_id for h in manager.get_evaluation_history(None, 5, True)] == ["e2"]
    first = manager.record_champion_progression("m1", 0.5, 0.6, previous_champion="baseline")
    second = manager.record_champion_progression("m2", 0.4, 0.5, artifacts=[aid])  # records even if worse
    chain = manager.get_champion_progression()
    assert [c.champion_id for c in chain] == [second, first]
    assert chain[0].previous_champion == "m1" and chain[1].previous_champion == "baseline"
    assert chain[0].improvement_metrics["score_improvement"] == pytest.approx(-0.1)
    assert chain[0].artifacts == [aid]
    assert [c.champion_id for c in manager.get_champion_progression(limit=1)] == [second]
    # the seed stored any string: an id the store does not hold is kept as given, and listed as dangling
    h = manager.record_evaluation_history("e4", "m1", 0.1, 0.1, artifacts=[aid, "no-such-artifact"])
    assert h.artifacts == [aid, "no-such-artifact"]
    assert manager.dangling_artifacts() == {"evaluation:e4": ["no-such-artifact"]}


def test_cleanup_deletes_old_artifacts_and_keeps_champions(tmp_path: Path) -> None:
    cfg = ArtifactManagerConfig(base_path=str(tmp_path / "s"), storage_policy=StoragePolicy.KEEP_ALL,
                                default_compression=None)
    with ArtifactManager(cfg) as m:
        ids = [m.store_artifact(_file(tmp_path, f"f{i}.log", os.urandom(1000 + i)), ArtifactType.LOG)
               for i in range(3)]
        m.record_champion_progression("m1", 0.9, 0.9, artifacts=[ids[0]])
        dry = m.cleanup_artifacts(dry_run=True, max_age_days=0)
        assert (dry["total_artifacts"], dry["deleted_artifacts"], dry["preserved_champions"]) == (3, 2, 1)
        assert dry["freed_bytes"] == 1001 + 1002  # incompressible: stored as they are
        assert len(m.get_artifacts()) == 3  # a dry run changes nothing
        assert m.cleanup_artifacts(max_age_days=0)["deleted_artifacts"] == 2 and len(m.get_artifacts()) == 3
        done = m.cleanup_artifacts(dry_run=False, max_age_days=0, grace_seconds=0)
        assert (done["deleted_artifacts"], done["preserved_champions"], done["freed_bytes"]) == (2, 1, 2003)
        assert [a.artifact_id for a in m.get_artifacts()] == [ids[0]]
        assert m.store.verify().ok
        gone = m.cleanup_artifacts(dry_run=False, max_age_days=0, keep_champions=False, grace_seconds=0)
        assert gone["deleted_artifacts"] == 1 and m.get_artifacts() == []


def test_cleanup_with_top_k_policy(tmp_path: Path) -> None:
    cfg = ArtifactManagerConfig(base_path=str(tmp_path / "s"), max_artifacts_per_type=2,
                                auto_cleanup_enabled=False)
    with ArtifactManager(cfg) as m:
        ids = [m.store_artifact(_file(tmp_path, f"p{i}.png", b"plot%d" % i), ArtifactType.PLOT) for i in range(4)]
        m.store_artifact(_file(tmp_path, "r.json", b"{}"), ArtifactType.REPORT)
        # no age given: the configured policy (keep the top 2 of each type)
        stats = m.cleanup_artifacts(dry_run=False)
        assert stats["deleted_artifacts"] == 2
        assert {a.artifact_id for a in m.get_artifacts(artifact_type=ArtifactType.PLOT)} == set(ids[2:])
        assert len(m.get_artifacts(artifact_type=ArtifactType.REPORT)) == 1
        # an explicit age applies the seed's age rule whatever the policy: 0 is every artifact not protected
        assert m.cleanup_artifacts(dry_run=True, max_age_days=30)["deleted_artifacts"] == 0
        assert m.cleanup_artifacts(dry_run=True, max_age_days=0)["deleted_artifacts"] == 3
        assert m.cleanup_artifacts(dry_run=True, max_age_days=-5)["deleted_artifacts"] == 3
        m.record_champion_progression("m", 0.9, 0.9, artifacts=[ids[3]])
        assert m.cleanup_artifacts(dry_run=True, max_age_days=0)["deleted_artifacts"] == 2
        assert m.cleanup_artifacts(dry_run=True, max_age_days=0, keep_champions=False)["deleted_artifacts"] == 3


def test_keep_all_policy_keeps_everything_without_an_age(tmp_path: Path) -> None:
    cfg = ArtifactManagerConfig(base_path=str(tmp_path / "s"), storage_policy=StoragePolicy.KEEP_ALL, max_age_days=0)
    with ArtifactManager(cfg) as m:
        m.store_artifact(_file(tmp_path, "a.log", b"a"), ArtifactType.LOG)
        assert m.cleanup_artifacts(dry_run=True)["deleted_artifacts"] == 0
        assert m.cleanup_artifacts(dry_run=True, max_age_days=0)["deleted_artifacts"] == 1


def test_auto_cleanup_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from artifactstore import gc

    plans = []
    real_plan = gc.plan

    def spy(*a: Any, **kw: Any) -> Any:
        plans.append(1)
        return real_plan(*a, **kw)

    monkeypatch.setattr(gc, "plan", spy)
    cfg = ArtifactManagerConfig(base_path=str(tmp_path / "s"), max_artifacts_per_type=10, max_age_days=0,
                                auto_cleanup_check_every=5)
    with ArtifactManager(cfg) as m:
        counts = []
        real_count = m.store.count

        def count(**kw: Any) -> int:
            counts.append(kw)
            return real_count(**kw)

        monkeypatch.setattr(m.store, "count", count)
        for i in range(30):
            m.store_artifact(_file(tmp_path, f"l{i}.log", b"line %d" % i), ArtifactType.LOG)
        # One count every 5 writes (6 checks), plus one after each cleanup. A cleanup only once a
        # count passes 10 + 1: not at 5 or 10 artifacts, then at 15 (back to 10), 20, 25 and 30.
        assert len(counts) == 6 + len(plans)
        assert all(c == {"artifact_type": "log"} for c in counts)
        assert len(plans) == 4
        assert len(m.get_artifacts(artifact_type=ArtifactType.LOG)) <= 10 + 1 + 5
        newest = m.get_artifacts(artifact_type=ArtifactType.LOG, limit=1)[0]
        assert newest.name == "l29.log"


def test_keep_all_never_cleans_automatically(tmp_path: Path) -> None:
    cfg = ArtifactManagerConfig(base_path=str(tmp_path / "s"), storage_policy="keep_all",  # type: ignore[arg-type]
                                max_artifacts_per_type=1, max_age_days=0, auto_cleanup_check_every=1)
    with ArtifactManager(cfg) as m:
        for i in range(5):
            m.store_artifact(_file(tmp_path, f"l{i}.log", b"line %d" % i), ArtifactType.LOG)
        assert len(m.get_artifacts()) == 5


def test_create_archive_filters_and_errors(manager: ArtifactManager, tmp_path: Path) -> None:
    a = manager.store_artifact(_file(tmp_path, "a.png", b"png"), ArtifactType.PLOT, model_id="m", evaluation_id="e")
    b = manager.store_artifact(_file(tmp_path, "b.log", b"log"), ArtifactType.LOG, model_id="m", evaluation_id="e")
    manager.store_artifact(_file(tmp_path, "c.log", b"other"), ArtifactType.LOG, model_id="other")
    aid = manager.create_archive(tmp_path / "out" / "plots.tar.gz", model_id="m",
                                 artifact_types=[ArtifactType.PLOT, "log"], include_metadata=False)
    meta = manager.get_artifact(aid)
    assert meta.artifact_type == "archive" and meta.metadata["artifact_ids"] and meta.metadata["artifact_count"] == 2
    assert set(meta.metadata["artifact_ids"]) == {a, b}
    with tarfile.open(tmp_path / "out" / "plots.tar.gz") as tf:
        assert "index.json" not in tf.getnames()
        assert {n.split("/")[1] for n in tf.getnames() if n.startswith("artifacts/")} == {a, b}
    with pytest.raises(ValueError):
        manager.create_archive(tmp_path / "none.tar.gz", model_id="nobody")


def test_plain_path_config_and_context_manager(tmp_path: Path) -> None:
    with ArtifactManager(str(tmp_path / "p")) as m:
        assert m.config.base_path == str(tmp_path / "p")
        assert m.base_path == (tmp_path / "p").resolve()
        assert m.store.url.endswith("/p")
    with ArtifactManager(tmp_path / "p") as m2:
        assert m2.get_artifacts() == []
    with pytest.raises(ValueError):
        ArtifactManager(42)  # type: ignore[arg-type]


def test_store_and_catalog_urls(tmp_path: Path) -> None:
    cfg = ArtifactManagerConfig(store_url="memory://compat-test", catalog_url=f"sqlite:///{tmp_path}/cat.db")
    with ArtifactManager(cfg) as m:
        assert m.base_path is None
        aid = m.store_artifact(_file(tmp_path, "x.txt", b"hello"), "log")
        meta = m.get_artifact(aid)
        assert meta.file_path.startswith("memory://") and meta.checksum in meta.file_path
        assert Path(m.retrieve_artifact(aid, tmp_path / "y.txt")).read_bytes() == b"hello"
    assert (tmp_path / "cat.db").is_file()


def test_create_artifact_manager_from_json_and_toml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "c.json").write_text(json.dumps({"base_path": "j", "default_compression": "gzip",
                                                 "storage_policy": "keep_recent", "unknown_key": 1}))
    with caplog.at_level(logging.WARNING, logger="artifactstore.compat"):
        m = create_artifact_manager(str(tmp_path / "c.json"))
    with m:
        assert m.config.default_compression is CompressionType.GZIP
        assert m.config.storage_policy is StoragePolicy.KEEP_RECENT
        assert m.base_path == (tmp_path / "j").resolve()
    assert "unknown_key" in caplog.text
    (tmp_path / "c.toml").write_text('[artifact_manager]\nbase_path = "t"\ndatabase_path = "t/registry.db"\n'
                                     'max_artifacts_per_type = 7\ncompression_enabled = false\n')
    with create_artifact_manager(tmp_path / "c.toml") as m:
        assert m.config.max_artifacts_per_type == 7 and m.config.compression_enabled is False
        assert (tmp_path / "t" / "registry.db").is_file()
    with create_artifact_manager() as m:
        assert m.base_path == (tmp_path / "artifacts").resolve()
    with pytest.raises(FileNotFoundError):
        create_artifact_manager(tmp_path / "missing.json")
    (tmp_path / "bad.toml").write_text("base_path = ")
    with pytest.raises(ValueError):
        create_artifact_manager(tmp_path / "bad.toml")
    with pytest.raises(InvalidInputError):
        ArtifactManagerConfig(storage_policy="keep_everything")  # type: ignore[arg-type]


def test_concurrent_writes_from_threads(manager: ArtifactManager, tmp_path: Path) -> None:
    ids: list[str] = []
    lock = threading.Lock()
    errors: list[BaseException] = []

    def worker(w: int) -> None:
        try:
            for i in range(10):
                aid = manager.store_artifact(_file(tmp_path, f"w{w}_{i}.txt", b"%d-%d" % (w, i)), "log",
                                             model_id=f"m{w}")
                with lock:
                    ids.append(aid)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(set(ids)) == 40 and manager.get_storage_stats()["total_artifacts"] == 40


def test_backup_runs_sync_when_the_interval_has_passed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sync_mod = pytest.importorskip("artifactstore.sync")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg-state"))
    calls = []
    real = sync_mod.sync

    def spy(src: Any, dst: Any, *a: Any, **kw: Any) -> Any:
        calls.append(dst.url)
        return real(src, dst, *a, **kw)

    monkeypatch.setattr(sync_mod, "sync", spy)
    backup = tmp_path / "backup"
    cfg = ArtifactManagerConfig(base_path=str(tmp_path / "s"), backup_url=str(backup), backup_interval_hours=24)
    with ArtifactManager(cfg) as m:
        aid = m.store_artifact(_file(tmp_path, "a.txt", b"first"), "log")
        m.store_artifact(_file(tmp_path, "b.txt", b"second"), "log")
    assert len(calls) == 1  # the first write backs up; the second is within the interval
    with artifactstore.open(backup) as dst:
        assert dst.read_bytes(aid) == b"first"
    with ArtifactManager(cfg) as m:  # the last backup time survives the process
        m.store_artifact(_file(tmp_path, "c.txt", b"third"), "log")
    assert len(calls) == 1
    with ArtifactManager(dataclasses.replace(cfg, backup_interval_hours=0)) as m:
        m.store_artifact(_file(tmp_path, "d.txt", b"fourth"), "log")
        m.backup()
    assert len(calls) == 3
    with artifactstore.open(backup) as dst:
        assert dst.count() == 4


def test_no_backup_without_a_url(manager: ArtifactManager, tmp_path: Path) -> None:
    assert manager.config.backup_enabled and manager.config.backup_url is None
    manager.store_artifact(_file(tmp_path, "a.txt", b"x"), "log")  # nothing to back up to: no error
    with pytest.raises(ValueError, match="backup_url"):
        manager.backup()


def test_file_names_with_characters_reserved_in_refs(manager: ArtifactManager, tmp_path: Path) -> None:
    src = _file(tmp_path, "ep_2024-01-01T10:00:00@run2.mp4", VIDEO)
    aid = manager.store_video_with_compression(src, model_id="m")
    meta = manager.get_artifact(aid)
    assert meta.name == "ep_2024-01-01T10_00_00_run2.mp4"
    assert Path(manager.retrieve_artifact(aid, tmp_path / "back.mp4")).read_bytes() == VIDEO
    assert manager.get_artifact(manager.store_artifact(_file(tmp_path, "~x.json", b"{}"), "report")).name == "_x.json"
    assert manager.get_artifact(manager.store_artifact(_file(tmp_path, "plain.json", b"{}"), "report")).name \
        == "plain.json"


def test_a_failing_auto_cleanup_does_not_fail_the_write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    from artifactstore import gc

    def broken(*a: Any, **kw: Any) -> Any:
        raise OSError("disk on fire")

    monkeypatch.setattr(gc, "plan", broken)
    cfg = ArtifactManagerConfig(base_path=str(tmp_path / "s"), max_artifacts_per_type=1, auto_cleanup_check_every=1)
    with ArtifactManager(cfg) as m, caplog.at_level(logging.WARNING, logger="artifactstore.compat"):
        ids = [m.store_artifact(_file(tmp_path, f"l{i}.log", b"%d" % i), "log") for i in range(4)]
        assert len(m.get_artifacts()) == 4 and len(set(ids)) == 4
    assert "auto cleanup failed: OSError: disk on fire" in caplog.text


# --- the seed's SQL schema, tag order, dangling ids, the by-type view ------------------------

SEED_COLUMNS = {
    "artifacts": ["artifact_id", "artifact_type", "file_path", "original_size", "compressed_size",
                  "compression_type", "checksum", "created_at", "model_id", "evaluation_id", "suite_name",
                  "map_name", "episode_id", "tags", "metadata"],
    "evaluation_history": ["evaluation_id", "model_id", "timestamp", "global_score", "success_rate",
                           "is_champion", "champion_rank", "artifacts", "metadata"],
    "champion_progression": ["champion_id", "model_id", "timestamp", "global_score", "success_rate",
                             "previous_champion", "improvement_metrics", "artifacts"],
}


def test_seed_tables_as_sql_views_on_both_engines(tmp_path: Path, catalog_url: str,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    import datetime

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg-state"))
    cfg = ArtifactManagerConfig(base_path=str(tmp_path / "s"), catalog_url=catalog_url)
    with ArtifactManager(cfg) as m:
        aid = m.store_artifact(_file(tmp_path, "r.json", b'{"a": 1}' * 50), ArtifactType.EVALUATION_RESULT,
                               model_id="m1", evaluation_id="e1", tags=["zeta", "alpha"], metadata={"k": 1})
        m.record_evaluation_history("e1", "m1", 0.8, 0.9, is_champion=True, champion_rank=1, artifacts=[aid])
        cid = m.record_champion_progression("m1", 0.8, 0.9, previous_champion="baseline", artifacts=[aid])
        for _ in range(2):  # the live catalog, then the one reindex rebuilt
            conn = m.sql_connection()
            try:
                cur = conn.cursor()
                for table, cols in SEED_COLUMNS.items():
                    cur.execute(f"SELECT * FROM {table}")
                    assert [d[0] for d in cur.description] == cols
                    assert len(cur.fetchall()) == 1
                ph = "?" if catalog_url.startswith("sqlite") else "%s"
                cur.execute(f"SELECT artifact_id, file_path, original_size, compression_type, tags, metadata, "
                            f"created_at FROM artifacts WHERE model_id = {ph}", ("m1",))
                row = cur.fetchone()
                assert row[0] == aid and row[2] == 400 and row[3] == "gzip"
                assert json.loads(row[4]) == ["zeta", "alpha"] and json.loads(row[5]) == {"k": 1}
                with gzip.open(row[1]) as f:  # the absolute blob path, readable as the seed's .gz files
                    assert f.read() == b'{"a": 1}' * 50
                assert datetime.datetime.fromisoformat(row[6]) <= datetime.datetime.now()
                cur.execute("SELECT is_champion, champion_rank, artifacts FROM evaluation_history")
                assert cur.fetchone() == (1, 1, json.dumps([aid], separators=(",", ":")))
                cur.execute("SELECT champion_id, previous_champion FROM champion_progression")
                assert cur.fetchone() == (cid, "baseline")
                # the persistent views, for any client of the catalog
                cur.execute("SELECT artifact_id, file_path FROM seed_artifacts")
                assert cur.fetchone() == (aid, m.store.resolve(aid).blob_key)
            finally:
                conn.close()
            m.store.reindex()


def test_sqlite_catalog_file_holds_the_persistent_views(manager: ArtifactManager, tmp_path: Path) -> None:
    manager.store_artifact(_file(tmp_path, "a.log", b"a"), ArtifactType.LOG, model_id="m")
    db = sqlite3.connect(str(manager.config.database_path))
    try:
        for table, cols in SEED_COLUMNS.items():
            assert [r[1] for r in db.execute(f"PRAGMA table_info(seed_{table})")] == cols
        assert db.execute("SELECT model_id, compression_type FROM seed_artifacts").fetchall() == [("m", "gzip")]
        with pytest.raises(sqlite3.OperationalError):  # read-only: a view
            db.execute("DELETE FROM seed_artifacts")
    finally:
        db.close()


def test_tags_come_back_in_the_order_given_also_after_reindex(manager: ArtifactManager, tmp_path: Path) -> None:
    aid = manager.store_artifact(_file(tmp_path, "a.log", b"a"), ArtifactType.LOG, tags=["z", "a", "m", "a"])
    assert manager.get_artifact(aid).tags == ["z", "a", "m"]
    manager.store.reindex()
    assert manager.get_artifact(aid).tags == ["z", "a", "m"]
    assert manager.get_artifacts(tags=["m"])[0].tags == ["z", "a", "m"]


def test_dangling_champion_ids_kept_and_listed(manager: ArtifactManager, tmp_path: Path,
                                               caplog: pytest.LogCaptureFixture) -> None:
    aid = manager.store_artifact(_file(tmp_path, "a.log", b"a"), ArtifactType.LOG)
    with caplog.at_level(logging.WARNING, logger="artifactstore.compat"):
        cid = manager.record_champion_progression("m1", 0.5, 0.5, artifacts=["report_001", aid])
    assert "report_001" in caplog.text and "not in the store" in caplog.text
    assert manager.get_champion_progression()[0].artifacts == ["report_001", aid]
    manager.store.reindex()
    assert manager.dangling_artifacts() == {f"champion:{cid}": ["report_001"]}


def test_subdirs_are_the_folders_of_the_by_type_view(manager: ArtifactManager, tmp_path: Path) -> None:
    assert set(manager.subdirs) == set(ArtifactType)
    assert all(d.is_dir() for d in manager.subdirs.values())  # made on start, as the seed's were
    manager.store_artifact(_file(tmp_path, "v.mp4", b"video bytes"), ArtifactType.VIDEO, model_id="m1")
    report = manager.checkout()
    assert report.files == 1 and report.linked == 0
    view = manager.subdirs[ArtifactType.VIDEO] / "m1" / "v.mp4"
    assert view.read_bytes() == b"video bytes"
    os.chmod(view, 0o644)
    view.write_bytes(b"changed")  # a write to the view never reaches the store
    assert manager.store.verify().ok
