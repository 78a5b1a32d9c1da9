"""The plugin registry: built-ins through hooks, conflicts, replace, switches, no import-time work."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from typing import Any

import pytest

from artifactstore import hookimpl
from artifactstore.codecs import GzipCodec
from artifactstore.errors import PluginConflictError, PluginError
from artifactstore.plugins import DEFAULT_PLUGINS, build_registry


def test_builtins_register_through_hooks() -> None:
    reg = build_registry(autoload=False)
    for kind, name, module in [
        ("codec", "zstd", "artifactstore.default_plugins.codecs"),
        ("backend", "file", "artifactstore.default_plugins.backends"),
        ("catalog", "sqlite", "artifactstore.default_plugins.catalogs"),
        ("retention policy", "keep_top_k", "artifactstore.default_plugins.retention"),
    ]:
        r = reg.get(kind, name)
        assert r is not None and r.plugin == module and r.distribution == "artifactstore"
    assert {p for p, _, _ in reg.plugins()} >= set(DEFAULT_PLUGINS)


class _Dup:
    @hookimpl
    def artifactstore_register_codecs(self, register: Any) -> None:
        register("zstd", object)


class _OtherGzip(GzipCodec):
    """A replacement gzip codec: registered under the name it declares."""


class _Replace:
    @hookimpl
    def artifactstore_register_codecs(self, register: Any) -> None:
        register("gzip", _OtherGzip, replace=True, description="replaced")


def test_duplicate_name_raises_naming_both() -> None:
    with pytest.raises(PluginConflictError) as ei:
        build_registry(autoload=False, plugins=[_Dup()])
    msg = str(ei.value)
    assert "artifactstore.default_plugins.codecs" in msg and "zstd" in msg
    assert ei.value.first == "artifactstore.default_plugins.codecs"
    assert ei.value.second != ei.value.first and ei.value.second in msg


def test_replace_overrides() -> None:
    reg = build_registry(autoload=False, plugins=[_Replace()])
    r = reg.get("codec", "gzip")
    assert r is not None and r.factory is _OtherGzip and r.description == "replaced"


class _Typo:
    @hookimpl
    def artifactstore_register_codec(self, register: Any) -> None:  # missing "s"
        pass


def test_misspelled_hook_is_an_error() -> None:
    with pytest.raises(PluginError, match="artifactstore_register_codec"):
        build_registry(autoload=False, plugins=[_Typo()])


class _Boom:
    @hookimpl
    def artifactstore_register_backends(self, register: Any) -> None:
        raise RuntimeError("kaput")


def test_failing_plugin_is_named() -> None:
    with pytest.raises(PluginError, match="kaput"):
        build_registry(autoload=False, plugins=[_Boom()])


def test_bad_registration_names() -> None:
    class Upper:
        @hookimpl
        def artifactstore_register_codecs(self, register: Any) -> None:
            register("LZ", object)

    with pytest.raises(PluginError, match="lower-case"):
        build_registry(autoload=False, plugins=[Upper()])


def test_blocking_a_builtin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARTIFACTSTORE_DISABLE_PLUGINS", "artifactstore.default_plugins.retention")
    reg = build_registry(autoload=False)
    assert reg.names("retention policy") == []
    assert "zstd" in reg.names("codec")


def test_trace_switch_prints_hook_calls(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("ARTIFACTSTORE_TRACE_PLUGINS", "1")
    build_registry(autoload=False)
    err = capsys.readouterr().err
    assert "artifactstore_register_codecs -> artifactstore.default_plugins.codecs" in err


def test_nothing_built_at_import() -> None:
    code = textwrap.dedent("""
        import artifactstore, artifactstore.plugins as p, sys
        assert p._cached_registry.cache_info().currsize == 0
        assert "pluggy" not in [m for m in sys.modules if m.startswith("artifactstore.default_plugins")]
        assert not any(m.startswith("artifactstore.default_plugins.") for m in sys.modules), sorted(sys.modules)
        print("ok")
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_autoload_switch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARTIFACTSTORE_DISABLE_PLUGIN_AUTOLOAD", "1")
    reg = build_registry()
    assert all(not name.startswith("lz4") for name, _, _ in reg.plugins())
