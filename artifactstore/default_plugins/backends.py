"""Built-in backends: local disk and memory, plus S3, GCS and Azure through their extras."""

from __future__ import annotations

from typing import Any

from ..backends.base import Backend
from ..hookspecs import Registrar, hookimpl


def _local_backend(url: str, **options: Any) -> Backend:
    # Imported lazily, as every backend: a local store never loads fsspec.
    from ..backends.local import LocalBackend

    return LocalBackend(url, **options)


def _memory_backend(url: str, **options: Any) -> Backend:
    from ..backends.fsspec_backend import MemoryBackend

    return MemoryBackend(url, **options)


def _cloud_backend(url: str, **options: Any) -> Backend:
    # open_backend maps the generic options and env vars per cloud and raises
    # MissingDependencyError naming the extra when s3fs/gcsfs/adlfs is absent.
    from ..backends.fsspec_backend import open_backend

    return open_backend(url, **options)


@hookimpl
def artifactstore_register_backends(register: Registrar) -> None:
    register("file", _local_backend, description="local disk (atomic rename publish)")
    register("memory", _memory_backend, description="in-process memory (tests)")
    register("s3", _cloud_backend, description="Amazon S3 and compatibles via s3fs [s3]")
    register("gs", _cloud_backend, description="Google Cloud Storage via gcsfs [gcs]")
    register("gcs", _cloud_backend, description="Google Cloud Storage via gcsfs [gcs]")
    register("az", _cloud_backend, description="Azure Blob Storage via adlfs [azure]")
    register("abfs", _cloud_backend, description="Azure Blob Storage via adlfs [azure]")
