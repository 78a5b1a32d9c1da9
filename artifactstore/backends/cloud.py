"""Cloud specifics of the one fsspec backend: options, missing extras, retries.

:class:`~artifactstore.backends.fsspec_backend.FsspecBackend` serves every
protocol with one code path. What differs between S3, GCS and Azure lives
here, as data and small functions, not as backend subclasses:

- :func:`resolve` turns the options given to ``artifactstore.open(url, **options)``
  plus the usual environment variables into the option names of s3fs, gcsfs
  or adlfs (see :data:`CLOUDS` and the table below).
- :func:`require_client` imports the client library or raises
  :class:`~artifactstore.errors.MissingDependencyError` naming the extra.
- :class:`RetryPolicy` and :class:`RemoteCalls` retry transient failures with
  exponential backoff and jitter, and turn permanent ones into
  :class:`~artifactstore.errors.BackendError` with the redacted URL. Log
  records go to ``logging.getLogger("artifactstore.backends")`` with
  credentials removed.

Generic options (any cloud)::

    endpoint_url (or endpoint)  custom endpoint / emulator
    anon                        no credentials (public data)
    region                      S3 region; GCS default location for new buckets
    part_size                   multipart / resumable / block size for uploads, bytes
    concurrency                 parallel part uploads (S3, Azure)
    retry                       the retry budget: a RetryPolicy, an int (attempts), a mapping
                                ({"attempts": 3, "total_timeout": 30}), or 0/False for none;
                                default 5 attempts within 10 s (DEFAULT_RETRY)
    connect_timeout             seconds to wait for a connection (default 3, CONNECT_TIMEOUT):
                                an unreachable endpoint fails within the retry budget

Per-cloud options and the environment variables read when they are not given:

======  ==============================================  =========================================
cloud   options (aliases -> client option)              environment
======  ==============================================  =========================================
s3      key, secret, token (access_key_id,               AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL,
        secret_access_key, session_token), profile       AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
                                                         AWS_SESSION_TOKEN, AWS_REGION,
                                                         AWS_DEFAULT_REGION, AWS_PROFILE
gs      token (credentials), project                     STORAGE_EMULATOR_HOST,
                                                         GOOGLE_APPLICATION_CREDENTIALS,
                                                         GOOGLE_CLOUD_PROJECT, GCLOUD_PROJECT
az      connection_string, account_name, account_key,    AZURE_STORAGE_CONNECTION_STRING,
        sas_token, credential, account_host,             AZURE_STORAGE_ACCOUNT_NAME (or _ACCOUNT),
        tenant_id, client_id, client_secret              AZURE_STORAGE_ACCOUNT_KEY (or _KEY),
                                                         AZURE_STORAGE_SAS_TOKEN
======  ==============================================  =========================================

Explicit credentials win as a set: when any credential option is given, no
credential is taken from the environment (adlfs itself still falls back to
the ``AZURE_STORAGE_*`` variables for values left empty). Unknown options pass
through unchanged, so every option of the client library remains available.
"""

from __future__ import annotations

import importlib
import logging
import os
import random
import re
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import quote, quote_plus, urlsplit

from ..errors import BackendError, MissingDependencyError
from ..redact import redact_options, redact_url
from .reach import EndpointUnreachable, check_reachable, endpoint_of

__all__ = [
    "CLOUDS",
    "DEFAULT_RETRY",
    "NO_RETRY",
    "CloudSpec",
    "RemoteCalls",
    "RetryPolicy",
    "classify_error",
    "cloud_for",
    "configure_filesystem",
    "location_key",
    "open_backend",
    "require_client",
    "resolve",
    "scrub",
    "upload_kwargs",
]

logger = logging.getLogger("artifactstore.backends")
T = TypeVar("T")


# --- what differs between clouds -----------------------------------------------------------


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


# --- options -------------------------------------------------------------------------------


def _env_first(env: Mapping[str, str], *names: str) -> str | None:
    for n in names:
        v = env.get(n)
        if v:
            return v
    return None


