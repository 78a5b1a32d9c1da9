"""Keep credentials out of messages, logs and reprs: the package's one scrubber.

- :func:`redact_url` drops userinfo and secret query values from a URL;
- :func:`redact_options` masks the secret values of a mapping of storage options;
- :func:`secret_values` lists the secret strings a set of options holds, and
  :func:`scrub` removes them (and ``key=value`` secrets, URL userinfo) from any
  text, such as a client library's error message before it is logged or raised.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, quote_plus, urlsplit, urlunsplit

__all__ = ["SECRET_OPTION_KEYS", "redact_options", "redact_url", "scrub", "secret_values"]

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


# --- secrets out of free text ---------------------------------------------------------------

_TEXT_SECRETS = re.compile(
    r"(?i)\b(AccountKey|SharedAccessSignature|sig|signature|token|access_token|refresh_token|id_token|secret|password|"
    r"X-Amz-Signature|X-Amz-Credential|X-Amz-Security-Token|client_secret|private_key)=([^&;\s\"',]+)"
)
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/@\s\"']+@")
_NOT_SECRET = {"anon", "google_default", "cloud", "cache", "browser", "true", "false"}


def secret_values(options: Mapping[str, Any]) -> list[str]:
    """String values in ``options`` that are secrets (and the secret parts of connection strings, URLs)."""
    found: list[str] = []

    def walk(opts: Mapping[str, Any], red: Mapping[str, Any]) -> None:
        for k, v in opts.items():
            r = red.get(k)
            if isinstance(v, Mapping) and isinstance(r, Mapping):
                walk(v, r)
            elif isinstance(v, str):
                if r == "***" and v.lower() not in _NOT_SECRET:
                    found.append(v)
                    # connection strings: also each part's value on its own
                    for part in v.split(";"):
                        name, eq, value = part.partition("=")
                        if eq and name.strip().lower() in ("accountkey", "sharedaccesssignature") and value:
                            found.append(value)
                if "://" in v and "@" in v:
                    userinfo = urlsplit(v).netloc.rpartition("@")[0]
                    found.extend(p for p in userinfo.split(":") if p)

    walk(options, redact_options(options))
    # as they appear inside URLs too (gcsfs sends a token as ?access_token=<percent-encoded>)
    found += [quote(s, safe="") for s in found] + [quote_plus(s, safe="") for s in found]
    return sorted({s for s in found if len(s) >= 4}, key=len, reverse=True)


def scrub(text: str, secrets: list[str] | tuple[str, ...] = ()) -> str:
    """``text`` with known secret values, ``key=value`` secrets and URL userinfo replaced by ``***``."""
    for s in secrets:
        text = text.replace(s, "***")
    text = _TEXT_SECRETS.sub(r"\1=***", text)
    return _USERINFO.sub(r"\1***@", text)
