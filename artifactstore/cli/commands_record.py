"""Recording commands: record-eval (an evaluation and its scores), promote (a champion), du, and the edits of
an existing artifact: tag (add/remove tags) and meta (set/unset metadata), journalled so reindex keeps them."""

from __future__ import annotations

from typing import Any

import click

from .common import CliError, emit, get_store, json_option, parse_json_object, parse_key_value, resolve_ref

__all__ = ["register"]


@click.command("record-eval")
@click.argument("evaluation_id")
@click.option("--model", "model_id", required=True, help="The evaluated model's id.")
@click.option("--score", "global_score", type=float, required=True, help="Global score (a finite number).")
@click.option("--success-rate", type=float, required=True, help="Success rate, 0 to 1.")
@click.option("--artifact", "artifacts", multiple=True, metavar="REF",
              help="An artifact this evaluation produced (id, short id or ref); repeatable.")
@click.option("--metrics-json", default=None, metavar="JSON", help="Further metrics as a JSON object.")
@click.option("--meta-json", default=None, metavar="JSON", help="Metadata as a JSON object.")
@json_option
@click.pass_context
def record_eval_cmd(ctx: click.Context, evaluation_id: str, model_id: str, global_score: float, success_rate: float,
                    artifacts: tuple[str, ...], metrics_json: str | None, meta_json: str | None,
                    as_json: bool) -> None:
    """Record (or replace) the evaluation EVALUATION_ID of a model: journalled, restored by reindex."""
    store = get_store(ctx)
    arts = [resolve_ref(store, r) for r in artifacts]
    rec = store.record_evaluation(
        evaluation_id, model_id, global_score=global_score, success_rate=success_rate,
        metrics=parse_json_object(metrics_json, "--metrics-json"), artifacts=arts,
        metadata=parse_json_object(meta_json, "--meta-json"))
    emit(ctx, as_json, data=rec.to_dict(),
         text=f"recorded evaluation {rec.evaluation_id} of {rec.model_id}: score {rec.global_score:.4f}, "
              f"success {rec.success_rate:.1%}, {len(rec.artifacts)} artifacts")


@click.command("promote")
@click.argument("evaluation_id")
@click.option("--force", is_flag=True, help="Promote even if the score does not beat the current champion's.")
@click.option("--require-significant", is_flag=True,
              help="Also require the evaluation's episode data to beat the champion's: the 95% bootstrap "
                   "interval of the difference of the mean --metric above zero (needs artifactstore[report]).")
@click.option("--metric", default="reward", show_default=True,
              help="Episode column judged by --require-significant.")
@json_option
@click.pass_context
def promote_cmd(ctx: click.Context, evaluation_id: str, force: bool, require_significant: bool, metric: str,
                as_json: bool) -> None:
    """Make the model of the recorded evaluation EVALUATION_ID the champion, with its scores.

    Without --force, only when its score beats the current champion's (exit code 1 otherwise).
    With --require-significant the evidence report is stored and linked to the champion record.
    """
    store = get_store(ctx)
    rec = store.evaluation(evaluation_id)
    metrics, artifacts = dict(rec.metrics), list(rec.artifacts)
    if require_significant:
        # judged here rather than by promote_champion(require_significant=True) to print the reason
        from ..evaluation.evidence import champion_evidence, record_evidence

        ev = champion_evidence(store, rec.model_id, evaluation_id=rec.evaluation_id, metric=metric)
        if not ev.significant:
            raise CliError(f"not promoted: {ev.reason}")
        entry, extra = record_evidence(store, ev)
        metrics["evidence"] = entry
        artifacts += extra
    champ = store.promote_champion(
        rec.model_id, evaluation_id=rec.evaluation_id, global_score=rec.global_score,
        success_rate=rec.success_rate, metrics=metrics, artifacts=artifacts, only_if_better=not force)
    if champ is None:
        cur = store.champion()
        best = f"{cur.model_id} ({cur.global_score:.4f})" if cur else "-"
        raise CliError(f"not promoted: score {rec.global_score:.4f} does not beat the champion {best} "
                       "(--force promotes anyway)")
    data: dict[str, Any] = champ.to_dict()
    emit(ctx, as_json, data=data,
         text=f"champion #{champ.seq}: {champ.model_id} (evaluation {evaluation_id}, score {champ.global_score:.4f}, "
              f"previous {champ.previous_model_id or '-'})")