def _s3_env(env: Mapping[str, str], opts: dict[str, Any], explicit_creds: bool) -> None:
    endpoint = _env_first(env, "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")
    if endpoint:
        opts.setdefault("endpoint_url", endpoint)
    region = _env_first(env, "AWS_REGION", "AWS_DEFAULT_REGION")
    if region and "region_name" not in opts.get("client_kwargs", {}):
        opts["client_kwargs"] = {**opts.get("client_kwargs", {}), "region_name": region}
    if explicit_creds:
        return
    for var, opt in (("AWS_ACCESS_KEY_ID", "key"), ("AWS_SECRET_ACCESS_KEY", "secret"), ("AWS_SESSION_TOKEN", "token")):
        if env.get(var):
            opts[opt] = env[var]
    if "key" not in opts and env.get("AWS_PROFILE"):
        opts["profile"] = env["AWS_PROFILE"]


def _gs_env(env: Mapping[str, str], opts: dict[str, Any], explicit_creds: bool) -> None:
    emulator = env.get("STORAGE_EMULATOR_HOST", "")
    if emulator and emulator != "default" and "endpoint_url" not in opts:
        opts["endpoint_url"] = emulator if "://" in emulator else f"http://{emulator}"
    project = _env_first(env, "GOOGLE_CLOUD_PROJECT", "GCLOUD_PROJECT", "CLOUDSDK_CORE_PROJECT")
    if project:
        opts.setdefault("project", project)
    if explicit_creds:
        return
    if env.get("GOOGLE_APPLICATION_CREDENTIALS"):
        opts["token"] = env["GOOGLE_APPLICATION_CREDENTIALS"]
    elif emulator and emulator != "default":
        opts["token"] = "anon"  # emulators take no credentials


def _az_env(env: Mapping[str, str], opts: dict[str, Any], explicit_creds: bool) -> None:
    if "account_name" not in opts:
        name = _env_first(env, "AZURE_STORAGE_ACCOUNT_NAME", "AZURE_STORAGE_ACCOUNT")
        if name:
            opts["account_name"] = name
    if explicit_creds:
        return
    conn = env.get("AZURE_STORAGE_CONNECTION_STRING")
    if conn:
        opts["connection_string"] = conn
        return
    key = _env_first(env, "AZURE_STORAGE_ACCOUNT_KEY", "AZURE_STORAGE_KEY")
    if key:
        opts["account_key"] = key
    elif env.get("AZURE_STORAGE_SAS_TOKEN"):
        opts["sas_token"] = env["AZURE_STORAGE_SAS_TOKEN"]


_ENV_READERS: dict[str, Callable[[Mapping[str, str], dict[str, Any], bool], None]] = {
    "s3": _s3_env,
    "gs": _gs_env,
    "az": _az_env,
}


def _normalise_url(spec: CloudSpec, url: str, opts: dict[str, Any]) -> str:
    """``abfs://container@account.dfs.core.windows.net/p`` -> ``az://container/p`` (+ account_name)."""
    if spec.name != "az":
        return url
    proto, _, rest = url.partition("://")
    netloc, _, path = rest.partition("/")
    if "@" in netloc:
        container, _, host = netloc.partition("@")
        m = re.match(r"(?P<account>[^.]+)\.(?:dfs|blob)\.core\.windows\.net$", host)
        if m:
            opts.setdefault("account_name", m["account"])
        else:
            opts.setdefault("account_host", host)
        return f"{proto}://{container}/{path}".rstrip("/")
    return url


