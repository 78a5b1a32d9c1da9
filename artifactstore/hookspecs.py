"""The plugin contract of artifactstore: every hook a plugin can implement.

Plugin authors read this file first. A plugin is a module (or object) with
functions marked ``@artifactstore.hookimpl`` whose names match the hooks
below, exposed through the ``artifactstore`` entry-point group::

    [project.entry-points.artifactstore]
    my_codec = "my_package.plugin"

Built-in backends, codecs, retention policies and catalogs register through
these same hooks (see ``artifactstore.default_plugins``); nothing takes a side
door. A misspelled hook name is an error when the plugin is loaded
(``check_pending``), not silence.

Registration hooks receive a ``register`` callable (a :class:`Registrar`) and
return nothing. Registering a name that another plugin already registered
raises :class:`~artifactstore.errors.PluginConflictError` naming both plugins,
unless the later call passes ``replace=True``.

Event hooks are called after the fact, with the store that acted; their return
value is ignored and an exception from one propagates to the caller, so keep
them quick and robust.

When each hook fires::

    artifactstore.open(url)
        -> artifactstore_register_backends / _codecs / _retention_policies / _catalogs
           (once per plugin registry, i.e. once per process for the default one)
    store.put(...) / put_many(...)   -> artifactstore_artifact_stored   (after the catalog commit)
    store.delete(...) / gc apply     -> artifactstore_artifact_deleted  (after the catalog commit)
    store.promote_champion(...)      -> artifactstore_champion_promoted (after the catalog commit)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

import pluggy

if TYPE_CHECKING:
    from .models import Artifact, ChampionRecord
    from .store import ArtifactStore

__all__ = ["hookspec", "hookimpl", "PROJECT_NAME", "Registrar"]

#: pluggy project name, also the entry-point group.
PROJECT_NAME = "artifactstore"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


class Registrar(Protocol):
    """The ``register`` callable passed to every registration hook.

    ``register(name, factory, *, replace=False, description="")``

    - ``name``: the URL scheme (backends, catalogs) or the name (codecs,
      policies) under which ``factory`` becomes available. Lower-case.
    - ``factory``: what to call to build the component; see each hook.
    - ``replace``: override an earlier registration of the same name instead of
      raising :class:`~artifactstore.errors.PluginConflictError`.
    - ``description``: one line shown by ``artifactstore plugins``.
    """

    def __call__(
        self,
        name: str,
        factory: Callable[..., Any],
        *,
        replace: bool = False,
        description: str = "",
    ) -> None: ...


@hookspec
def artifactstore_register_backends(register: Registrar) -> None:
    """Register storage backends by URL scheme.

    ``factory(url: str, **options) -> artifactstore.Backend`` receives the full
    URL (``s3://bucket/prefix``) and the storage options given to
    :func:`artifactstore.open` (endpoint, credentials, part size...). It may
    raise :class:`~artifactstore.errors.MissingDependencyError` naming the
    extra to install when its client library is absent.

    Example::

        @hookimpl
        def artifactstore_register_backends(register):
            register("webdav", WebDavBackend, description="WebDAV servers")

    Since 0.1.
    """


@hookspec
def artifactstore_register_codecs(register: Registrar) -> None:
    """Register codecs by name.

    ``factory() -> artifactstore.Codec`` takes no argument (a Codec subclass
    is a valid factory). The codec's ``name`` attribute must equal the
    registered name: it is written into manifests, and reading a blob later
    looks the codec up by that name.

    Since 0.1.
    """


@hookspec
def artifactstore_register_retention_policies(register: Registrar) -> None:
    """Register retention policies by name.

    ``factory(**params) -> artifactstore.RetentionPolicy``; ``params`` come
    from the user (``max_age_days=30``, ``k=10``...). A policy only judges
    which artifacts to keep, with a reason; garbage collection acts.

    Since 0.1.
    """


@hookspec
def artifactstore_register_catalogs(register: Registrar) -> None:
    """Register catalog implementations by URL scheme (``sqlite``, ``postgresql``...).

    ``factory(url: str, **options)`` returns a catalog: an object satisfying the
    :class:`~artifactstore.catalog.base.Catalog` protocol of
    :mod:`artifactstore.catalog.base`, the contract file that lists every method
    the store, gc, sync and the other operations call, with what each must do,
    what it raises and its transaction semantics. ``url`` is the catalog URL the
    user gave (its scheme chose this factory); ``options`` are the user's
    ``catalog_options`` plus ``fsync`` (bool: whether commits must reach the disk).
    The store owns the object and calls its ``close()`` once. An object lacking a
    member of the protocol is refused when the store opens (``PluginError`` naming
    what it lacks, :func:`artifactstore.catalog.base.as_catalog`).

    Prove an implementation with the conformance suite
    :class:`artifactstore.testing.CatalogTests`, which the built-in SQLite and
    PostgreSQL catalogs (:class:`artifactstore.catalog.sql.SQLCatalog`) pass. For
    another SQL engine, or the same one with other options, return an
    ``SQLCatalog`` built with them or a subclass (see docs/plugins.md).

    Since 0.1.
    """


@hookspec
def artifactstore_artifact_stored(store: ArtifactStore, artifact: Artifact) -> None:
    """Called once per artifact after a put (or each artifact of a put_many) is committed.

    ``store`` is the :class:`artifactstore.ArtifactStore`; ``artifact`` the new record.

    Since 0.1.
    """


@hookspec
def artifactstore_artifact_deleted(store: ArtifactStore, artifact: Artifact) -> None:
    """Called once per artifact after its deletion is committed (by ``delete`` or gc).

    Since 0.1.
    """


@hookspec
def artifactstore_champion_promoted(
    store: ArtifactStore, champion: ChampionRecord, previous: ChampionRecord | None
) -> None:
    """Called after a champion promotion is committed.

    ``champion`` is the new :class:`artifactstore.ChampionRecord`; ``previous`` the
    champion it replaced, or ``None`` for the first one.

    Since 0.1.
    """
