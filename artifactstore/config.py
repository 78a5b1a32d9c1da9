"""Per-store settings from a TOML config file.

The file is ``$ARTIFACTSTORE_CONFIG`` if set, else ``<user config dir>/artifactstore/config.toml``
(``~/.config/artifactstore/config.toml`` on Linux). Each ``[stores."<url prefix>"]`` table holds
storage options for the stores whose URL starts with that prefix; the longest matching prefix
wins. ``catalog`` and ``catalog_options`` in a table set the catalog, other keys are storage
options (endpoint, credentials, part size...)::

    [stores."s3://eval-artifacts"]
    endpoint_url = "https://minio.internal:9000"
    part_size = 16777216
    catalog = "postgresql://artifacts@db.internal/artifacts"

    [stores."s3://eval-artifacts"].catalog_options
    pool_size = 4

Precedence: arguments to :func:`artifactstore.open` > this file > each cloud's environment variables.
Keep secrets out of the file where you can (the cloud SDKs' own credential chains still apply).
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from .errors import InvalidInputError

__all__ = ["config_path", "settings_for"]


def config_path() -> Path:
    env = os.environ.get("ARTIFACTSTORE_CONFIG")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_config_dir("artifactstore")) / "config.toml"


def settings_for(url: str, path: Path | None = None) -> dict[str, Any]:
    """The settings of the longest ``[stores."<prefix>"]`` table matching ``url`` ({} if none)."""
    path = path or config_path()
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        if os.environ.get("ARTIFACTSTORE_CONFIG"):
            raise InvalidInputError(f"ARTIFACTSTORE_CONFIG names a missing file: {path}") from None
        return {}
    try:
        doc = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"invalid config file {path}: {exc}") from None
    stores = doc.get("stores", {})
    if not isinstance(stores, dict):
        raise InvalidInputError(f"invalid config file {path}: 'stores' must be a table of tables")
    best: tuple[int, dict[str, Any]] = (-1, {})
    for prefix, table in stores.items():
        if not isinstance(table, dict):
            raise InvalidInputError(f"invalid config file {path}: [stores.{prefix!r}] must be a table")
        if _matches(url, prefix) and len(prefix) > best[0]:
            best = (len(prefix), dict(table))
    return best[1]


def _matches(url: str, prefix: str) -> bool:
    u, p = url.rstrip("/"), prefix.rstrip("/")
    return u == p or u.startswith(p + "/")
