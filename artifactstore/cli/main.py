"""The ``artifactstore`` command: the click group, its global options, and error handling.

Commands live in modules listed in :data:`COMMAND_MODULES`; each exposes
``register(group: click.Group) -> None``. To add a command group, write a module
under ``artifactstore/cli/`` that imports its helpers from
:mod:`artifactstore.cli.common` (``get_store``, ``json_option``, ``emit``,
``CliError``) and append its dotted name here. Keep heavy imports inside the
command functions: every module is imported on every invocation.
"""

from __future__ import annotations

import importlib
import logging
import sys
from collections.abc import Sequence
from typing import Any

import click

from .._version import __version__
from .common import DEFAULT_STORE, CliError, State, credentials_hint, describe_error, get_state, is_broken_pipe

__all__ = ["COMMAND_MODULES", "cli", "main", "register_commands"]

#: Modules whose ``register(group)`` adds commands to ``artifactstore``.
COMMAND_MODULES: list[str] = [
    "artifactstore.cli.commands_core",
    "artifactstore.cli.commands_eval",
    "artifactstore.cli.commands_archive",
    "artifactstore.cli.commands_cache",
    "artifactstore.cli.commands_search",
    "artifactstore.cli.commands_record",
    "artifactstore.cli.commands_report",
    "artifactstore.cli.commands_ui",
]


class ArtifactStoreGroup(click.Group):
    """A click group that turns library errors into one ``error: ...`` line and exit code 1
    (a traceback only with ``--debug``)."""

    def invoke(self, ctx: click.Context) -> Any:
        from ..errors import ArtifactStoreError

        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.Abort, click.ClickException):
            raise
        except (ArtifactStoreError, OSError) as exc:
            if is_broken_pipe(exc) or _debug(ctx):
                raise
            raise CliError(describe_error(exc)) from exc
        except Exception as exc:
            if _debug(ctx):
                raise
            hint = credentials_hint(exc)
            if hint:
                raise CliError(hint) from exc
            raise CliError(f"{describe_error(exc)} (unexpected; run with --debug for the traceback)") from exc


def _debug(ctx: click.Context) -> bool:
    return isinstance(ctx.obj, State) and ctx.obj.debug


def _store_options(_ctx: click.Context, _param: click.Parameter, values: Sequence[str]) -> dict[str, Any]:
    from .common import parse_key_value

    return parse_key_value(values, "--store-option")


@click.group(cls=ArtifactStoreGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--store", "store_url", envvar="ARTIFACTSTORE_URL", default=DEFAULT_STORE, show_default=True,
              show_envvar=True, metavar="URL",
              help="Store location: a folder, file://, s3://, gs://, az://, memory:// or a plugin's scheme.")
@click.option("--catalog", "catalog_url", envvar="ARTIFACTSTORE_CATALOG", default=None, show_envvar=True,
              metavar="URL",
              help="Catalog database (sqlite:///path, postgresql://...). Default: catalog.db inside a local store, "
                   "else an SQLite file in the user cache folder.")
@click.option("-o", "--store-option", "store_options", multiple=True, metavar="KEY=VALUE", callback=_store_options,
              help="Storage option for the backend (e.g. endpoint_url=http://...); repeatable. "
                   "Values are parsed as JSON when they parse.")
@click.option("--json", "as_json", is_flag=True, help="JSON output for every command (same as each command's --json).")
@click.option("--progress/--no-progress", default=None,
              help="Force progress bars on or off (default: on a terminal, for transfers of 8 MiB or more).")
@click.option("--debug", is_flag=True, envvar="ARTIFACTSTORE_DEBUG",
              help="Show tracebacks and the library's debug log on stderr.")
@click.version_option(__version__, "-V", "--version", prog_name="artifactstore")
@click.pass_context
def cli(ctx: click.Context, store_url: str, catalog_url: str | None, store_options: dict[str, Any], as_json: bool,
        progress: bool | None, debug: bool) -> None:
    """Store, find and verify model-evaluation artifacts.

    \b
    Refs name an artifact: its id, NAME (latest version), NAME@v3 or NAME:ALIAS.
    Exit codes: 0 success, 1 error (one 'error: ...' line on stderr) or a failed
    verify, 2 bad usage.
    """
    state = get_state(ctx)
    state.store_url = store_url
    state.catalog_url = catalog_url
    state.store_options = store_options
    state.json = as_json
    state.progress = progress
    state.debug = debug
    if debug:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
        log = logging.getLogger("artifactstore")
        log.addHandler(handler)
        log.setLevel(logging.DEBUG)


def register_commands(group: click.Group, modules: Sequence[str]) -> None:
    """Import each module and call its ``register(group)``."""
    for name in modules:
        module = importlib.import_module(name)
        register = getattr(module, "register", None)
        if not callable(register):
            raise TypeError(f"CLI command module {name} has no register(group) function")
        register(group)


register_commands(cli, COMMAND_MODULES)


def main(argv: Sequence[str] | None = None) -> None:
    """Console-script entry point: ``artifactstore ...`` (exits with the command's exit code)."""
    cli.main(args=list(argv) if argv is not None else None, prog_name="artifactstore", obj=State())
