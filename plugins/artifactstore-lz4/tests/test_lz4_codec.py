"""The lz4 plugin passes artifactstore's codec conformance suite and loads like any plugin."""

from __future__ import annotations

import io
import types
from importlib import metadata
from pathlib import Path

import artifactstore_lz4
import lz4.frame
import pytest
from artifactstore_lz4 import Lz4Codec

import artifactstore
from artifactstore.codecs.base import Codec
from artifactstore.errors import PluginConflictError, PluginError
from artifactstore.hookspecs import Registrar, hookimpl
from artifactstore.plugins import build_registry
from artifactstore.testing.codecs import CodecTests, compressible_bytes, encode


class TestLz4Codec(CodecTests):
    @pytest.fixture
    def codec(self) -> Codec:
        return Lz4Codec()


class TestLz4CodecHighLevel(CodecTests):
    @pytest.fixture
    def codec(self) -> Codec:
        return Lz4Codec(level=9)


@pytest.fixture
def plugin_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """Entry points on, nothing blocked, whatever the caller's environment says."""
    monkeypatch.delenv("ARTIFACTSTORE_DISABLE_PLUGINS", raising=False)
    monkeypatch.delenv("ARTIFACTSTORE_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    return monkeypatch


def test_blobs_are_standard_lz4_frames() -> None:
    data = compressible_bytes(500_000)
    encoded = encode(Lz4Codec(), data)
    assert lz4.frame.decompress(encoded) == data
    info = lz4.frame.get_frame_info(encoded)
    assert info["content_checksum"]
    assert info["content_size"] == len(data)


def test_found_through_its_entry_point(plugin_env: pytest.MonkeyPatch) -> None:
    assert "lz4" in {ep.name for ep in metadata.entry_points(group="artifactstore")}
    registry = build_registry()
    reg = registry.get("codec", "lz4")
    assert reg is not None, f"lz4 not registered; codecs: {registry.names('codec')}"
    assert reg.plugin == "lz4"
    assert reg.distribution == "artifactstore-lz4"
    assert reg.version == metadata.version("artifactstore-lz4")
    assert isinstance(reg.factory(), Lz4Codec)
    assert ("lz4", "artifactstore-lz4", reg.version) in registry.plugins()
    assert "zstd" in registry.names("codec"), "the built-ins are still there"


def test_disable_plugins_hides_it(plugin_env: pytest.MonkeyPatch) -> None:
    plugin_env.setenv("ARTIFACTSTORE_DISABLE_PLUGINS", "lz4")
    registry = build_registry()
    assert "lz4" not in registry.names("codec")
    assert "zstd" in registry.names("codec")


def test_autoload_off_hides_it_until_registered_in_code(plugin_env: pytest.MonkeyPatch) -> None:
    plugin_env.setenv("ARTIFACTSTORE_DISABLE_PLUGIN_AUTOLOAD", "1")
    assert "lz4" not in build_registry().names("codec")
    reg = build_registry(plugins=[artifactstore_lz4]).get("codec", "lz4")
    assert reg is not None and reg.factory().name == "lz4"


def test_misspelled_hook_name_is_an_error() -> None:
    bad = types.ModuleType("misspelled_codec_plugin")

    @hookimpl
    def artifactstore_register_codec(register: Registrar) -> None:  # missing the final "s"
        register("oops", Lz4Codec)

    bad.artifactstore_register_codec = artifactstore_register_codec  # type: ignore[attr-defined]
    with pytest.raises(PluginError, match="artifactstore_register_codec"):
        build_registry(plugins=[bad], autoload=False)


class _Faster(Lz4Codec):
    pass


class _Rival:
    @hookimpl
    def artifactstore_register_codecs(self, register: Registrar) -> None:
        register("lz4", _Faster)


class _Replacer:
    @hookimpl
    def artifactstore_register_codecs(self, register: Registrar) -> None:
        register("lz4", _Faster, replace=True)


def test_a_second_lz4_conflicts_naming_both_plugins(plugin_env: pytest.MonkeyPatch) -> None:
    with pytest.raises(PluginConflictError) as excinfo:
        build_registry(plugins=[_Rival()])
    err = excinfo.value
    assert err.kind == "codec" and err.name == "lz4"
    assert err.first == "lz4", "the entry-point plugin registered first"
    assert err.second != "lz4" and err.second in str(err)


def test_a_later_plugin_replaces_lz4_with_replace_true(plugin_env: pytest.MonkeyPatch) -> None:
    reg = build_registry(plugins=[_Replacer()]).get("codec", "lz4")
    assert reg is not None and reg.factory is _Faster


def test_a_store_puts_and_reads_with_it(plugin_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    data = compressible_bytes(2_000_000)
    with artifactstore.open(tmp_path / "store", registry=build_registry()) as store:
        art = store.put(io.BytesIO(data), name="episodes.csv", artifact_type="episode_data", codec="lz4")
        assert art.codec == "lz4"
        assert art.blob_key.endswith(".lz4")
        assert art.stored_size < len(data)
        assert store.read_bytes(art.id) == data
