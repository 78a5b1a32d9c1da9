"""The cloud names of earlier releases, in one import: ``from artifactstore.backends import cloud``.

This module used to hold the option table, the environment readers, the retry
policy, error classification and secret scrubbing. Each now lives in a module
of its own, and this one re-exports their public names unchanged:

- :mod:`artifactstore.backends.clouds`: :data:`CLOUDS`, :class:`CloudSpec`,
  :func:`cloud_for`, :func:`require_client` (what differs between S3, GCS, Azure);
- :mod:`artifactstore.backends.options`: :func:`resolve` (generic options and the
  environment to the client's options), :func:`location_key`, :func:`upload_kwargs`,
  :func:`configure_filesystem`, :data:`CONNECT_TIMEOUT`;
- :mod:`artifactstore.backends.retry`: :class:`RetryPolicy`, :class:`RemoteCalls`,
  :data:`DEFAULT_RETRY`, :data:`NO_RETRY`;
- :mod:`artifactstore.backends.failures`: :func:`classify_error`;
- :mod:`artifactstore.redact`: :func:`scrub`, :func:`secret_values` (the package's one scrubber);
- :mod:`artifactstore.backends.fsspec_backend`: :func:`open_backend`.

New code imports from those modules.
"""

from __future__ import annotations

from ..redact import scrub, secret_values
from .clouds import CLOUDS, REMOTE_EXTRAS, CloudSpec, cloud_for, require_client
from .failures import NOT_FOUND, PERMANENT, TRANSIENT, UNKNOWN, classify_error
from .fsspec_backend import open_backend
from .options import CONNECT_TIMEOUT, configure_filesystem, connect_timeout_of, location_key, resolve, upload_kwargs
from .retry import DEFAULT_RETRY, NO_RETRY, RemoteCalls, RetryPolicy

__all__ = [
    "CLOUDS",
    "CONNECT_TIMEOUT",
    "DEFAULT_RETRY",
    "NOT_FOUND",
    "NO_RETRY",
    "PERMANENT",
    "REMOTE_EXTRAS",
    "TRANSIENT",
    "UNKNOWN",
    "CloudSpec",
    "RemoteCalls",
    "RetryPolicy",
    "classify_error",
    "cloud_for",
    "configure_filesystem",
    "connect_timeout_of",
    "location_key",
    "open_backend",
    "require_client",
    "resolve",
    "scrub",
    "secret_values",
    "upload_kwargs",
]
