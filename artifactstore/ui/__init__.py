"""The web interface: ``artifactstore ui`` (needs the ``[ui]`` extra; see docs/ui.md).

Importing this package does not import Starlette or Jinja2; :func:`create_app` does.
"""

from __future__ import annotations

from typing import Any

__all__ = ["create_app"]


def create_app(store: Any, *, token: str | None = None, resamples: int = 2000) -> Any:
    """The Starlette app over ``store`` (see :func:`artifactstore.ui.app.create_app`)."""
    from .app import create_app as _create

    return _create(store, token=token, resamples=resamples)