def resolve(
    url: str, options: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None
) -> tuple[str, dict[str, Any]]:
    """The URL to give the backend and the client library's storage options.

    ``options`` are what the user passed to ``artifactstore.open``; ``env``
    defaults to ``os.environ``. Options of non-cloud URLs pass through as they are.
    """
    opts = dict(options or {})
    proto = url.partition("://")[0].lower() if "://" in url else "file"
    spec = cloud_for(proto)
    if spec is None:
        return url, opts
    env = os.environ if env is None else env

    for alias, real in spec.aliases.items():
        if alias in opts:
            opts.setdefault(real, opts.pop(alias))
    if "endpoint" in opts:
        opts.setdefault("endpoint_url", opts.pop("endpoint"))
    url = _normalise_url(spec, url, opts)

    explicit_creds = any(opts.get(k) not in (None, "", False) for k in spec.credential_options)
    _ENV_READERS[spec.name](env, opts, explicit_creds)

    _timeouts(spec, opts)
    region = opts.pop("region", None)
    if region:
        if spec.name == "s3":
            opts["client_kwargs"] = {**opts.get("client_kwargs", {}), "region_name": region}
        elif spec.name == "gs":
            opts.setdefault("default_location", region)
    if opts.pop("anon", None):
        for k in spec.credential_options:
            opts.pop(k, None)
        if spec.name == "gs":
            opts["token"] = "anon"
        else:
            opts["anon"] = True
    part_size = opts.pop("part_size", None)
    if part_size:
        opts[spec.block_size_option] = int(part_size)
    concurrency = opts.pop("concurrency", None)
    if concurrency:
        if spec.concurrency_option:
            opts[spec.concurrency_option] = int(concurrency)
        else:
            logger.debug("%s:// ignores concurrency: the client uploads parts in sequence", spec.name)
    if spec.name == "gs" and opts.get("endpoint_url"):
        _gcs_emulator_mode(str(opts["endpoint_url"]))
    return url, opts


#: Seconds to wait for a TCP connection to a cloud endpoint (storage option ``connect_timeout``).
#: The SDKs default to 60 s (botocore) or more, which made an unreachable endpoint take minutes.
CONNECT_TIMEOUT = 3.0


def _timeouts(spec: CloudSpec, opts: dict[str, Any]) -> None:
    """A connect timeout for every client, and no SDK-side retries under S3's: our
    :class:`RetryPolicy` is the one retry budget, named in the error that ends it."""
    timeout = opts.pop("connect_timeout", None)
    timeout = CONNECT_TIMEOUT if timeout is None else float(timeout)
    if spec.name == "s3":
        config = dict(opts.get("config_kwargs") or {})
        config.setdefault("connect_timeout", timeout)
        config.setdefault("retries", {"total_max_attempts": 1})
        opts["config_kwargs"] = config
    elif spec.name == "az":
        opts.setdefault("connection_timeout", timeout)


def connect_timeout_of(options: Mapping[str, Any]) -> float | None:
    """The connect timeout a resolved set of client options carries, if any."""
    config = options.get("config_kwargs")
    if isinstance(config, Mapping) and isinstance(config.get("connect_timeout"), (int, float)):
        return float(config["connect_timeout"])
    value = options.get("connection_timeout")
    return float(value) if isinstance(value, (int, float)) else None


def _gcs_emulator_mode(endpoint: str) -> None:
    """gcsfs picks its class at import: an emulator needs the plain one (see testing.servers)."""
    if "googleapis.com" in endpoint:
        return
    mod = sys.modules.get("gcsfs")
    if mod is None:
        os.environ.setdefault("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")
    elif getattr(getattr(mod, "GCSFileSystem", None), "__name__", "") == "ExtendedGcsFileSystem":
        logger.warning(
            "gcsfs was imported with GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT on; against the emulator at %s "
            "each call may wait a minute. Set GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT=false before importing gcsfs.",
            redact_url(endpoint),
        )


def location_key(storage_options: Mapping[str, Any]) -> str:
    """Where a root lives beyond its URL, with no secret in it: the endpoint and the Azure account.

    ``s3://artifacts/store`` on two endpoints (two MinIO servers, AWS and an
    emulator) or ``az://artifacts/store`` in two Azure accounts are different
    stores with the same URL; this tells them apart (e.g. for the default
    catalog's file name). Empty when the URL alone says it (AWS, GCS).
    """
    parts = []
    for k in ("endpoint_url", "account_host", "account_name"):
        v = storage_options.get(k)
        if v:
            parts.append(f"{k}={redact_url(str(v)).rstrip('/')}")
    conn = storage_options.get("connection_string")
    if isinstance(conn, str):
        for item in conn.split(";"):
            name, eq, value = item.partition("=")
            if eq and name.strip().lower() in ("accountname", "blobendpoint", "endpointsuffix"):
                parts.append(f"{name.strip().lower()}={redact_url(value.strip()).rstrip('/')}")
    return "\n".join(parts)


