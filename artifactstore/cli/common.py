"""What every CLI command module needs: the shared state, :func:`get_store`, the
``--json`` option, output helpers, and the error type that ends a command.

A command module imports from here (never from :mod:`artifactstore.cli.main`)
and exposes ``register(group)``; ``main.COMMAND_MODULES`` lists the modules::

    # artifactstore/cli/commands_gc.py
    import click
    from .common import emit, get_store, json_option

    @click.command("gc")
    @json_option
    @click.pass_context
    def gc_cmd(ctx: click.Context, as_json: bool) -> None:
        store = get_store(ctx)
        ...
        emit(ctx, as_json, data=report.to_dict(), text="...")

    def register(group: click.Group) -> None:
        group.add_command(gc_cmd)
"""

from __future__ import annotations

import datetime as _dt
import errno
import json
import re
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from ..redact import redact_url

if TYPE_CHECKING:
    from ..models import Artifact
    from ..store import ArtifactStore

__all__ = [
    "DEFAULT_STORE",
    "EXIT_ERROR",
    "CliError",
    "State",
    "catalog_url",
    "emit",
    "get_state",
    "get_store",
    "is_interactive",
    "json_option",
    "local_root",
    "parse_json_value",
    "parse_key_value",
    "parse_when",
    "resolve_ref",
    "short_ids",
    "want_json",
]

DEFAULT_STORE = "./artifacts"
EXIT_ERROR = 1

F = TypeVar("F", bound=Callable[..., Any])


class CliError(click.ClickException):
    """Ends a command with ``error: <message>`` on stderr (one line) and exit code 1."""

    exit_code = EXIT_ERROR

    def __init__(self, message: str) -> None:
        super().__init__(one_line(message))

    def show(self, file: Any = None) -> None:
        click.echo(f"error: {self.format_message()}", err=True)


def one_line(message: str) -> str:
    """Collapse a (possibly multi-line) message into one line."""
    return " ".join(part.strip() for part in str(message).splitlines() if part.strip()) or "unknown error"


def describe_error(exc: BaseException) -> str:
    """A one-line, human description of an exception, without a traceback."""
    from ..errors import ArtifactStoreError

    if isinstance(exc, ArtifactStoreError):
        return one_line(str(exc))
    if isinstance(exc, OSError) and exc.strerror:
        where = exc.filename if exc.filename is not None else ""
        if exc.filename2 is not None:
            where = f"{exc.filename} -> {exc.filename2}"
        return one_line(f"{where}: {exc.strerror}" if where else exc.strerror)
    hint = credentials_hint(exc)
    if hint:
        return hint
    text = str(exc)
    return one_line(f"{type(exc).__name__}: {text}" if text else type(exc).__name__)


def credentials_hint(exc: BaseException) -> str | None:
    """A one-line fix for a cloud SDK's "no credentials" error (found anywhere in the cause chain)."""
    seen: BaseException | None = exc
    while seen is not None:
        name = type(seen).__name__
        if name in ("NoCredentialsError", "PartialCredentialsError"):
            return ("no S3 credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE), "
                    "or pass -o key=... -o secret=... (-o anon=true for a public bucket)")
        if name == "DefaultCredentialsError":
            return ("no GCS credentials found: set GOOGLE_APPLICATION_CREDENTIALS to a service-account key file, "
                    "or pass -o token=anon for a public bucket")
        seen = seen.__cause__ or seen.__context__
    return None


def is_broken_pipe(exc: BaseException) -> bool:
    return isinstance(exc, BrokenPipeError) or (isinstance(exc, OSError) and exc.errno == errno.EPIPE)


@dataclass
class State:
    """Global options, held in the root context's ``obj``."""

    store_url: str = DEFAULT_STORE
    catalog_url: str | None = None
    store_options: dict[str, Any] = field(default_factory=dict)
    json: bool = False
    debug: bool = False
    progress: bool | None = None  # None: automatic (a bar on a terminal, for large transfers)
    store: ArtifactStore | None = None
    created: bool = False


def get_state(ctx: click.Context) -> State:
    root = ctx.find_root()
    if not isinstance(root.obj, State):
        root.obj = State()
    return root.obj


def local_root(url: str) -> Path | None:
    """The folder of a local store URL (a plain path or ``file://``), else ``None``."""
    if "://" not in url:
        return Path(url).expanduser()
    scheme, _, rest = url.partition("://")
    if scheme.lower() in ("file", "local"):
        return Path(rest).expanduser()
    return None


def get_store(ctx: click.Context, *, create: bool = False, repair_catalog: bool = False) -> ArtifactStore:
    """The store named by ``--store``/``ARTIFACTSTORE_URL``, opened once per invocation
    and closed when the command ends.

    With ``create=False`` a local store that does not exist yet is an error (so that
    ``artifactstore ls`` in the wrong folder does not create ``./artifacts``);
    remote stores are opened as they are. ``repair_catalog``: see :func:`artifactstore.open`.
    """
    state = get_state(ctx)
    if state.store is not None:
        return state.store
    from ..store import open_store

    root = local_root(state.store_url)
    exists = root is None or (root / "store.json").is_file()
    if not exists and not create:
        raise CliError(
            f"no artifact store at {root} (create one with 'artifactstore init', "
            "or point --store / ARTIFACTSTORE_URL at an existing one)"
        )
    store = open_store(state.store_url, state.catalog_url, repair_catalog=repair_catalog, **state.store_options)
    state.store = store
    # A remote store has no folder to look at first: ask the store whether this open created it.
    state.created = bool(getattr(store, "created", False)) if root is None else not exists
    ctx.find_root().call_on_close(_closer(state))
    return store


