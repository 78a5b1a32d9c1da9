"""Cloud options, missing extras, retries and secrets (artifactstore.backends.cloud).

Option mapping is checked both as data (what resolve() returns) and end to end
against the loopback servers, configured only through environment variables.
Faults a real server will not produce on demand are injected at the narrowest
point: a missing package through sys.modules, a connection reset through the
function RemoteCalls runs, 5xx answers through a small HTTP proxy in front of moto.
"""

from __future__ import annotations

import http.client
import logging
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from artifactstore import redact
from artifactstore.backends import cloud, options
from artifactstore.backends.failures import classify_error
from artifactstore.backends.fsspec_backend import FsspecBackend, open_backend
from artifactstore.backends.options import resolve
from artifactstore.backends.retry import DEFAULT_RETRY, NO_RETRY, RemoteCalls, RetryPolicy
from artifactstore.errors import BackendError, MissingDependencyError
from artifactstore.testing import servers
from artifactstore.testing.fixtures import RemoteRoot
from artifactstore.testing.servers import ServerHandle

CLOUD_ENV = (
    "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
    "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", "STORAGE_EMULATOR_HOST", "GOOGLE_APPLICATION_CREDENTIALS",
    "GOOGLE_CLOUD_PROJECT", "GCLOUD_PROJECT", "CLOUDSDK_CORE_PROJECT", "AZURE_STORAGE_CONNECTION_STRING",
    "AZURE_STORAGE_ACCOUNT_NAME", "AZURE_STORAGE_ACCOUNT", "AZURE_STORAGE_ACCOUNT_KEY", "AZURE_STORAGE_KEY",
    "AZURE_STORAGE_SAS_TOKEN",
)  # fmt: skip
SECRET = "PLANTED-s3cr3t-9f8e7d6c5b4a"
# what resolve() adds to every S3 / Azure client: a connect timeout, and no SDK retries under ours (S3)
S3_T = {"config_kwargs": {"connect_timeout": options.CONNECT_TIMEOUT, "retries": {"total_max_attempts": 1}}}
AZ_T = {"connection_timeout": options.CONNECT_TIMEOUT}
FAST = RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.02, total_timeout=10)


@pytest.fixture(autouse=True)
def _no_cloud_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in CLOUD_ENV:
        monkeypatch.delenv(var, raising=False)


def _leaks(text: str) -> bool:
    return SECRET in text or SECRET[8:20] in text


def _checked_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """Ours at every level, anyone's from WARNING up.

    (botocore's own DEBUG records print the signed request, session token included.)
    """
    return [r for r in caplog.records if r.name.startswith("artifactstore") or r.levelno >= logging.WARNING]


# --- option mapping --------------------------------------------------------------------------


def test_s3_generic_options_map_to_s3fs_names() -> None:
    url, opts = resolve(
        "s3://bucket/prefix",
        {
            "endpoint": "http://127.0.0.1:9000",
            "access_key_id": "AK",
            "secret_access_key": "SK",
            "session_token": "TOK",
            "region": "eu-west-3",
            "part_size": 8 << 20,
            "concurrency": 4,
            "requester_pays": True,  # unknown to us: passes through
        },
    )
    assert url == "s3://bucket/prefix"
    assert opts == {
        "endpoint_url": "http://127.0.0.1:9000",
        "key": "AK",
        "secret": "SK",
        "token": "TOK",
        "client_kwargs": {"region_name": "eu-west-3"},
        "default_block_size": 8 << 20,
        "max_concurrency": 4,
        "requester_pays": True,
        **S3_T,
    }


def test_s3_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://generic:1")
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://s3-specific:2")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "ENVKEY")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "ENVSECRET")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "ENVTOKEN")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-west-2")
    _, opts = resolve("s3://b")
    assert opts == {
        "endpoint_url": "http://s3-specific:2",
        "key": "ENVKEY",
        "secret": "ENVSECRET",
        "token": "ENVTOKEN",
        "client_kwargs": {"region_name": "us-west-2"},
        **S3_T,
    }
    # explicit options win; explicit credentials win as a set (no env token mixed in)
    _, opts = resolve("s3://b", {"endpoint_url": "http://explicit:3", "key": "K", "secret": "S"})
    assert opts["endpoint_url"] == "http://explicit:3"
    assert (opts["key"], opts["secret"]) == ("K", "S")
    assert "token" not in opts