@click.command("tag")
@click.argument("ref")
@click.argument("tags", nargs=-1, metavar="[TAG...]")
@click.option("--remove", "remove", multiple=True, metavar="TAG", help="Remove this tag; repeatable.")
@json_option
@click.pass_context
def tag_cmd(ctx: click.Context, ref: str, tags: tuple[str, ...], remove: tuple[str, ...], as_json: bool) -> None:
    """Add TAGs to the artifact REF (and take --remove ones off); print its tags.

    \b
    Without TAG or --remove it only prints the tags. The change is journalled:
    reindex keeps it. Content, name, version and id do not change.
    """
    from .commands_core import artifact_json

    store = get_store(ctx)
    art = resolve_ref(store, ref)
    if tags or remove:
        art = store.edit_artifact(art, add_tags=tags, remove_tags=remove)
    emit(ctx, as_json, data=artifact_json(art),
         text=f"{art.ref}: " + (", ".join(art.tags) if art.tags else "(no tags)"))


@click.command("meta")
@click.argument("ref")
@click.argument("entries", nargs=-1, metavar="[KEY=VALUE...]")
@click.option("--unset", "unset", multiple=True, metavar="KEY", help="Remove this top-level metadata key; repeatable.")
@json_option
@click.pass_context
def meta_cmd(ctx: click.Context, ref: str, entries: tuple[str, ...], unset: tuple[str, ...], as_json: bool) -> None:
    """Set top-level metadata KEY=VALUE on the artifact REF (VALUE is JSON if it parses); print its metadata.

    \b
    --unset removes keys first. Without KEY=VALUE or --unset it only prints.
    The change is journalled: reindex keeps it.
    """
    import json

    from .commands_core import artifact_json

    store = get_store(ctx)
    art = resolve_ref(store, ref)
    sets = parse_key_value(entries, "KEY=VALUE")
    if sets or unset:
        missing = [k for k in unset if k not in art.metadata]
        if missing:
            raise CliError(f"{art.ref} has no metadata key {', '.join(map(repr, missing))} "
                           f"(its keys: {', '.join(sorted(art.metadata)) or 'none'})")
        art = store.edit_artifact(art, set_metadata=sets, unset_metadata=unset)
    emit(ctx, as_json, data=artifact_json(art),
         text=lambda: "\n".join([f"{art.ref}:"] + [f"  {k}: {json.dumps(v, ensure_ascii=False)}"
                                                     for k, v in sorted(art.metadata.items())]
                                + ([] if art.metadata else ["  (no metadata)"])))


def register(group: click.Group) -> None:
    for cmd in (record_eval_cmd, promote_cmd, du_cmd, tag_cmd, meta_cmd):
        group.add_command(cmd)


@click.command("du")
@click.option("--by", "by", type=click.Choice(["type", "model", "prefix"]), default="type", show_default=True,
              help="Group by artifact type, model id, or the name's first path segment.")
@json_option
@click.pass_context
def du_cmd(ctx: click.Context, by: str, as_json: bool) -> None:
    """Original and stored bytes per group (streams over the catalog).

    Stored bytes count each artifact's blob; blobs shared by deduplication are counted in every group.
    """
    from .format import human_size, table

    store = get_store(ctx)
    groups: dict[str, list[int]] = {}
    for a in store.catalog.iter_all():
        key = {"type": a.artifact_type, "model": a.model_id or "-",
               "prefix": a.name.split("/", 1)[0] + ("/" if "/" in a.name else "")}[by]
        g = groups.setdefault(key, [0, 0, 0])
        g[0] += 1
        g[1] += a.size
        g[2] += a.stored_size
    rows = sorted(groups.items(), key=lambda kv: -kv[1][2])
    data = [{by: k, "artifacts": n, "original_bytes": o, "stored_bytes": st} for k, (n, o, st) in rows]
    emit(ctx, as_json, data=data,
         text=lambda: table([by.upper(), "ARTIFACTS", "ORIGINAL", "STORED"],
                            [(k, n, human_size(o), human_size(st)) for k, (n, o, st) in rows], align="lrrr")
         if rows else "the store is empty")
