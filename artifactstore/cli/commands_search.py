"""The ``search`` command: full-text search over the catalog (see docs/search.md)."""

from __future__ import annotations

from typing import Any

import click

from .common import get_store, json_option, want_json
from .format import human_size, local_time, short_id, table, to_json

__all__ = ["register"]


@click.command("search")
@click.argument("text")
@click.option("--type", "artifact_types", multiple=True, metavar="TYPE", help="Artifact type; repeatable (any of).")
@click.option("--model", "model_id", default=None, help="Model id.")
@click.option("--evaluation", "evaluation_id", default=None, help="Evaluation id.")
@click.option("--tag", "tags", multiple=True, metavar="TAG", help="Tag; repeatable (any of them).")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(min=0), help="At most this many (0: all).")
@click.option("--offset", default=0, show_default=True, type=click.IntRange(min=0), help="Skip this many first.")
@json_option
@click.pass_context
def search_cmd(ctx: click.Context, text: str, artifact_types: tuple[str, ...], model_id: str | None,
               evaluation_id: str | None, tags: tuple[str, ...], limit: int, offset: int, as_json: bool) -> None:
    """Artifacts matching TEXT, best match first, then newest.

    \b
    TEXT: words (all must match), "exact phrase", prefix*, -excluded.
    Searches names, type, model, evaluation, suite, map, episode, tags and metadata.
    """
    from .commands_core import artifact_json

    filters: dict[str, Any] = {"model_id": model_id, "evaluation_id": evaluation_id}
    if artifact_types:
        filters["artifact_type"] = artifact_types[0] if len(artifact_types) == 1 else list(artifact_types)
    if tags:
        filters["tags"] = list(tags)
    filters = {k: v for k, v in filters.items() if v is not None}
    arts = get_store(ctx).search(text, limit=limit or None, offset=offset, **filters)
    if want_json(ctx, as_json):
        click.echo(to_json([artifact_json(a) for a in arts]))
        return
    if not arts:
        click.echo("no artifacts match", err=True)
        return
    rows = [
        (short_id(a.id), a.ref, a.artifact_type, a.model_id or "-", human_size(a.size), local_time(a.created_at))
        for a in arts
    ]
    click.echo(table(["ID", "REF", "TYPE", "MODEL", "SIZE", "CREATED"], rows, align="llllrl"))


def register(group: click.Group) -> None:
    group.add_command(search_cmd)