def upload_kwargs(protocol: str, storage_options: Mapping[str, Any]) -> dict[str, Any]:
    """Keyword arguments for ``fs.put_file`` that apply the configured part size."""
    spec = cloud_for(protocol)
    if spec is None or spec.put_chunk_kwarg is None:
        return {}
    size = storage_options.get(spec.block_size_option)
    return {spec.put_chunk_kwarg: int(size)} if size else {}


def configure_filesystem(
    protocol: str, fs: Any, storage_options: Mapping[str, Any], retry: RetryPolicy | None = None
) -> None:
    """Settings a client library takes only after construction.

    adlfs uploads through ``BlobClient.upload_blob``, whose block size and
    single-PUT limit are settings of the SDK client (4 MiB blocks, one PUT up
    to 64 MiB), not of adlfs: apply ``blocksize`` there so that ``part_size``
    means the same on Azure as on S3 and GCS.

    ``retry`` with a single attempt (``retry=False``) also turns off the Azure
    SDK's own retries: adlfs gives no way to set them, and their default
    (3 retries, backoff from 15 s) makes one call to an unreachable endpoint
    take over a minute before it fails.
    """
    spec = cloud_for(protocol)
    if spec is None or spec.name != "az":
        return
    size = storage_options.get(spec.block_size_option)
    config = getattr(getattr(fs, "service_client", None), "_config", None)
    if size and config is not None and hasattr(config, "max_block_size"):
        config.max_block_size = int(size)
        config.max_single_put_size = int(size)
    sdk_retry = getattr(config, "retry_policy", None)
    if retry is not None and retry.attempts <= 1 and sdk_retry is not None:
        for attr in ("total_retries", "connect_retries", "read_retries", "status_retries"):
            if hasattr(sdk_retry, attr):
                setattr(sdk_retry, attr, 0)


def open_backend(url: str, **options: Any) -> Any:
    """Backend factory for cloud URLs: ``open_backend("s3://bucket/prefix", endpoint=..., part_size=...)``.

    Resolves the options (:func:`resolve`), checks the client library
    (:func:`require_client`) and returns an
    :class:`~artifactstore.backends.fsspec_backend.FsspecBackend`.
    """
    from .fsspec_backend import FsspecBackend  # fsspec_backend imports this module

    url, storage_options = resolve(url, options)
    require_client(url.partition("://")[0])
    return FsspecBackend(url, **storage_options)


# --- secrets out of messages --------------------------------------------------------------

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


