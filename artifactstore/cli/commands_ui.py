"""The ``ui`` command: serve the web interface (needs the ``[ui]`` extra; see docs/ui.md)."""

from __future__ import annotations

import ipaddress
import os

import click

from .common import CliError, get_store

__all__ = ["register", "is_loopback"]


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``; every other address (0.0.0.0 too) is not loopback."""
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@click.command("ui")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8765, show_default=True, type=click.IntRange(0, 65535), help="TCP port.")
@click.option("--token", default=None, metavar="TOKEN",
              help="Allow changes (upload, alias, tags, delete) to holders of TOKEN; default: read-only. "
                   "Env: ARTIFACTSTORE_UI_TOKEN.")
@click.option("--open", "open_browser", is_flag=True, help="Open the overview in a web browser.")
@click.pass_context
def ui_cmd(ctx: click.Context, host: str, port: int, token: str | None, open_browser: bool) -> None:
    """Serve the web interface over the store: browse, search, preview, compare.

    \b
    Read-only unless a token is given; refuses a non-loopback --host without one.
    Every page is also JSON (Accept: application/json or a .json suffix).
    """
    token = token or os.environ.get("ARTIFACTSTORE_UI_TOKEN") or None
    if not is_loopback(host) and not token:
        raise CliError(f"refusing to listen on non-loopback address {host} without --token "
                       "(or ARTIFACTSTORE_UI_TOKEN)")
    if token is not None and len(token) < 8:
        raise CliError("the token must be at least 8 characters")
    try:
        import uvicorn

        from ..ui.app import create_app
    except ImportError as exc:
        from ..errors import MissingDependencyError

        raise MissingDependencyError(exc.name or "starlette", "ui", "the web interface") from None
    store = get_store(ctx)
    app = create_app(store, token=token)
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{port}/"
    click.echo(f"serving {url} ({'writes need the token' if token else 'read-only'}); Ctrl+C stops", err=True)
    if open_browser:
        import threading
        import webbrowser

        threading.Timer(1.0, webbrowser.open, args=(url,)).start()
    # access_log off: request lines would carry /login?token=... query strings
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)


def register(group: click.Group) -> None:
    group.add_command(ui_cmd)