def test_s3_anon_drops_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "ENVKEY")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "ENVSECRET")
    _, opts = resolve("s3://public-data", {"anon": True})
    assert opts == {"anon": True, **S3_T}


def test_gcs_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", "127.0.0.1:4443")
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "proj")
    url, opts = resolve("gcs://bucket/p", {"part_size": 1 << 20, "concurrency": 8})
    assert url == "gcs://bucket/p"
    # an emulator takes no credentials; concurrency has no gcsfs equivalent
    assert opts == {"endpoint_url": "http://127.0.0.1:4443", "project": "proj", "token": "anon", "block_size": 1 << 20}
    monkeypatch.delenv("STORAGE_EMULATOR_HOST")
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", "/secrets/sa.json")
    _, opts = resolve("gs://bucket")
    assert opts == {"project": "proj", "token": "/secrets/sa.json"}
    _, opts = resolve("gs://bucket", {"credentials": {"type": "service_account"}, "anon": False})
    assert opts == {"project": "proj", "token": {"type": "service_account"}}
    _, opts = resolve("gs://bucket", {"anon": True})
    assert opts == {"project": "proj", "token": "anon"}


def test_azure_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", "DefaultEndpointsProtocol=http;AccountName=a;AccountKey=k")
    _, opts = resolve("az://container/p", {"part_size": 4 << 20, "concurrency": 3})
    assert opts == {
        "connection_string": "DefaultEndpointsProtocol=http;AccountName=a;AccountKey=k",
        "blocksize": 4 << 20,
        "max_concurrency": 3,
        **AZ_T,
    }
    monkeypatch.delenv("AZURE_STORAGE_CONNECTION_STRING")
    monkeypatch.setenv("AZURE_STORAGE_ACCOUNT", "acct")
    monkeypatch.setenv("AZURE_STORAGE_KEY", "a2V5")
    _, opts = resolve("az://container")
    assert opts == {"account_name": "acct", "account_key": "a2V5", **AZ_T}
    monkeypatch.delenv("AZURE_STORAGE_KEY")
    monkeypatch.setenv("AZURE_STORAGE_SAS_TOKEN", "sv=2024&sig=abc")
    _, opts = resolve("az://container")
    assert opts == {"account_name": "acct", "sas_token": "sv=2024&sig=abc", **AZ_T}
    # explicit credentials suppress the environment's
    _, opts = resolve("az://container", {"account_key": "explicit"})
    assert opts == {"account_name": "acct", "account_key": "explicit", **AZ_T}


def test_abfs_url_with_account_is_normalised() -> None:
    url, opts = resolve("abfs://models@myacct.dfs.core.windows.net/evals/store", {"account_key": "k"})
    assert url == "abfs://models/evals/store"
    assert opts == {"account_name": "myacct", "account_key": "k", **AZ_T}


def test_non_cloud_urls_pass_options_through() -> None:
    assert resolve("memory://x", {"a": 1}) == ("memory://x", {"a": 1})
    assert resolve("/tmp/store", {"fsync": True}) == ("/tmp/store", {"fsync": True})


def test_upload_kwargs_apply_part_size() -> None:
    assert options.upload_kwargs("s3", {"default_block_size": 5 << 20}) == {"chunksize": 5 << 20}
    assert options.upload_kwargs("gs", {"block_size": 8 << 20}) == {"chunksize": 8 << 20}
    assert options.upload_kwargs("s3", {}) == {}
    assert options.upload_kwargs("az", {"blocksize": 4 << 20}) == {}  # set on the SDK client instead
    assert options.upload_kwargs("memory", {"block_size": 1}) == {}


