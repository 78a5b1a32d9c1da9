"""Events reach plugins through the registry's typed ``emit_*`` methods (issue 8, item 7)."""

from __future__ import annotations

from pathlib import Path

from artifactstore import Artifact, ArtifactStore, hookimpl, open_store
from artifactstore.plugins import build_registry


class _Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []

    @hookimpl
    def artifactstore_artifact_stored(self, store: ArtifactStore, artifact: Artifact) -> None:
        assert isinstance(store, ArtifactStore)
        self.events.append(("stored", artifact.id))

    @hookimpl
    def artifactstore_artifact_deleted(self, store: ArtifactStore, artifact: Artifact) -> None:
        self.events.append(("deleted", artifact.id))


def test_store_put_and_delete_emit_typed_events(tmp_path: Path) -> None:
    rec = _Recorder()
    src = tmp_path / "r.json"
    src.write_text('{"reward": 1}')
    with open_store(tmp_path / "store", plugins=[rec]) as store:
        art = store.put(src, artifact_type="report", model_id="m1")
        store.delete(art.id)
    assert rec.events == [("stored", art.id), ("deleted", art.id)]


def test_emit_methods_call_the_hook_implementations(tmp_path: Path) -> None:
    rec = _Recorder()
    registry = build_registry(autoload=False, plugins=[rec])
    src = tmp_path / "r.json"
    src.write_text("{}")
    with open_store(tmp_path / "store", registry=registry) as store:
        art = store.put(src, artifact_type="report", model_id="m1")
        rec.events.clear()
        registry.emit_artifact_stored(store=store, artifact=art)
    assert rec.events == [("stored", art.id)]
