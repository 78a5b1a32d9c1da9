"""Keep credentials out of messages, logs and reprs."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

__all__ = ["redact_url", "redact_options", "SECRET_OPTION_KEYS"]

# Option names (lower-cased substrings) whose values are secrets in s3fs, gcsfs,
# adlfs and database URLs.
SECRET_OPTION_KEYS = (
    "secret", "password", "token", "key", "credential", "sas", "signature", "connection_string",
)
_PUBLIC_KEYS = {"endpoint_url", "key_prefix", "account_name", "project", "bucket", "region_name"}
_QUERY_SECRET = re.compile(r"(?i)((?:sig|signature|token|secret|password|key|sv|se|sp|skoid|sktid)=)[^&]*")


def redact_url(url: str) -> str:
    """Drop userinfo and secret-looking query values from a URL."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable url>"
    netloc = parts.netloc
    query = _QUERY_SECRET.sub(r"\1***", parts.query)
    if "@" not in netloc and query == parts.query:
        return url  # nothing secret; urlunsplit would also mangle sqlite:////abs paths
    if "@" in netloc:
        netloc = "***@" + netloc.rsplit("@", 1)[1]
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def _is_secret(key: str) -> bool:
    k = key.lower()
    if k in _PUBLIC_KEYS:
        return False
    return any(s in k for s in SECRET_OPTION_KEYS)


def redact_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """Copy of storage options with secret values replaced by ``***``."""
    out: dict[str, Any] = {}
    for k, v in options.items():
        if isinstance(v, Mapping):
            out[k] = redact_options(v)
        elif _is_secret(k):
            out[k] = "***"
        else:
            out[k] = v
    return out