# --- missing extras ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "package", "extra"),
    [
        ("s3://b/p", "s3fs", "s3"),
        ("gs://b/p", "gcsfs", "gcs"),
        ("az://c/p", "adlfs", "azure"),
        ("abfs://c", "adlfs", "azure"),
    ],
)
def test_missing_client_library_names_the_extra(
    monkeypatch: pytest.MonkeyPatch, url: str, package: str, extra: str
) -> None:
    monkeypatch.setitem(sys.modules, package, None)  # import of it now raises ImportError
    makers: list[Callable[[], object]] = [lambda: open_backend(url), lambda: FsspecBackend(url)]
    for make in makers:
        with pytest.raises(MissingDependencyError) as info:
            make()
        assert isinstance(info.value, ImportError)
        assert f"pip install 'artifactstore[{extra}]'" in str(info.value)
        assert info.value.package == package and info.value.extra == extra


# --- end to end, configured by environment only --------------------------------------------------


def test_s3_from_environment(monkeypatch: pytest.MonkeyPatch, s3_url: RemoteRoot) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_url.storage_options["endpoint_url"])
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    b = open_backend(s3_url.url, part_size=5 << 20)
    data = bytes(range(256)) * (48 * 1024)  # 12 MiB: a three-part upload
    w = b.writer()
    w.write(data)
    w.commit("blobs/big")
    assert b.read_range("blobs/big", (5 << 20) - 2, 4) == data[(5 << 20) - 2 : (5 << 20) + 2]
    info = b.fs.info(f"{s3_url.bucket}/store/blobs/big")
    assert info["ETag"].strip('"').endswith("-3"), info["ETag"]  # S3's multipart ETag


def test_gcs_from_environment(monkeypatch: pytest.MonkeyPatch, gcs_url: RemoteRoot) -> None:
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_url.server.endpoint.removeprefix("http://"))
    b = open_backend(gcs_url.url, project="artifactstore-test")
    b.write_bytes("records/r.json", b"{}")
    assert [o.key for o in b.list()] == ["records/r.json"]


def test_azure_from_environment(monkeypatch: pytest.MonkeyPatch, azure_url: RemoteRoot) -> None:
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", azure_url.storage_options["connection_string"])
    b = open_backend(azure_url.url, part_size=4 << 20)
    data = b"z" * (9 << 20)
    b.write_bytes("blobs/direct", b"small")
    w = b.writer()
    w.write(data)
    w.commit("blobs/blocks")
    assert b.read_bytes("blobs/blocks") == data
    from azure.storage.blob import BlobServiceClient

    client = BlobServiceClient.from_connection_string(azure_url.storage_options["connection_string"])
    blocks, _ = client.get_blob_client(azure_url.bucket, "store/blobs/blocks").get_block_list("committed")
    assert [blk.size for blk in blocks] == [4 << 20, 4 << 20, 1 << 20]


# --- error classification with the libraries' own exceptions ---------------------------------


def _boto_error(status: int, code: str) -> Exception:
    from botocore.exceptions import ClientError
    from s3fs.errors import translate_boto_error

    err = ClientError(
        {"Error": {"Code": code, "Message": code}, "ResponseMetadata": {"HTTPStatusCode": status}}, "PutObject"
    )
    translated: Exception = translate_boto_error(err)  # s3fs has no type information
    return translated


def test_classify_library_errors() -> None:
    from aiohttp import ServerDisconnectedError
    from azure.core.exceptions import ServiceRequestError
    from botocore.exceptions import EndpointConnectionError
    from gcsfs.retry import HttpError

    transient = [
        _boto_error(503, "SlowDown"),
        _boto_error(500, "InternalError"),
        HttpError({"code": 503, "message": "backend unavailable"}),
        HttpError({"code": 429, "message": "rate limit"}),
        ConnectionResetError(104, "Connection reset by peer"),
        ServerDisconnectedError(),
        EndpointConnectionError(endpoint_url="http://x"),
        ServiceRequestError("connection aborted"),
        TimeoutError(),
    ]
    permanent = [
        _boto_error(403, "AccessDenied"),
        _boto_error(400, "InvalidBucketName"),
        HttpError({"code": 401, "message": "Invalid Credentials"}),
        OSError("Forbidden: /b/o"),  # gcsfs's 403
        PermissionError("denied"),
    ]
    assert [classify_error(e) for e in transient] == ["transient"] * len(transient)
    assert [classify_error(e) for e in permanent] == ["permanent"] * len(permanent)
    assert classify_error(_boto_error(404, "NoSuchKey")) == "not found"
    assert classify_error(TypeError("a bug")) == "unknown"


