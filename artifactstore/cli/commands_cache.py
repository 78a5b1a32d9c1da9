"""``artifactstore cache info|clear``: inspect and empty the local read cache of remote stores.

The cache is per user, not per store: these commands never open a store. Its
folder is ``--cache-dir``, else ``ARTIFACTSTORE_CACHE_DIR``, else the user
cache folder's ``artifactstore/blobs``; its bound is ``ARTIFACTSTORE_CACHE_MAX_BYTES``
(default 10 GiB).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from .common import emit, json_option
from .format import human_size, key_values, percent

if TYPE_CHECKING:
    from ..cache import BlobCache

__all__ = ["cache_group", "cache_info_cmd", "cache_clear_cmd", "register"]

F = TypeVar("F", bound=Callable[..., Any])


def _cache_dir_option(f: F) -> F:
    return click.option(
        "--cache-dir", "cache_dir", type=click.Path(file_okay=False, path_type=Path), default=None, metavar="DIR",
        help="The cache folder (default: $ARTIFACTSTORE_CACHE_DIR, else the user cache folder's artifactstore/blobs).",
    )(f)


def _open_cache(cache_dir: Path | None) -> BlobCache:
    from ..cache import BlobCache, default_cache_dir, default_max_bytes

    return BlobCache(cache_dir if cache_dir is not None else default_cache_dir(), default_max_bytes())


@click.group("cache")
def cache_group() -> None:
    """Inspect and clear the local read cache of remote stores.

    \b
    Blobs read from a remote store (s3://, gs://, az://) are kept in a local,
    size-bounded cache, so reading them again does not touch the network.
    Environment: ARTIFACTSTORE_CACHE_DIR (folder), ARTIFACTSTORE_CACHE_MAX_BYTES
    (bound: 500M, 2G, ...; 0 turns the cache off).
    """


@cache_group.command("info")
@_cache_dir_option
@json_option
@click.pass_context
def cache_info_cmd(ctx: click.Context, cache_dir: Path | None, as_json: bool) -> None:
    """Where the cache is, how many blobs and bytes it holds, and its bound."""
    info = _open_cache(cache_dir).info()

    def text() -> str:
        return key_values([
            ("path", info["path"]),
            ("entries", info["entries"]),
            ("size", f"{human_size(info['bytes'])} ({info['bytes']} bytes)"),
            ("limit", f"{human_size(info['max_bytes'])} ({info['max_bytes']} bytes), "
                      f"{percent(info['bytes'], info['max_bytes'])} used"),
            ("fills in flight", info["temp_files"]),
        ])

    emit(ctx, as_json, data=info, text=text)


@cache_group.command("clear")
@_cache_dir_option
@json_option
@click.pass_context
def cache_clear_cmd(ctx: click.Context, cache_dir: Path | None, as_json: bool) -> None:
    """Remove every cached blob (they are downloaded again when read)."""
    cache = _open_cache(cache_dir)
    entries = cache.info()["entries"]
    freed = cache.clear()
    emit(ctx, as_json, data={"path": str(cache.root), "entries_removed": entries, "freed_bytes": freed},
         text=f"cleared {cache.root}: {entries} blobs, {human_size(freed)} freed")


def register(group: click.Group) -> None:
    """Add the ``cache`` group to ``artifactstore``."""
    group.add_command(cache_group)
