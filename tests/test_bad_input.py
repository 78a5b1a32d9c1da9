"""Bad input gets a clear, typed error and changes nothing stored."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path
from typing import Any, BinaryIO, cast

import pytest

import artifactstore
from artifactstore import ArtifactStore, errors
from artifactstore.hookspecs import Registrar
from helpers import snapshot, sql_catalog

BAD_NAMES = [
    "../escape.txt", "a/../../b", "/etc/passwd", "a\\b.txt", "..\\..\\win.ini", "nul\x00byte", "ctl\x07char",
    "line\nbreak", "%2e%2e%2fescape", "%2e%2e/x", "a/%2e%2e/%2e%2e/b", "%252e%252e%252fescape", "..%2fx",
    "%2fetc%2fpasswd", "a//b", "./a", "a/.", "", "C:\\x", "C:/x", "name@v2", "name:alias", "%5c..%5cx",
    "%00", "~/x",
]


@pytest.fixture
def populated(store: ArtifactStore) -> ArtifactStore:
    store.put(b"existing", artifact_type="report", name="existing.json", tags=["t"], metadata={"a": 1})
    store.set_alias("existing.json", "prod")
    return store


@pytest.mark.parametrize("name", BAD_NAMES)
def test_bad_names_rejected_nothing_changes(populated: ArtifactStore, name: str) -> None:
    before = snapshot(populated)
    with pytest.raises(errors.InvalidNameError) as ei:
        populated.put(b"payload", artifact_type="report", name=name)
    assert isinstance(ei.value, ValueError)
    assert "invalid name" in str(ei.value)
    assert snapshot(populated) == before


def _not_json() -> Any:
    return object()


@pytest.mark.parametrize(
    ("kwargs", "exc"),
    [
        ({"metadata": {"x": object()}}, errors.InvalidMetadataError),
        ({"metadata": {"x": float("nan")}}, errors.InvalidMetadataError),
        ({"metadata": {1: "int key"}}, errors.InvalidMetadataError),
        ({"metadata": ["not", "a", "mapping"]}, errors.InvalidMetadataError),
        ({"metadata": {"when": dt.datetime.now()}}, errors.InvalidMetadataError),
        ({"codec": "rar"}, errors.UnknownCodecError),
        ({"tags": ["ok", ""]}, errors.InvalidInputError),
        ({"tags": [1]}, errors.InvalidInputError),
        ({"model_id": "bad\nid"}, errors.InvalidInputError),
        ({"model_id": 3.5}, errors.InvalidInputError),
        ({"artifact_type": ""}, errors.InvalidInputError),
    ],
)
def test_bad_arguments_rejected(populated: ArtifactStore, kwargs: dict[str, Any], exc: type[Exception]) -> None:
    before = snapshot(populated)
    args = {"artifact_type": "report", "name": "new.json", **kwargs}
    with pytest.raises(exc) as ei:
        populated.put(b"payload", **args)
    assert isinstance(ei.value, errors.ArtifactStoreError)
    assert isinstance(ei.value, ValueError)
    assert snapshot(populated) == before


def test_missing_source_file(populated: ArtifactStore, tmp_path: Path) -> None:
    before = snapshot(populated)
    with pytest.raises(errors.SourceNotFoundError) as ei:
        populated.put(tmp_path / "nope.csv", artifact_type="report")
    assert isinstance(ei.value, FileNotFoundError)
    assert "nope.csv" in str(ei.value)
    with pytest.raises(errors.SourceNotFoundError):
        populated.put(tmp_path, artifact_type="report")  # a folder is not a file
    assert snapshot(populated) == before


def test_bad_source_type(populated: ArtifactStore) -> None:
    with pytest.raises(errors.InvalidInputError):
        populated.put(12345, artifact_type="report")  # type: ignore[arg-type]


@pytest.mark.parametrize("ref", [
    "0190b3d4-0000-7000-8000-000000000000", "no-such.json", "existing.json@v7", "existing.json:nope",
])
def test_unknown_ids_and_refs(populated: ArtifactStore, ref: str, tmp_path: Path) -> None:
    before = snapshot(populated)
    for call in (lambda: populated.read_bytes(ref), lambda: populated.get(ref, tmp_path / "x"),
                 lambda: populated.open(ref), lambda: populated.delete(ref), lambda: populated.set_alias(ref, "x")):
        with pytest.raises(errors.ArtifactNotFoundError) as ei:
            call()
        assert isinstance(ei.value, KeyError) and isinstance(ei.value, FileNotFoundError)
        assert isinstance(ei.value, ValueError)
        assert ref in str(ei.value)
    assert snapshot(populated) == before
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("ref", ["../x@v1", "a\\b", "x@vv", "x:../y", "", "x:-bad"])
def test_malformed_refs(populated: ArtifactStore, ref: str) -> None:
    with pytest.raises(errors.InvalidNameError):
        populated.resolve(ref)


def test_unknown_scheme_and_catalog(tmp_path: Path) -> None:
    with pytest.raises(errors.UnknownSchemeError) as ei:
        artifactstore.open("ftpx://host/path")
    assert "ftpx" in str(ei.value) and isinstance(ei.value, ValueError)
    with pytest.raises(errors.UnknownSchemeError) as ei2:
        artifactstore.open(tmp_path / "s", catalog="mysql://u@h/db")
    assert ei2.value.kind == "catalog"


def test_known_fsspec_scheme_without_plugin_names_it(tmp_path: Path) -> None:
    with pytest.raises(errors.UnknownSchemeError) as ei:
        artifactstore.open("hdfs://namenode/path")
    assert "fsspec supports 'hdfs'" in str(ei.value)


def test_bad_find_arguments(populated: ArtifactStore) -> None:
    with pytest.raises(errors.InvalidInputError):
        populated.find(order_by="id; DROP TABLE artifacts")
    with pytest.raises(errors.InvalidInputError):
        populated.find(tags=["t"], tags_mode="some")
    with pytest.raises(errors.InvalidInputError):
        populated.count(colour="red")
    assert populated.count() == 1


def test_bad_alias(populated: ArtifactStore) -> None:
    for alias in ["", "../x", "has space", "v3", "a" * 200]:
        with pytest.raises(errors.InvalidNameError):
            populated.set_alias("existing.json", alias)


def test_failing_source_stream_leaves_nothing(populated: ArtifactStore) -> None:
    class Exploding(io.RawIOBase):
        def __init__(self) -> None:
            self.n = 0

        def readable(self) -> bool:
            return True

        def readinto(self, b: Any) -> int:
            self.n += 1
            if self.n > 3:
                raise OSError("disk went away")
            b[:1000] = b"x" * 1000
            return 1000

    before = snapshot(populated)
    with pytest.raises(OSError, match="disk went away"):
        # put() reads any binary file object (a raw stream too); its Source type spells that BinaryIO
        populated.put(cast(BinaryIO, Exploding()), artifact_type="log", name="partial.bin", codec="none")
    assert snapshot(populated) == before
    assert not any((populated.backend.local_path("tmp") or Path("/nonexistent")).glob("*"))


def test_backend_failing_mid_write_leaves_nothing(populated: ArtifactStore, monkeypatch: pytest.MonkeyPatch) -> None:
    # Fault injection: a real disk cannot be told to fail on the 3rd write, so the
    # staged writer is wrapped to raise there (ENOSPC), as a full disk would.
    from artifactstore.backends.local import LocalWriter

    real = LocalWriter.write
    calls = {"n": 0}

    def failing(self: Any, data: bytes | memoryview) -> int:
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError(28, "No space left on device")
        return real(self, data)

    monkeypatch.setattr(LocalWriter, "write", failing)
    before = snapshot(populated)
    big = b"0123456789abcdef" * (1 << 20)  # 16 MiB: several chunks
    with pytest.raises(errors.BackendError) as ei:
        populated.put(big, artifact_type="log", name="big.bin", codec="none")
    assert "No space left" in str(ei.value)
    monkeypatch.undo()
    assert snapshot(populated) == before
    assert not any((populated.backend.local_path("tmp") or Path("/nonexistent")).glob("*"))


def test_codec_failure_falls_back_to_raw(tmp_path: Path) -> None:
    from artifactstore import Codec, Encoder, hookimpl
    from artifactstore.plugins import build_registry

    class BrokenEncoder(Encoder):
        def __init__(self, dest: Any) -> None:
            self.n = 0

        def write(self, data: Any) -> None:
            self.n += 1
            if self.n > 1:
                raise RuntimeError("codec bug")

        def finish(self) -> None:
            pass

    class Broken(Codec):
        name = "broken"
        suffix = ".brk"

        def encoder(self, dest: Any, *, size: Any, member_name: str) -> Encoder:
            return BrokenEncoder(dest)

        def decoder(self, src: Any) -> Any:
            raise AssertionError("never stored with this codec")

    class Plugin:
        @hookimpl
        def artifactstore_register_codecs(self, register: Registrar) -> None:
            register("broken", Broken)

    reg = build_registry(autoload=False, plugins=[Plugin()])
    data = b"z" * (10 << 20)
    with artifactstore.open(tmp_path / "s", registry=reg) as s:
        for source in (data, io.BytesIO(data)):
            art = s.put(source, artifact_type="log", name="f.bin", codec="broken")
            assert art.codec == "none" and s.read_bytes(art.id) == data
        row = sql_catalog(s).read(lambda c: c.exec_driver_sql("select codec_error from artifacts").all())
        assert all("codec bug" in r[0] for r in row)
        assert not list((tmp_path / "s" / "tmp").glob("*"))
