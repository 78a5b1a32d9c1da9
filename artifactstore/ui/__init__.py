"""Local web interface over a store (``artifactstore ui``); needs the ``[ui]`` extra."""

__all__: list[str] = []
