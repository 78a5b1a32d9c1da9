"""The ``search`` command: full-text search over the catalog (see docs/search.md)."""

from __future__ import annotations

from typing import Any

import click

from .common import get_store, json_option, short_ids, want_json
from .format import human_size, local_time, table, to_json

__all__ = ["register"]


@click.command("search")
@click.argument("text")
@click.option("--type", "artifact_types", multiple=True, metavar="TYPE", help="Artifact type; repeatable (any of).")
@click.option("--model", "model_id", default=None, help="Model id.")
@click.option("--evaluation", "evaluation_id", default=None, help="Evaluation id.")
@click.option("--tag", "tags", multiple=True, metavar="TAG", help="Tag; repeatable (any of them).")
@click.option("--limit", default=None, type=click.IntRange(min=0),
              help="At most this many (0: all). Default: 50 in the table, every match with --json.")
@click.option("--offset", default=0, show_default=True, type=click.IntRange(min=0),
              help="Skip this many first (the cursor the 'more' line on stderr gives).")
@json_option
@click.pass_context
def search_cmd(ctx: click.Context, text: str, artifact_types: tuple[str, ...], model_id: str | None,
               evaluation_id: str | None, tags: tuple[str, ...], limit: int | None, offset: int,
               as_json: bool) -> None:
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
    store = get_store(ctx)
    json_out = want_json(ctx, as_json)
    if limit is None:
        limit = 0 if json_out else 50
    # one more than the page: whether matches were left out, without counting them all
    arts = store.search(text, limit=limit + 1 if limit else None, offset=offset, **filters)
    more = bool(limit) and len(arts) > limit
    arts = arts[:limit] if limit else arts
    if json_out:
        click.echo(to_json([artifact_json(a) for a in arts]))
    elif not arts:
        click.echo("no artifacts match", err=True)
    else:
        shorts = short_ids(store, [a.id for a in arts])
        rows = [(shorts[a.id], a.ref, a.artifact_type, a.model_id or "-", human_size(a.size),
                 local_time(a.created_at)) for a in arts]
        click.echo(table(["ID", "REF", "TYPE", "MODEL", "SIZE", "CREATED"], rows, align="llllrl"))
    if more:
        click.echo(f"showing {offset + 1}-{offset + len(arts)}; more match: next page --offset {offset + len(arts)} "
                   "(--limit 0 for all)", err=True)


def register(group: click.Group) -> None:
    group.add_command(search_cmd)