# --- retries -------------------------------------------------------------------------------


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter, bounded in attempts and in total time.

    Attempt ``n`` (from 1) that fails transiently waits a random time in
    ``[d/2, d]`` with ``d = min(max_delay, base_delay * 2**(n-1))``, unless
    that would exceed ``attempts`` or ``total_timeout`` seconds since the first try.
    """

    attempts: int = 5
    base_delay: float = 0.2
    max_delay: float = 5.0
    total_timeout: float = 10.0

    def describe(self) -> str:
        """The budget in words, with how to change it (for the error that ends a retried call)."""
        return (f"retry budget: {self.attempts} attempt(s) within {self.total_timeout:g} s; set it with the "
                "storage option retry (an int of attempts, or {\"attempts\": N, \"total_timeout\": S}; "
                "-o retry=N on the command line)")

    def delays(self) -> Iterator[float]:
        for n in range(1, self.attempts):
            d = min(self.max_delay, self.base_delay * 2 ** (n - 1))
            yield random.uniform(d / 2, d)

    @classmethod
    def coerce(cls, value: Any) -> RetryPolicy:
        """A RetryPolicy from ``retry=`` option values: a policy, None (default), an int, or False."""
        if value is None or value is True:
            return DEFAULT_RETRY
        if value is False:
            return NO_RETRY
        if isinstance(value, RetryPolicy):
            return value
        if isinstance(value, int):
            return cls(attempts=max(1, value))
        if isinstance(value, Mapping):
            known = {"attempts", "base_delay", "max_delay", "total_timeout"}
            unknown = sorted(set(value) - known)
            if unknown:
                raise TypeError(f"retry takes {', '.join(sorted(known))}; not {', '.join(map(str, unknown))}")
            base = cls()
            return cls(attempts=int(value.get("attempts", base.attempts)),
                       base_delay=float(value.get("base_delay", base.base_delay)),
                       max_delay=float(value.get("max_delay", base.max_delay)),
                       total_timeout=float(value.get("total_timeout", base.total_timeout)))
        raise TypeError(f"retry must be a RetryPolicy, an int, a mapping or a bool, not {type(value).__name__}")


DEFAULT_RETRY = RetryPolicy()
NO_RETRY = RetryPolicy(attempts=1)

TRANSIENT, PERMANENT, NOT_FOUND, UNKNOWN = "transient", "permanent", "not found", "unknown"

_TRANSIENT_TYPES = {
    # builtins / asyncio / fsspec
    "ConnectionError", "ConnectionResetError", "ConnectionAbortedError", "ConnectionRefusedError",
    "BrokenPipeError", "TimeoutError", "FSTimeoutError", "IncompleteRead", "RemoteDisconnected",
    # aiohttp
    "ServerDisconnectedError", "ClientConnectionError", "ClientConnectorError", "ClientOSError",
    "ClientPayloadError", "ServerTimeoutError", "ConnectionTimeoutError", "SocketTimeoutError",
    # botocore
    "EndpointConnectionError", "ConnectTimeoutError", "ReadTimeoutError", "ConnectionClosedError",
    "IncompleteReadError", "ResponseStreamingError", "ProxyConnectionError",
    # requests / urllib3 (google-auth)
    "ProxyError", "ChunkedEncodingError", "ProtocolError",
    # azure-core
    "ServiceRequestError", "ServiceResponseError", "ServiceRequestTimeoutError", "ServiceResponseTimeoutError",
}  # fmt: skip
_TRANSIENT_CODES = {
    "SlowDown", "Throttling", "ThrottlingException", "RequestTimeout", "RequestTimeoutException",
    "InternalError", "InternalServerError", "ServiceUnavailable", "ServerBusy", "OperationTimedOut",
    "TooManyRequests", "RequestLimitExceeded", "PriorRequestNotComplete",
}  # fmt: skip


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen and len(seen) < 8:
        seen.add(id(cur))
        yield cur
        cur = cur.__cause__ or cur.__context__


def _status_and_code(exc: BaseException) -> tuple[int | None, str | None]:
    status: Any = None
    code: Any = None
    response = getattr(exc, "response", None)
    if isinstance(response, Mapping):  # botocore ClientError
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        code = response.get("Error", {}).get("Code")
    for attr in ("status_code", "status", "code"):  # azure-core, aiohttp, gcsfs HttpError
        v = getattr(exc, attr, None)
        if status is None and isinstance(v, int) and 100 <= v <= 599:
            status = v
    error_code = getattr(exc, "error_code", None)  # azure-core: "ServerBusy", "ContainerNotFound"...
    if code is None and error_code is not None:
        code = str(getattr(error_code, "value", error_code))
    return (int(status) if isinstance(status, int) else None), code


def classify_error(exc: BaseException) -> str:
    """``"transient"`` (retry), ``"permanent"`` (raise BackendError), ``"not found"``, or ``"unknown"``."""
    if isinstance(exc, FileNotFoundError):
        return NOT_FOUND
    permanent = isinstance(exc, PermissionError | FileExistsError | IsADirectoryError | NotADirectoryError)
    for e in _chain(exc):
        status, code = _status_and_code(e)
        if status is not None and (status >= 500 or status in (408, 429)):
            return TRANSIENT
        if code in _TRANSIENT_CODES:
            return TRANSIENT
        if not permanent and any(t.__name__ in _TRANSIENT_TYPES for t in type(e).__mro__):
            return TRANSIENT
        if not permanent and isinstance(e, ConnectionError | TimeoutError):
            return TRANSIENT
        if status == 404 and e is exc:
            return NOT_FOUND
        if status is not None and 400 <= status < 500:
            permanent = True
    if permanent or isinstance(exc, OSError | ValueError):
        return PERMANENT
    return UNKNOWN


def _describe(exc: BaseException) -> str:
    """One line: exception type, first line of its message, HTTP status and error code if known."""
    lines = str(exc).strip().splitlines()
    text = f"{type(exc).__name__}: {lines[0][:300] if lines else ''}".rstrip(": ")
    for e in _chain(exc):
        status, code = _status_and_code(e)
        if status is not None or code:
            text += f" [{' '.join(str(x) for x in (status, code) if x)}]"
            break
    return text


def _connect_failure(exc: BaseException) -> bool:
    """Did ``exc`` come from failing to connect (rather than from a request that got an answer)?"""
    return any(isinstance(e, EndpointUnreachable) or "Connect" in type(e).__name__ for e in _chain(exc))


class RemoteCalls:
    """Runs a backend's calls to its client library: retries and error translation.

    ``calls(op, key, fn)`` calls ``fn()``; a transient failure is retried per
    ``policy``; a permanent one (and a transient one that outlasts the policy)
    raises :class:`~artifactstore.errors.BackendError` naming the redacted URL.
    ``FileNotFoundError`` passes through for reads (the Backend contract) and
    becomes a BackendError for writes (the bucket or container is missing).
    Errors of other kinds (TypeError...) are bugs and propagate unchanged.
    """

    WRITE_OPS = frozenset({"write", "upload"})

    def __init__(
        self,
        url: str,
        options: Mapping[str, Any],
        policy: RetryPolicy = DEFAULT_RETRY,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = redact_url(url).rstrip("/")
        self.policy = policy
        self._connect_timeout = connect_timeout_of(options)
        proto = url.partition("://")[0].lower() if "://" in url else ""
        # S3 without an endpoint is AWS: botocore applies the connect timeout itself.
        self._endpoint: tuple[str, int] | None = None
        if proto and (proto not in ("s3", "s3a") or options.get("endpoint_url")):
            self._endpoint = endpoint_of(proto, options)
            if self._endpoint is not None and self._connect_timeout is None:
                self._connect_timeout = CONNECT_TIMEOUT  # the reachability check's own
        self._secrets = secret_values(options)
        self._sleep = sleep
        self._clock = clock

    def where(self, key: str) -> str:
        return f"{self.url}/{key}" if key else self.url

    def __call__(self, op: str, key: str, fn: Callable[[], T]) -> T:
        start = self._clock()
        delays = self.policy.delays()
        attempt = 0
        while True:
            attempt += 1
            try:
                if self._endpoint is not None and op != "connect":  # building the client is local
                    check_reachable(self._endpoint, self._connect_timeout)
                return fn()
            except Exception as exc:
                kind = classify_error(exc)
                if kind == NOT_FOUND and op not in self.WRITE_OPS:
                    raise
                if kind == UNKNOWN:
                    raise
                detail = scrub(_describe(exc), self._secrets)
                where = self.where(key)
                if kind == TRANSIENT:
                    delay = next(delays, None)
                    # A connection failure costs up to the connect timeout again: start the
                    # next attempt only if it can end within the budget.
                    cost = (self._connect_timeout or 0.0) if _connect_failure(exc) else 0.0
                    if delay is not None and self._clock() - start + delay + cost <= self.policy.total_timeout:
                        # info, not warning: the error that ends the budget says how many attempts
                        # ran, and a CLI user gets one line, not one per retry.
                        logger.info(
                            "%s %s failed (%s); attempt %d of %d, retrying in %.2f s",
                            op, where, detail, attempt, self.policy.attempts, delay,
                        )  # fmt: skip
                        self._sleep(delay)
                        continue
                    ct = "" if self._connect_timeout is None else f", connect timeout {self._connect_timeout:g} s"
                    msg = (f"{op} {where} failed after {attempt} attempt(s) over {self._clock() - start:.1f} s: "
                           f"{detail} ({self.policy.describe()}{ct})")
                elif kind == NOT_FOUND:
                    msg = f"{op} {where} failed: the bucket or container does not exist ({detail})"
                else:
                    msg = f"{op} {where} failed: {detail}"
                logger.debug("%s", msg)
                raise BackendError(msg, url=self.url, key=key) from exc
