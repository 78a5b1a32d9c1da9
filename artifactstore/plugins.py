"""Build the plugin manager, load entry points, and collect registrations.

Nothing here runs at import time: :func:`build_registry` makes a fresh
manager each call, and :func:`default_registry` caches one per process
(keyed by the environment switches, so tests that change them get a new one).
"""

from __future__ import annotations

import functools
import importlib
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any, cast

import pluggy

from . import hookspecs
from .errors import PluginConflictError, PluginError, UnknownCodecError

if TYPE_CHECKING:
    from .codecs.base import Codec
    from .models import Artifact, ChampionRecord
    from .store import ArtifactStore

__all__ = [
    "PluginRegistry",
    "Registration",
    "build_registry",
    "default_registry",
    "DEFAULT_PLUGINS",
    "KINDS",
]

#: Modules that register the built-in components, through the same hooks as
#: any third-party plugin.
DEFAULT_PLUGINS: tuple[str, ...] = (
    "artifactstore.default_plugins.backends",
    "artifactstore.default_plugins.codecs",
    "artifactstore.default_plugins.catalogs",
    "artifactstore.default_plugins.retention",
)

#: kind -> registration hook name
KINDS: dict[str, str] = {
    "backend": "artifactstore_register_backends",
    "codec": "artifactstore_register_codecs",
    "retention policy": "artifactstore_register_retention_policies",
    "catalog": "artifactstore_register_catalogs",
}


@dataclass(frozen=True)
class Registration:
    """One registered component and where it came from."""

    kind: str
    name: str
    factory: Callable[..., Any]
    plugin: str
    distribution: str
    version: str
    description: str = ""


class PluginRegistry:
    """The loaded plugin manager plus every registered component, by kind and name."""

    def __init__(self, pm: pluggy.PluginManager) -> None:
        self.pm = pm
        self._items: dict[str, dict[str, Registration]] = {k: {} for k in KINDS}
        self._collect()

    # Which distribution provides a plugin: entry-point plugins know theirs,
    # built-ins are artifactstore itself.
    def _dist_of(self, plugin_name: str) -> tuple[str, str]:
        for plugin, dist in self.pm.list_plugin_distinfo():
            if self.pm.get_name(plugin) == plugin_name:
                return dist.metadata["name"], dist.version
        if plugin_name.startswith("artifactstore."):
            from ._version import __version__

            return "artifactstore", __version__
        return "(registered in code)", ""

    def _collect(self) -> None:
        for kind, hook_name in KINDS.items():
            caller = getattr(self.pm.hook, hook_name)
            # Call each implementation on its own so that each registration
            # knows which plugin made it (pluggy's fan-out call hides that).
            # get_hookimpls() is in registration order: built-ins first, then entry
            # points, then explicit plugins, so later ones are the ones that conflict.
            for impl in caller.get_hookimpls():
                dist, version = self._dist_of(impl.plugin_name)

                def register(
                    name: str,
                    factory: Callable[..., Any],
                    *,
                    replace: bool = False,
                    description: str = "",
                    _kind: str = kind,
                    _plugin: str = impl.plugin_name,
                    _dist: str = dist,
                    _version: str = version,
                ) -> None:
                    self._add(Registration(_kind, name, factory, _plugin, _dist, _version, description), replace)

                if _trace_enabled():
                    print(f"artifactstore: hook {hook_name} -> {impl.plugin_name}", file=sys.stderr)
                try:
                    impl.function(register=register)
                except PluginConflictError:
                    raise
                except Exception as exc:
                    raise PluginError(
                        f"plugin {impl.plugin_name!r} failed in {hook_name}: {exc}", plugin=impl.plugin_name
                    ) from exc

    def _add(self, reg: Registration, replace: bool) -> None:
        if not isinstance(reg.name, str) or not reg.name or reg.name != reg.name.lower():
            raise PluginError(f"{reg.kind} name must be a non-empty lower-case string, got {reg.name!r}", reg.plugin)
        if not callable(reg.factory):
            raise PluginError(f"{reg.kind} {reg.name!r} factory is not callable", reg.plugin)
        existing = self._items[reg.kind].get(reg.name)
        if existing is not None and not replace:  # a conflict is reported before anything else
            raise PluginConflictError(reg.kind, reg.name, existing.plugin, reg.plugin)
        if reg.kind == "codec" and isinstance(reg.factory, type):
            _check_codec_name(reg.name, getattr(reg.factory, "name", None), reg.plugin)
        self._items[reg.kind][reg.name] = reg

    def get(self, kind: str, name: str) -> Registration | None:
        return self._items[kind].get(name)

    def codec(self, name: str) -> Codec:
        """A new instance of the codec registered as ``name`` (``UnknownCodecError`` if none).

        Refuses (``PluginError``) a factory whose codec's ``name`` is not the
        registered name: manifests record the codec's ``name``, so its blobs
        could never be read back through the registry.
        """
        reg = self.get("codec", name)
        if reg is None:
            raise UnknownCodecError(name, [*self.names("codec"), "auto"])
        codec = reg.factory()
        _check_codec_name(name, getattr(codec, "name", None), reg.plugin)
        return cast("Codec", codec)

    def names(self, kind: str) -> list[str]:
        return sorted(self._items[kind])

    def all(self) -> list[Registration]:
        return [r for kind in KINDS for r in sorted(self._items[kind].values(), key=lambda r: r.name)]

    def plugins(self) -> list[tuple[str, str, str]]:
        """(plugin name, distribution, version) of every loaded plugin."""
        out = []
        for name, plugin in self.pm.list_name_plugin():
            if plugin is None:  # blocked
                continue
            dist, version = self._dist_of(name)
            out.append((name, dist, version))
        return sorted(out)

    @property
    def hook(self) -> Any:
        """The raw pluggy hook relay; prefer the typed ``emit_*`` methods for events."""
        return self.pm.hook

    def emit_artifact_stored(self, *, store: ArtifactStore, artifact: Artifact) -> None:
        """Call every ``artifactstore_artifact_stored`` implementation (after the commit)."""
        self.pm.hook.artifactstore_artifact_stored(store=store, artifact=artifact)

    def emit_artifact_deleted(self, *, store: ArtifactStore, artifact: Artifact) -> None:
        """Call every ``artifactstore_artifact_deleted`` implementation (after the commit)."""
        self.pm.hook.artifactstore_artifact_deleted(store=store, artifact=artifact)

    def emit_champion_promoted(
        self, *, store: ArtifactStore, champion: ChampionRecord, previous: ChampionRecord | None
    ) -> None:
        """Call every ``artifactstore_champion_promoted`` implementation (after the commit)."""
        self.pm.hook.artifactstore_champion_promoted(store=store, champion=champion, previous=previous)


