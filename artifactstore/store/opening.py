"""Opening a store: :func:`open_store`, the factory behind :func:`artifactstore.open`.

It picks the backend plugin by URL scheme and the catalog plugin by the catalog
URL's scheme (by default an SQLite file inside a local root, or in the user cache
dir for a remote one), checks ``store.json``, writes the commit markers killed
writers left unwritten, and rebuilds a fresh catalog over existing journals.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..backends.base import Backend
from ..catalog.base import as_catalog
from ..catalog.recovery import is_damaged, quarantine, sqlite_file
from ..errors import (
    CatalogError,
    UnknownSchemeError,
)
from ..plugins import PluginRegistry, default_registry
from .artifact_store import ArtifactStore

__all__ = ["open_store"]

log = logging.getLogger("artifactstore")


def _scheme(url: str) -> str:
    if "://" in url:
        return url.split("://", 1)[0].lower()
    if len(url) > 2 and url[1] == ":" and url[0].isalpha():  # C:\ on Windows
        return "file"
    return "file"


def _sweep_scratch(backend: Backend) -> None:
    """At open: remove the scratch entries (temporary folders, spool files) that killed
    processes left (:mod:`artifactstore.scratch`); a failure to sweep never fails the open."""
    from ..scratch import OPEN_GRACE_SECONDS, sweep

    try:
        n = sweep(backend, OPEN_GRACE_SECONDS)
    except OSError as exc:
        log.info("could not sweep the scratch folder of %s: %s", backend.url, exc)
        return
    if n:
        log.info("removed %d temporary file(s) or folder(s) left by killed processes", n)


def _default_catalog_url(backend: Backend, url: str) -> str:
    local = backend.local_path("catalog.db")
    if local is not None:
        return f"sqlite:///{local}"
    if url.startswith("memory://"):
        # Removed again when the store closes (see ArtifactStore.close).
        d = tempfile.mkdtemp(prefix="artifactstore-memcat-")
        return f"sqlite:///{d}/catalog.db"
    import platformdirs

    from ..backends.options import location_key

    # The URL alone does not name a remote root: s3://bucket/store on two endpoints
    # (or az://c/store in two accounts) are two stores and must not share a catalog.
    where = location_key(backend.storage_options)
    digest = hashlib.sha256((backend.url + (f"\n{where}" if where else "")).encode()).hexdigest()[:16]
    cache = Path(platformdirs.user_cache_dir("artifactstore")) / "catalogs" / digest
    return f"sqlite:///{cache}/catalog.db"


def open_store(
    url: str | os.PathLike[str],
    catalog: str | os.PathLike[str] | None = None,
    *,
    registry: PluginRegistry | None = None,
    plugins: Sequence[object] = (),
    fsync: bool = False,
    default_codec: str = "auto",
    workers: int | None = None,
    catalog_options: Mapping[str, Any] | None = None,
    cache: Any = None,
    repair_catalog: bool = False,
    **storage_options: Any,
) -> ArtifactStore:
    """Open (creating if needed) the store at ``url``: a local path, ``file://``,
    ``memory://``, ``s3://``, ``gs://``, ``az://`` or any scheme a plugin registers.

    ``catalog`` is a database URL (``sqlite:///...``, ``postgresql://...``) or a
    file path; by default an SQLite file inside a local root, or in the user
    cache dir for a remote root. Remaining keyword arguments are storage
    options for the backend (endpoint, credentials, part size...). ``cache``
    controls the local read cache: ``None`` (on for remote stores), ``True``,
    ``False``, a folder, or a :class:`artifactstore.cache.BlobCache`.
    ``repair_catalog=True``: an SQLite catalog file found damaged is moved aside and
    rebuilt from the storage (what ``artifactstore reindex`` does); otherwise a damaged
    catalog raises :class:`~artifactstore.errors.CatalogError` saying to run reindex.
    """
    if repair_catalog:
        try:
            return open_store(url, catalog, registry=registry, plugins=plugins, fsync=fsync,
                              default_codec=default_codec, workers=workers, catalog_options=catalog_options,
                              cache=cache, **storage_options)
        except CatalogError as exc:
            bad = sqlite_file(getattr(exc, "catalog_url", ""))
            if bad is None or not is_damaged(exc):
                raise
            quarantine(bad, exc)
        # The new, empty catalog next to existing journals is rebuilt as it opens.
    from ..plugins import build_registry

    if registry is None:
        registry = build_registry(plugins=plugins) if plugins else default_registry()
    url = os.fspath(url)
    scheme = _scheme(url)
    if "://" in url and scheme != "file":
        # Settings from the config file; explicit arguments win (see artifactstore.config).
        from ..config import settings_for

        conf = settings_for(url)
        if catalog is None and conf.get("catalog"):
            catalog = str(conf["catalog"])
        if catalog_options is None and isinstance(conf.get("catalog_options"), dict):
            catalog_options = conf["catalog_options"]
        storage_options = {**{k: v for k, v in conf.items() if k not in ("catalog", "catalog_options")},
                           **storage_options}
    reg = registry.get("backend", scheme)
    if reg is None:
        from fsspec.registry import known_implementations

        hint = ""
        if scheme in known_implementations:
            hint = (f"fsspec supports {scheme!r}, but no artifactstore backend plugin registers it: "
                    "register FsspecBackend for it through artifactstore_register_backends")
        raise UnknownSchemeError(scheme, "backend", registry.names("backend"), hint)
    backend: Backend = reg.factory(url, fsync=fsync, **storage_options)
    cat_url = ""
    try:
        if catalog is None:
            cat_url = _default_catalog_url(backend, url)
        else:
            cat_url = os.fspath(catalog)
            if "://" not in cat_url:
                cat_url = f"sqlite:///{Path(cat_url).expanduser().resolve()}"
        cat_scheme = cat_url.split("://", 1)[0].split("+", 1)[0].lower()
        creg = registry.get("catalog", cat_scheme)
        if creg is None:
            raise UnknownSchemeError(cat_scheme, "catalog", registry.names("catalog"))
        cat = as_catalog(creg.factory(cat_url, fsync=fsync, **dict(catalog_options or {})), scheme=cat_scheme,
                         plugin=creg.plugin)
    except BaseException as exc:
        backend.close()
        if isinstance(exc, CatalogError) and cat_url:
            exc.catalog_url = cat_url
        raise
    store = ArtifactStore(backend, cat, registry, default_codec=default_codec, workers=workers, cache=cache)
    if catalog is None and url.startswith("memory://"):
        store.cleanup_dirs.append(str(Path(cat_url.split("sqlite:///", 1)[1]).parent))
    try:
        store.init_layout()
        # Commit markers a killed writer left unwritten (its catalog transaction committed).
        store.settle_pending()
        _sweep_scratch(backend)
        # A fresh catalog next to existing journals (another machine, a lost catalog
        # file): rebuild the index before anyone reads it, one worker at a time.
        store.reindex_if_fresh()
    except BaseException as exc:
        store.close()
        if isinstance(exc, CatalogError):
            exc.catalog_url = cat_url
        raise
    return store
