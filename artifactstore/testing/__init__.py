"""Kits for plugin authors: conformance suites and server fixtures, loaded on first use.

``from artifactstore.testing import CodecTests, BackendTests, CatalogTests`` is all a plugin's
test module needs; ``FaultyBackend`` wraps any backend to inject faults
(:mod:`artifactstore.testing.faults`); the server fixtures (``moto_server``, ``s3_url``, ...) come
from :mod:`artifactstore.testing.fixtures`. Nothing heavy (pytest, server
helpers) loads until a name is used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .backend import ODD_KEYS, BackendTests
    from .catalog import CatalogTests
    from .codecs import CodecTests, WriteOnlySink
    from .faults import Fault, FaultPlan, FaultyBackend
    from .fixtures import RemoteRoot, azure_url, azurite_server, gcs_server, gcs_url, moto_server, s3_url

#: Public name -> submodule it is re-exported from.
_LAZY: dict[str, str] = {
    "BackendTests": ".backend",
    "ODD_KEYS": ".backend",
    "CatalogTests": ".catalog",
    "CodecTests": ".codecs",
    "WriteOnlySink": ".codecs",
    "Fault": ".faults",
    "FaultPlan": ".faults",
    "FaultyBackend": ".faults",
    "RemoteRoot": ".fixtures",
    "azure_url": ".fixtures",
    "azurite_server": ".fixtures",
    "gcs_server": ".fixtures",
    "gcs_url": ".fixtures",
    "moto_server": ".fixtures",
    "s3_url": ".fixtures",
}

__all__ = [
    "BackendTests",
    "CatalogTests",
    "CodecTests",
    "Fault",
    "FaultPlan",
    "FaultyBackend",
    "ODD_KEYS",
    "RemoteRoot",
    "WriteOnlySink",
    "azure_url",
    "azurite_server",
    "gcs_server",
    "gcs_url",
    "moto_server",
    "s3_url",
]


def __getattr__(name: str) -> Any:
    """Load a re-exported name on first use (PEP 562)."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