# --- the retry loop ---------------------------------------------------------------------------


class _Flaky:
    def __init__(self, failures: list[BaseException], result: Any = "ok") -> None:
        self.failures = list(failures)
        self.calls = 0
        self.result = result

    def __call__(self) -> Any:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return self.result


def _calls(policy: RetryPolicy = FAST) -> tuple[RemoteCalls, list[float]]:
    """RemoteCalls on a simulated clock that advances only by the sleeps it records."""
    slept: list[float] = []

    def sleep(d: float) -> None:
        slept.append(d)

    def clock() -> float:
        return sum(slept)

    return RemoteCalls("s3://bucket/root", {}, policy, sleep=sleep, clock=clock), slept


def test_transient_failures_are_retried_with_backoff(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="artifactstore.backends")
    policy = RetryPolicy(attempts=5, base_delay=0.1, max_delay=0.3, total_timeout=60)
    calls, slept = _calls(policy)
    fn = _Flaky([ConnectionResetError(104, "reset"), _boto_error(503, "SlowDown"), TimeoutError("read timed out")])
    assert calls("read", "blobs/x", fn) == "ok"
    assert fn.calls == 4
    assert len(slept) == 3
    # exponential with jitter in [d/2, d], capped at max_delay
    for delay, cap in zip(slept, (0.1, 0.2, 0.3), strict=True):
        assert cap / 2 <= delay <= cap
    warnings = [r for r in caplog.records if r.name == "artifactstore.backends" and r.levelno == logging.INFO]
    assert len(warnings) == 3
    assert "read s3://bucket/root/blobs/x failed" in warnings[0].getMessage()
    assert "attempt 1 of 5" in warnings[0].getMessage()


def test_retries_are_bounded_by_count() -> None:
    calls, slept = _calls(RetryPolicy(attempts=3, base_delay=0.01))
    fn = _Flaky([ConnectionResetError("reset")] * 10)
    with pytest.raises(BackendError) as info:
        calls("write", "blobs/x", fn)
    assert fn.calls == 3 and len(slept) == 2
    assert "after 3 attempt(s)" in str(info.value)
    assert "s3://bucket/root/blobs/x" in str(info.value)
    assert info.value.key == "blobs/x"
    assert isinstance(info.value.__cause__, ConnectionResetError)


def test_retries_are_bounded_by_total_time() -> None:
    calls, slept = _calls(RetryPolicy(attempts=100, base_delay=1.0, max_delay=1.0, total_timeout=2.5))
    fn = _Flaky([TimeoutError()] * 100)
    with pytest.raises(BackendError, match="failed after"):
        calls("read", "k", fn)
    # delays of 0.5-1 s each: the next one would pass 2.5 s after 2-5 of them
    assert 3 <= fn.calls <= 6
    assert len(slept) == fn.calls - 1
    assert sum(slept) <= 2.5 < sum(slept) + 1.0


@pytest.mark.parametrize(
    "error",
    [_boto_error(403, "AccessDenied"), _boto_error(400, "InvalidBucketName"), OSError("Forbidden: /b/o")],
    ids=["403", "invalid-bucket", "gcs-forbidden"],
)
def test_permanent_failures_are_not_retried(error: Exception, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="artifactstore.backends")
    calls, slept = _calls()
    fn = _Flaky([error])
    with pytest.raises(BackendError) as info:
        calls("read", "blobs/x", fn)
    assert fn.calls == 1 and slept == []
    assert str(info.value).startswith("read s3://bucket/root/blobs/x failed:")
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_not_found_passes_through_for_reads_but_not_writes() -> None:
    calls, _ = _calls()
    with pytest.raises(FileNotFoundError) as info:
        calls("read", "k", _Flaky([FileNotFoundError("k")]))
    assert not isinstance(info.value, BackendError)
    with pytest.raises(BackendError, match="bucket or container does not exist"):
        calls("write", "k", _Flaky([FileNotFoundError("NoSuchBucket")]))


