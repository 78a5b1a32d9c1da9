"""The ``artifactstore`` command-line interface (click).

``artifactstore.cli.main`` holds the click group and ``main()``;
``artifactstore.cli.common`` holds what command modules share (``get_store``,
``json_option``, ``emit``, ``CliError``); ``commands_core`` the core commands.
"""

from __future__ import annotations

__all__ = ["main"]


def main() -> None:
    """Run the ``artifactstore`` command (the console script's target)."""
    from .main import main as _main

    _main()
