"""The ``report`` command: an evaluation report from the stored episode tables."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from .common import emit, get_store, json_option, want_json

__all__ = ["register"]


@click.command("report")
@click.option("--model", "models", multiple=True, metavar="MODEL",
              help="Only this model (repeatable). Default: every model with episode data.")
@click.option("--evaluation", "evaluations", multiple=True, metavar="EVALUATION",
              help="Use exactly these evaluations' episode tables, pooled per model (repeatable). "
                   "Default: each model's newest evaluation with episode data.")
@click.option("--metric", default="reward", show_default=True, help="Numeric episode column to rank by.")
@click.option("--cost", default=None, metavar="COLUMN",
              help="Numeric episode column used as the cost axis of the Pareto plot (e.g. steps).")
@click.option("--lower-is-better", is_flag=True, help="A smaller metric is better (e.g. a loss or a time).")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Bootstrap seed: the same inputs and seed give byte-identical JSON.")
@click.option("--resamples", type=click.IntRange(min=100), default=10000, show_default=True,
              help="Bootstrap resamples.")
@click.option("--html", "html_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write a self-contained HTML report (figures inline) to this file.")
@click.option("--markdown", "md_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the report as Markdown to this file.")
@click.option("--no-store", is_flag=True,
              help="Do not store the report and its figures as artifacts (types report and plot).")
@json_option
@click.pass_context
def report_cmd(ctx: click.Context, models: tuple[str, ...], evaluations: tuple[str, ...], metric: str,
               cost: str | None, lower_is_better: bool, seed: int, resamples: int, html_path: Path | None,
               md_path: Path | None, no_store: bool, as_json: bool) -> None:
    """Leaderboard with 95% CIs, per-map table, comparisons and summary (needs artifactstore[report]).

    \b
    Intervals: stratified bootstrap over episodes within each map; success rate:
    Wilson; comparisons: probability of improvement with Holm-corrected p-values.
    Without --no-store the report JSON and its SVG figures are stored in the store.
    """
    from ..evaluation.report import build_report

    store = get_store(ctx)
    rep = build_report(store, models=list(models) or None, evaluations=list(evaluations) or None, metric=metric,
                       cost=cost, seed=seed, resamples=resamples, lower_is_better=lower_is_better,
                       figures=not no_store or html_path is not None)
    if html_path is not None:
        rep.to_html(html_path)
        click.echo(f"wrote {html_path}", err=True)
    if md_path is not None:
        md_path.parent.mkdir(parents=True, exist_ok=True)
        md_path.write_text(rep.to_markdown(), encoding="utf-8")
        click.echo(f"wrote {md_path}", err=True)
    if not no_store:
        saved = rep.save(store)
        click.echo(f"stored report {saved['report'].ref} ({saved['report'].id}) and {len(saved['figures'])} "
                   "figure(s)", err=True)
    if want_json(ctx, as_json):
        sys.stdout.write(rep.to_json())
        return
    emit(ctx, False, data=None, text=rep.to_markdown().rstrip("\n"))


def register(group: click.Group) -> None:
    group.add_command(report_cmd)