def _check_codec_name(registered: str, declared: object, plugin: str) -> None:
    if declared != registered:
        raise PluginError(
            f"codec registered as {registered!r} by plugin {plugin!r} declares name {declared!r}: "
            f"a codec's `name` must be the name it is registered under (set name = {registered!r}, "
            f"or register it as {declared!r})",
            plugin,
        )


def _trace_enabled() -> bool:
    return os.environ.get("ARTIFACTSTORE_TRACE_PLUGINS", "") not in ("", "0")


def _blocked_names() -> list[str]:
    raw = os.environ.get("ARTIFACTSTORE_DISABLE_PLUGINS", "")
    return [n.strip() for n in raw.split(",") if n.strip()]


def build_registry(
    *,
    autoload: bool | None = None,
    plugins: Iterable[ModuleType | object] = (),
    blocked: Sequence[str] | None = None,
    defaults: Sequence[str] = DEFAULT_PLUGINS,
) -> PluginRegistry:
    """Build a fresh plugin manager and collect registrations.

    ``autoload=None`` loads entry points unless
    ``ARTIFACTSTORE_DISABLE_PLUGIN_AUTOLOAD`` is set; ``blocked=None`` reads
    ``ARTIFACTSTORE_DISABLE_PLUGINS``. ``plugins`` are extra plugin objects
    registered after the defaults (tests, applications).
    """
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    if autoload is None:
        autoload = os.environ.get("ARTIFACTSTORE_DISABLE_PLUGIN_AUTOLOAD", "") in ("", "0")
    for name in _blocked_names() if blocked is None else blocked:
        pm.set_blocked(name)
    for modname in defaults:
        if pm.is_blocked(modname):
            continue
        pm.register(importlib.import_module(modname), name=modname)
    if autoload:
        try:
            pm.load_setuptools_entrypoints(hookspecs.PROJECT_NAME)
        except Exception as exc:  # an entry point that fails to import
            raise PluginError(f"failed to load an artifactstore plugin entry point: {exc}") from exc
    for plugin in plugins:
        name = getattr(plugin, "__name__", None) or type(plugin).__qualname__
        if pm.has_plugin(name):
            name = f"{name}-{id(plugin):x}"
        pm.register(plugin, name=name)
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise PluginError(str(exc), plugin=pm.get_name(exc.plugin)) from exc
    if _trace_enabled():
        pm.trace.root.setwriter(lambda msg: print(msg, end="", file=sys.stderr))
        pm.enable_tracing()
    return PluginRegistry(pm)


@functools.lru_cache(maxsize=4)
def _cached_registry(autoload_env: str, blocked_env: str, trace_env: str) -> PluginRegistry:
    return build_registry()


def default_registry() -> PluginRegistry:
    """The process-wide registry, built on first use (never at import)."""
    return _cached_registry(
        os.environ.get("ARTIFACTSTORE_DISABLE_PLUGIN_AUTOLOAD", ""),
        os.environ.get("ARTIFACTSTORE_DISABLE_PLUGINS", ""),
        os.environ.get("ARTIFACTSTORE_TRACE_PLUGINS", ""),
    )