def _closer(state: State) -> Callable[[], None]:
    def close() -> None:
        if state.store is not None:
            store, state.store = state.store, None
            store.close()

    return close


def json_option(f: F) -> F:
    """Add ``--json`` to a command; the value arrives as ``as_json``.

    The global ``artifactstore --json CMD`` turns it on too (see :func:`want_json`).
    """
    return click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON (exact sizes).")(f)


def want_json(ctx: click.Context, as_json: bool) -> bool:
    return as_json or get_state(ctx).json


def emit(ctx: click.Context, as_json: bool, *, data: Any, text: str | Callable[[], str]) -> None:
    """Print ``data`` as JSON if JSON was asked for, else ``text`` (a string or a callable making one)."""
    from .format import to_json

    if want_json(ctx, as_json):
        click.echo(to_json(data))
    else:
        out = text() if callable(text) else text
        if out:
            click.echo(out)


def shown_url(url: str) -> str:
    return redact_url(url) if "://" in url else url


def catalog_url(store: ArtifactStore) -> str:
    """The catalog URL to show people, without credentials.

    An SQLite URL holds no credentials; it is taken from the engine because
    ``redact_url`` turns ``sqlite:////abs/path`` into ``sqlite://abs/path``.
    """
    engine = getattr(store.catalog, "engine", None)
    url = getattr(engine, "url", None)
    if url is not None and str(getattr(url, "drivername", "")).startswith("sqlite"):
        return str(url)
    return str(store.catalog.url)


# --- short ids -------------------------------------------------------------------------------

_SHORT = re.compile(r"^[0-9a-f-]{4,35}$")
SHORT_ID_LENGTH = 8


def resolve_ref(store: ArtifactStore, ref: str) -> Artifact:
    """``store.resolve(ref)``, and when nothing has that id/name: the artifact whose id
    ends (the short form ``ls`` prints) or starts with ``ref``.

    A name always wins over a short id. Several matches raise
    :class:`~artifactstore.errors.AmbiguousRefError` listing them.
    """
    from ..errors import AmbiguousRefError, ArtifactNotFoundError

    try:
        return store.resolve(ref)
    except ArtifactNotFoundError:
        frag = ref.lower()
        if not _SHORT.match(frag):
            raise
        found = store.catalog.ids_matching(frag, limit=11)
        if len(found) > 1:
            raise AmbiguousRefError(ref, found[:10], more=len(found) > 10) from None
        if not found:
            raise
        return store.resolve(found[0])


def short_ids(store: ArtifactStore, ids: Iterable[str]) -> dict[str, str]:
    """The short form of each id, as ``ls`` prints it: its last 8 hex digits (the random
    part: UUIDv7s of one batch share their leading, time-ordered digits), lengthened up
    to the last 12, then the full id, until no other artifact in the catalog matches it."""
    out: dict[str, str] = {}
    for aid in ids:
        tail = aid.replace("-", "")
        short = aid
        for n in (SHORT_ID_LENGTH, 12):
            cand = tail[-n:]
            if store.catalog.ids_matching(cand, limit=2) == [aid]:
                short = cand
                break
        out[aid] = short
    return out


# --- parsing ---------------------------------------------------------------------------------


def parse_json_value(text: str) -> Any:
    """JSON if ``text`` parses as JSON (``3``, ``true``, ``"3"``, ``[1,2]``), else the string itself."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def parse_key_value(items: Iterable[str], param: str = "--meta") -> dict[str, Any]:
    """``["a=1", "b=x"]`` -> ``{"a": 1, "b": "x"}`` (values parsed as JSON when they parse)."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise click.BadParameter(f"expected key=value, got {item!r}", param_hint=param)
        out[key] = parse_json_value(value)
    return out


def parse_json_object(text: str | None, param: str = "--meta-json") -> dict[str, Any]:
    if text is None:
        return {}
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise click.BadParameter(f"not valid JSON: {exc}", param_hint=param) from None
    if not isinstance(value, dict):
        raise click.BadParameter(f"expected a JSON object, got {type(value).__name__}", param_hint=param)
    return value


_RELATIVE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_when(text: str | None, param: str) -> _dt.datetime | None:
    """An ISO date/time (``2024-05-01``, ``2024-05-01T12:00:00+02:00``; naive means UTC)
    or a relative age (``30m``, ``12h``, ``7d``, ``2w`` ago)."""
    if text is None:
        return None
    m = _RELATIVE.match(text)
    if m:
        delta = _dt.timedelta(seconds=float(m.group(1)) * _SECONDS[m.group(2)])
        return _dt.datetime.now(_dt.UTC) - delta
    try:
        value = _dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(
            f"expected an ISO date such as 2024-05-01 or 2024-05-01T12:00:00Z, or an age such as 7d; got {text!r}",
            param_hint=param,
        ) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=_dt.UTC)
    return value


def merge_metadata(meta: Iterable[str], meta_json: str | None) -> dict[str, Any] | None:
    """``--meta-json`` first, then each ``--meta key=value`` on top; ``None`` when neither is given."""
    merged = parse_json_object(meta_json)
    merged.update(parse_key_value(meta))
    return merged or None


def is_interactive() -> bool:
    """Whether we may ask the user a question (stdin is a terminal)."""
    try:
        return sys.stdin.isatty()
    except (AttributeError, ValueError):
        return False
