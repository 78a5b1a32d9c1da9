"""Storage options for the object stores: the generic names, the environment, the client's names.

:func:`resolve` turns the options given to ``artifactstore.open(url, **options)``
plus the usual environment variables into the option names of s3fs, gcsfs or
adlfs (the per-cloud spellings are in :data:`~artifactstore.backends.clouds.CLOUDS`).
:func:`upload_kwargs` and :func:`configure_filesystem` apply the part size and
retry settings a client takes at call time or after construction;
:func:`location_key` names where a root lives beyond its URL.

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

import logging
import os
import re
import sys
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from ..redact import redact_url
from .clouds import CloudSpec, cloud_for

if TYPE_CHECKING:
    from .retry import RetryPolicy

__all__ = [
    "CONNECT_TIMEOUT",
    "configure_filesystem",
    "connect_timeout_of",
    "location_key",
    "resolve",
    "upload_kwargs",
]

logger = logging.getLogger("artifactstore.backends")


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
