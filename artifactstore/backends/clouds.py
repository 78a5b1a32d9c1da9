"""What differs between S3, GCS and Azure, as data: :data:`CLOUDS`, one :class:`CloudSpec` each.

:class:`~artifactstore.backends.fsspec_backend.FsspecBackend` serves every
object store with one code path; how each client library (s3fs, gcsfs, adlfs)
spells its options, which package and extra provide it, lives in this table.
:func:`require_client` imports the client library or raises
:class:`~artifactstore.errors.MissingDependencyError` naming the extra.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass

from ..errors import MissingDependencyError

__all__ = ["CLOUDS", "REMOTE_EXTRAS", "CloudSpec", "cloud_for", "require_client"]


@dataclass(frozen=True)
class CloudSpec:
    """How one cloud's client library spells things."""

    name: str
    protocols: tuple[str, ...]
    package: str
    extra: str
    #: the library's block size option, set from ``part_size``
    block_size_option: str
    #: keyword of ``fs.put_file`` that sets the upload part size, if the library has one
    put_chunk_kwarg: str | None
    #: the library's option for parallel part uploads, if any
    concurrency_option: str | None
    #: option names that are credentials (explicit ones suppress the environment's)
    credential_options: tuple[str, ...]
    #: generic or alias option name -> the library's option name
    aliases: Mapping[str, str]


CLOUDS: dict[str, CloudSpec] = {
    "s3": CloudSpec(
        name="s3",
        protocols=("s3", "s3a"),
        package="s3fs",
        extra="s3",
        block_size_option="default_block_size",
        put_chunk_kwarg="chunksize",
        concurrency_option="max_concurrency",
        credential_options=("key", "secret", "token", "profile", "anon"),
        aliases={
            "access_key_id": "key",
            "aws_access_key_id": "key",
            "secret_access_key": "secret",
            "aws_secret_access_key": "secret",
            "session_token": "token",
            "aws_session_token": "token",
        },
    ),
    "gs": CloudSpec(
        name="gs",
        protocols=("gs", "gcs"),
        package="gcsfs",
        extra="gcs",
        block_size_option="block_size",
        put_chunk_kwarg="chunksize",
        concurrency_option=None,  # gcsfs uploads the chunks of one file in sequence
        credential_options=("token",),
        aliases={"credentials": "token"},
    ),
    "az": CloudSpec(
        name="az",
        protocols=("az", "abfs", "abfss"),
        package="adlfs",
        extra="azure",
        block_size_option="blocksize",
        put_chunk_kwarg=None,  # set on the SDK client instead, see configure_filesystem
        concurrency_option="max_concurrency",
        credential_options=(
            "connection_string",
            "account_key",
            "sas_token",
            "credential",
            "client_id",
            "client_secret",
            "anon",
        ),
        aliases={},
    ),
}

_BY_PROTOCOL = {p: spec for spec in CLOUDS.values() for p in spec.protocols}

#: protocol -> (python package, extra), for every cloud protocol
REMOTE_EXTRAS: dict[str, tuple[str, str]] = {p: (s.package, s.extra) for p, s in _BY_PROTOCOL.items()}


def cloud_for(protocol: str) -> CloudSpec | None:
    """The cloud serving an fsspec protocol (``s3a`` -> s3), or None for others (file, memory...)."""
    return _BY_PROTOCOL.get(protocol.lower())


def require_client(protocol: str) -> None:
    """Import the client library of ``protocol``; raise MissingDependencyError if it is absent."""
    spec = cloud_for(protocol)
    if spec is None:
        return
    try:
        importlib.import_module(spec.package)
    except ImportError as exc:
        raise MissingDependencyError(spec.package, spec.extra, f"the {protocol}:// backend") from exc
