"""Built-in backends: local disk and memory, plus S3, GCS and Azure through their extras."""

from __future__ import annotations

from typing import Any

from ..backends.base import Backend
from ..hookspecs import Registrar, hookimpl


def _fsspec_backend(url: str, **options: Any) -> Backend:
    from ..backends.fsspec_backend import FsspecBackend

    return FsspecBackend(url, **options)


def _cloud_backend(url: str, **options: Any) -> Backend:
    # Imported lazily: the cloud module maps options and env vars per cloud and
    # raises MissingDependencyError naming the extra when s3fs/gcsfs/adlfs is absent.
    from ..backends import cloud

    backend: Backend = cloud.open_backend(url, **options)
    return backend


@hookimpl
def artifactstore_register_backends(register: Registrar) -> None:
    register("file", _fsspec_backend, description="local disk (atomic rename publish)")
    register("memory", _fsspec_backend, description="in-process memory (tests)")
    register("s3", _cloud_backend, description="Amazon S3 and compatibles via s3fs [s3]")
    register("gs", _cloud_backend, description="Google Cloud Storage via gcsfs [gcs]")
    register("gcs", _cloud_backend, description="Google Cloud Storage via gcsfs [gcs]")
    register("az", _cloud_backend, description="Azure Blob Storage via adlfs [azure]")
    register("abfs", _cloud_backend, description="Azure Blob Storage via adlfs [azure]")