def test_bugs_propagate_unchanged() -> None:
    calls, slept = _calls()
    with pytest.raises(TypeError, match="a bug"):
        calls("read", "k", _Flaky([TypeError("a bug")]))
    assert slept == []


def test_retry_option_coercion() -> None:
    assert RetryPolicy.coerce(None) is DEFAULT_RETRY
    assert RetryPolicy.coerce(False) is NO_RETRY
    assert RetryPolicy.coerce(7).attempts == 7
    p = RetryPolicy(attempts=2)
    assert RetryPolicy.coerce(p) is p
    with pytest.raises(TypeError):
        RetryPolicy.coerce("often")


# --- 5xx from a real HTTP hop ------------------------------------------------------------------


class _FailingProxy(ThreadingHTTPServer):
    """Forwards to moto; answers the first ``failures`` PUTs with 500 InternalError itself."""

    daemon_threads = True

    def __init__(self, upstream: str, failures: int) -> None:
        super().__init__(("127.0.0.1", 0), _ProxyHandler)
        self.upstream = upstream.removeprefix("http://")
        self.failures = failures
        self.failed = 0
        self.lock = threading.Lock()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _ProxyHandler(BaseHTTPRequestHandler):
    server: _FailingProxy
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _handle(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with self.server.lock:
            fail = self.command == "PUT" and self.server.failed < self.server.failures
            if fail:
                self.server.failed += 1
        if fail:
            payload = b"<Error><Code>InternalError</Code><Message>injected</Message></Error>"
            self.send_response(500)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
            return
        conn = http.client.HTTPConnection(self.server.upstream, timeout=30)
        try:
            conn.request(self.command, self.path, body=body, headers=dict(self.headers))
            resp = conn.getresponse()
            data = resp.read()
        finally:
            conn.close()
        self.send_response(resp.status)
        for k, v in resp.getheaders():
            if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_PUT = do_HEAD = do_POST = do_DELETE = _handle


@pytest.fixture
def failing_proxy(moto_server: ServerHandle) -> Iterator[_FailingProxy]:
    proxy = _FailingProxy(moto_server.endpoint, failures=2)
    t = threading.Thread(target=proxy.serve_forever, daemon=True)
    t.start()
    yield proxy
    proxy.shutdown()
    proxy.server_close()
    t.join(10)


def test_server_errors_are_retried_end_to_end(
    s3_url: RemoteRoot, failing_proxy: _FailingProxy, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="artifactstore.backends")
    b = FsspecBackend(
        s3_url.url,
        endpoint_url=failing_proxy.endpoint,
        key="testing",
        secret=SECRET,
        config_kwargs={"retries": {"total_max_attempts": 1}},  # botocore's own retries off: ours act
        retry=FAST,
    )
    b.write_bytes("records/r.json", b'{"ok": true}')
    assert failing_proxy.failed == 2
    assert b.read_bytes("records/r.json") == b'{"ok": true}'
    retries = [r for r in caplog.records if r.name == "artifactstore.backends"]
    assert len(retries) == 2
    assert all("[500 InternalError]" in r.getMessage() for r in retries)
    assert not any(_leaks(r.getMessage()) for r in _checked_records(caplog))


# --- secrets ---------------------------------------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_secret_never_in_repr_errors_or_logs_s3(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    port = _closed_port()
    b = open_backend(
        "s3://bucket/store",
        endpoint=f"http://127.0.0.1:{port}",  # nothing listens: connection refused, a transient failure
        key="AKIAPLANTED",
        secret=SECRET,
        token=SECRET + "-session",
        config_kwargs={"retries": {"total_max_attempts": 1}},
        retry=FAST,
    )
    assert not _leaks(repr(b)) and not _leaks(str(b.url))
    with pytest.raises(BackendError) as info:
        b.write_bytes("records/x", b"x")
    assert "s3://bucket/store/records/x" in str(info.value)
    assert "failed after 3 attempt(s)" in str(info.value)
    assert not _leaks(str(info.value)) and not _leaks(repr(info.value))
    assert [r for r in caplog.records if r.name == "artifactstore.backends" and r.levelno == logging.INFO]
    for r in _checked_records(caplog):
        assert not _leaks(r.getMessage()), r.getMessage()


def test_secret_never_in_repr_errors_or_logs_azure(azure_url: RemoteRoot, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    import base64

    planted_key = base64.b64encode(SECRET.encode() * 2).decode()
    conn = servers.azurite_connection_string(azure_url.server.endpoint).replace(servers.AZURITE_KEY, planted_key)
    b = open_backend(azure_url.url, connection_string=conn, retry=FAST)
    assert planted_key not in repr(b)
    with pytest.raises(BackendError) as info:  # Azurite checks the signature: 403, not retried
        b.write_bytes("records/x", b"x")
    message = str(info.value)
    assert message.startswith(f"write {azure_url.url}/records/x failed")
    assert "403" in message
    assert planted_key not in message and not _leaks(message)
    for r in _checked_records(caplog):
        assert planted_key not in r.getMessage() and not _leaks(r.getMessage())


def test_scrub_removes_secret_shapes() -> None:
    opts = {
        "connection_string": f"DefaultEndpointsProtocol=https;AccountName=a;AccountKey={SECRET};",
        "endpoint_url": f"http://user:{SECRET}@host:1",
        "key": "AKIAPLANTED",
        "token": "anon",
    }
    secrets = redact.secret_values(opts)
    text = f"AccountKey={SECRET}; url http://user:{SECRET}@host:1/x?sig=abc&se=1 key AKIAPLANTED token=xyz anonymous"
    out = redact.scrub(text, secrets)
    assert not _leaks(out)
    assert "AKIAPLANTED" not in out and "sig=abc" not in out and "token=xyz" not in out
    assert "anonymous" in out  # "anon" is not a secret value


def test_connect_timeout_and_retry_budget_options() -> None:
    _, opts = resolve("s3://b", {"connect_timeout": 1.5, "config_kwargs": {"retries": {"max_attempts": 4}}})
    assert opts["config_kwargs"] == {"connect_timeout": 1.5, "retries": {"max_attempts": 4}}  # the user's kept
    _, opts = resolve("az://c", {"account_name": "a", "connect_timeout": 2})
    assert opts["connection_timeout"] == 2.0
    assert DEFAULT_RETRY.total_timeout == 10.0  # an unreachable endpoint fails within ~10 s by default
    policy = RetryPolicy.coerce({"attempts": 2, "total_timeout": 30})
    assert (policy.attempts, policy.total_timeout) == (2, 30.0)
    with pytest.raises(TypeError, match="not tries"):
        RetryPolicy.coerce({"tries": 3})


def test_the_error_that_ends_the_retries_names_the_budget() -> None:
    calls = RemoteCalls("s3://b/x", {"config_kwargs": {"connect_timeout": 3.0}},
                              RetryPolicy(attempts=2, base_delay=0.0, max_delay=0.0, total_timeout=7),
                              sleep=lambda _s: None)

    def refuse() -> None:
        raise ConnectionRefusedError(111, "Connection refused")

    with pytest.raises(BackendError) as info:
        calls("read", "store.json", refuse)
    msg = str(info.value)
    assert "failed after 2 attempt(s)" in msg
    assert "retry budget: 2 attempt(s) within 7 s" in msg and "-o retry=N" in msg
    assert "connect timeout 3 s" in msg and "\n" not in msg


def test_cloud_module_keeps_its_names() -> None:
    """``artifactstore.backends.cloud`` re-exports the names it held before the split, as the same objects."""
    from artifactstore.backends import clouds, failures, fsspec_backend, retry

    homes = (clouds, failures, fsspec_backend, options, retry, redact)
    for name in cloud.__all__:
        home = next(m for m in homes if name in vars(m))
        assert getattr(cloud, name) is getattr(home, name), name
