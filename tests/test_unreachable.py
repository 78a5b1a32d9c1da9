"""An unreachable endpoint fails fast, in one line that names the budget (issue 13).

The endpoints are real sockets on loopback, not mocks: a listener whose accept
queue is full (the kernel then drops further SYNs, so a connect hangs exactly as
it does to a blackholed host), a closed port (refused), and a name under the
reserved ``.invalid`` domain (never resolves, RFC 6761). Each case runs the real
CLI in a subprocess, so the SDKs' own retries (gcsfs: 6 with backoffs up to 16 s;
azure-storage-blob: 3 with backoffs of 15-42 s) are in play as for a user.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from artifactstore.backends.reach import EndpointUnreachable, check_reachable, endpoint_of

AZ_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


@pytest.fixture(scope="module")
def blackhole() -> Iterator[int]:
    """A loopback port that never completes a TCP handshake."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = server.getsockname()[1]
    fillers = []
    for _ in range(4):  # fill the accept queue; SYNs beyond it are dropped
        c = socket.socket()
        c.setblocking(False)
        try:
            c.connect(("127.0.0.1", port))
        except BlockingIOError:
            pass
        fillers.append(c)
    time.sleep(0.2)
    probe = socket.socket()
    probe.settimeout(0.5)
    try:
        probe.connect(("127.0.0.1", port))
    except (TimeoutError, BlockingIOError):
        pass
    else:
        pytest.skip("this kernel completes handshakes beyond a full accept queue: no local blackhole")
    finally:
        probe.close()
    yield port
    for c in fillers:
        c.close()
    server.close()


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port: int = s.getsockname()[1]
    s.close()
    return port


def _store_args(kind: str, host: str, port: int) -> list[str]:
    if kind == "s3":
        return ["--store", "s3://bucket/root", "-o", f"endpoint_url=http://{host}:{port}"]
    if kind == "gs":
        return ["--store", "gs://bucket/root", "-o", f"endpoint_url=http://{host}:{port}", "-o", "token=anon"]
    conn = (f"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={AZ_KEY};"
            f"BlobEndpoint=http://{host}:{port}/devstoreaccount1;")
    return ["--store", "az://container/root", "-o", f"connection_string={conn}"]


def _run(tmp_path: Path, args: list[str]) -> tuple[subprocess.CompletedProcess[str], float]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "AZURE_", "GOOGLE_", "ARTIFACTSTORE_"))}
    env.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", ARTIFACTSTORE_CACHE_DIR=str(tmp_path))
    start = time.monotonic()
    r = subprocess.run([sys.executable, "-m", "artifactstore.cli", *args, "ls"], env=env, cwd=tmp_path,
                       capture_output=True, text=True, timeout=120)
    return r, time.monotonic() - start


@pytest.mark.parametrize("kind", ["s3", "gs", "az"])
def test_blackholed_endpoint_fails_within_the_budget(kind: str, blackhole: int, tmp_path: Path) -> None:
    r, took = _run(tmp_path, _store_args(kind, "127.0.0.1", blackhole))
    assert r.returncode == 1
    # The default budget is 5 attempts within 10 s with a 3 s connect timeout; the SDKs'
    # own retries underneath took 47-88 s. Process start-up and imports come on top.
    assert took < 25, f"{kind}: {took:.1f} s"
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    msg = lines[0]
    assert msg.startswith("error: ") and f"127.0.0.1:{blackhole}" in msg
    assert "no connection within 3 s" in msg
    assert "retry budget: 5 attempt(s) within 10 s" in msg and "-o retry=N" in msg


@pytest.mark.parametrize("kind", ["s3", "gs", "az"])
def test_refused_endpoint_fails_fast(kind: str, tmp_path: Path) -> None:
    port = _closed_port()
    r, took = _run(tmp_path, [*_store_args(kind, "127.0.0.1", port), "-o", "retry=2"])
    assert r.returncode == 1
    assert took < 15, f"{kind}: {took:.1f} s"
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert f"cannot reach 127.0.0.1:{port}: Connection refused" in lines[0]
    assert "failed after 2 attempt(s)" in lines[0] and "retry budget: 2 attempt(s)" in lines[0]


def test_unresolvable_azure_account_names_the_host(tmp_path: Path) -> None:
    conn = (f"DefaultEndpointsProtocol=https;AccountName=nosuchaccount;AccountKey={AZ_KEY};"
            "BlobEndpoint=https://nosuchaccount.blob.example.invalid;")
    r, took = _run(tmp_path, ["--store", "az://container/root", "-o", f"connection_string={conn}"])
    assert r.returncode == 1
    assert took < 25
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert "cannot reach nosuchaccount.blob.example.invalid:443" in lines[0]
    assert AZ_KEY not in r.stderr


def test_endpoint_of_each_cloud() -> None:
    assert endpoint_of("s3", {"endpoint_url": "http://127.0.0.1:9000"}) == ("127.0.0.1", 9000)
    assert endpoint_of("s3", {"endpoint_url": "https://minio.example"}) == ("minio.example", 443)
    assert endpoint_of("gs", {}) == ("storage.googleapis.com", 443)
    assert endpoint_of("gs", {"endpoint_url": "http://localhost:4443"}) == ("localhost", 4443)
    assert endpoint_of("az", {"account_name": "acct"}) == ("acct.blob.core.windows.net", 443)
    assert endpoint_of("az", {"account_host": "acct.blob.core.chinacloudapi.cn"}) == (
        "acct.blob.core.chinacloudapi.cn", 443)
    conn = "AccountName=acct;AccountKey=k;EndpointSuffix=core.usgovcloudapi.net"
    assert endpoint_of("az", {"connection_string": conn}) == ("acct.blob.core.usgovcloudapi.net", 443)
    conn = "AccountName=devstoreaccount1;BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1"
    assert endpoint_of("abfs", {"connection_string": conn}) == ("127.0.0.1", 10000)
    assert endpoint_of("memory", {}) is None


def test_check_reachable_remembers_a_success_and_names_a_failure() -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    port = server.getsockname()[1]
    check_reachable(("127.0.0.1", port), 3.0)
    server.close()
    check_reachable(("127.0.0.1", port), 3.0)  # remembered: no second handshake per process
    closed = _closed_port()
    with pytest.raises(EndpointUnreachable, match=f"cannot reach 127.0.0.1:{closed}: Connection refused"):
        check_reachable(("127.0.0.1", closed), 3.0)
