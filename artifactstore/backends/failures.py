"""Which failures of a client library are worth retrying: :func:`classify_error`.

S3, GCS and Azure clients (botocore, aiohttp, requests, azure-core) report the
same kinds of failure with different exception types, HTTP statuses and error
codes. :func:`classify_error` sorts an exception into ``"transient"`` (retry),
``"permanent"``, ``"not found"`` or ``"unknown"`` (a bug: let it propagate);
:func:`describe_error` gives the one line an error message quotes.
:class:`~artifactstore.backends.retry.RemoteCalls` acts on both.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

__all__ = ["NOT_FOUND", "PERMANENT", "TRANSIENT", "UNKNOWN", "classify_error", "describe_error"]

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


def describe_error(exc: BaseException) -> str:
    """One line: exception type, first line of its message, HTTP status and error code if known."""
    lines = str(exc).strip().splitlines()
    text = f"{type(exc).__name__}: {lines[0][:300] if lines else ''}".rstrip(": ")
    for e in _chain(exc):
        status, code = _status_and_code(e)
        if status is not None or code:
            text += f" [{' '.join(str(x) for x in (status, code) if x)}]"
            break
    return text
