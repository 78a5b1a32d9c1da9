"""Is a cloud endpoint reachable at all? A TCP connect before the first request.

An unreachable endpoint (a wrong host, a blackholed address, an emulator that is
not running) used to take 47-88 s to fail: gcsfs retries every request six times
with backoffs of 1-16 s, and azure-storage-blob three times with backoffs of
15-42 s, under whatever connect timeout the SDK was given, and neither lets a
caller lower that retry count per filesystem. So before a process's first request
to an endpoint, :class:`~artifactstore.backends.retry.RemoteCalls` opens one TCP
connection to it with the store's ``connect_timeout``: a failure there is a
transient error that our own retry budget (:class:`~artifactstore.backends.retry.RetryPolicy`)
retries and then reports, so an unreachable endpoint fails within that budget
(5 attempts within 10 s by default) with a message that names the endpoint, the
connect timeout and the option that sets the budget. A success is remembered per
``(host, port)`` for the life of the process, so the check costs one TCP handshake
per endpoint per process, not one per request.

The endpoint is what the client library will connect to: ``endpoint_url`` when
given; for GCS ``storage.googleapis.com:443``; for Azure the ``BlobEndpoint`` of
a connection string, else ``account_host``, else
``<account_name>.blob.core.windows.net:443``. AWS S3 without ``endpoint_url`` is
not checked: botocore applies the connect timeout itself and has no retries of
its own under ours (see ``backends.options``).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

__all__ = ["EndpointUnreachable", "check_reachable", "endpoint_of"]


class EndpointUnreachable(ConnectionError):
    """No TCP connection to the endpoint within the connect timeout (a transient error)."""


_reached: set[tuple[str, int]] = set()
_lock = threading.Lock()


def _host_port(url: str, default_port: int = 443) -> tuple[str, int] | None:
    parts = urlsplit(url if "://" in url else f"https://{url}")
    if not parts.hostname:
        return None
    try:
        port = parts.port
    except ValueError:  # a malformed port: let the client library report it
        return None
    if port is None:
        port = 80 if parts.scheme == "http" else default_port
    return parts.hostname, port


def endpoint_of(protocol: str, options: Mapping[str, Any]) -> tuple[str, int] | None:
    """The ``(host, port)`` the client for ``protocol`` will connect to, or None if unknown."""
    endpoint = options.get("endpoint_url")
    if isinstance(endpoint, str) and endpoint:
        return _host_port(endpoint)
    if protocol in ("gs", "gcs"):
        return ("storage.googleapis.com", 443)
    if protocol in ("az", "abfs", "abfss"):
        conn = options.get("connection_string")
        if isinstance(conn, str):
            fields: dict[str, str] = {}
            for item in conn.split(";"):
                key, eq, value = item.partition("=")
                if eq:
                    fields[key.strip().lower()] = value.strip()
            if fields.get("blobendpoint"):
                return _host_port(fields["blobendpoint"])
            if fields.get("accountname"):
                suffix = fields.get("endpointsuffix", "core.windows.net")
                return (f"{fields['accountname']}.blob.{suffix}", 443)
        host = options.get("account_host")
        if isinstance(host, str) and host:
            return _host_port(host)
        account = options.get("account_name")
        if isinstance(account, str) and account:
            return (f"{account}.blob.core.windows.net", 443)
    return None


def check_reachable(endpoint: tuple[str, int], timeout: float | None) -> None:
    """Open (and close) one TCP connection to ``endpoint``, once per process.

    Raises :class:`EndpointUnreachable` naming the endpoint when the name does
    not resolve, the connection is refused, or it does not complete within
    ``timeout`` seconds.
    """
    with _lock:
        if endpoint in _reached:
            return
    host, port = endpoint
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as exc:
        if isinstance(exc, TimeoutError):  # socket.timeout is TimeoutError
            why = f"no connection within {timeout:g} s" if timeout else "connection timed out"
        elif isinstance(exc, socket.gaierror):
            why = f"the host name does not resolve ({exc.strerror or exc})"
        else:
            why = exc.strerror or type(exc).__name__
        raise EndpointUnreachable(f"cannot reach {host}:{port}: {why}") from exc
    with _lock:
        _reached.add(endpoint)
