"""Evaluation-workflow commands: history, champions, gc, export-episodes, demo."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from .common import CliError, emit, get_store, json_option, want_json

__all__ = ["register"]


@click.command("history")
@click.option("--model", "model_id", help="Only this model's evaluations.")
@click.option("--champions", "champions_only", is_flag=True, help="Only evaluations that became champion.")
@click.option("--limit", type=click.IntRange(min=0), default=None,
              help="At most this many (0: all). Default: 50 in the table, every record with --json.")
@json_option
@click.pass_context
def history_cmd(ctx: click.Context, model_id: str | None, champions_only: bool, limit: int | None,
                as_json: bool) -> None:
    """Evaluation history, newest first (a page that leaves records out says so on stderr)."""
    from .format import local_time, table

    store = get_store(ctx)
    if limit is None:
        limit = 0 if want_json(ctx, as_json) else 50
    recs = store.evaluations(model_id, champions_only=champions_only, limit=limit + 1 if limit else None)
    if limit and len(recs) > limit:
        recs = recs[:limit]
        click.echo(f"showing the newest {limit} evaluations; more exist (--limit 0 for all)", err=True)
    # ids recorded as given (the seed facade) or whose artifacts were deleted since: listed, not hidden
    dangling = {r.evaluation_id: store.catalog.missing_ids(list(r.artifacts)) for r in recs}
    rows = [(r.evaluation_id, r.model_id, f"{r.global_score:.4f}", f"{r.success_rate:.1%}",
             "yes" if r.is_champion else "",
             f"{len(r.artifacts)} ({len(dangling[r.evaluation_id])} dangling)" if dangling[r.evaluation_id]
             else len(r.artifacts), local_time(r.timestamp)) for r in recs]
    emit(ctx, as_json, data=[{**r.to_dict(), "dangling_artifacts": dangling[r.evaluation_id]} for r in recs],
         text=lambda: table(["evaluation", "model", "score", "success", "champion", "artifacts", "when"], rows,
                            align="llrrlrl") if rows else "no evaluations recorded")


@click.command("champions")
@click.option("--limit", type=click.IntRange(min=0), default=0, show_default=True, help="At most this many (0: all).")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the champion progression as a PNG (needs artifactstore[plot]); "
                   "with no champion yet nothing is written and the exit code is 1.")
@json_option
@click.pass_context
def champions_cmd(ctx: click.Context, limit: int, plot_path: Path | None, as_json: bool) -> None:
    """The champion chain, newest first."""
    from .format import local_time, table

    store = get_store(ctx)
    chain = store.champion_history(limit or None)
    if plot_path is not None and not chain:
        raise CliError(f"nothing to plot: no champion yet, {plot_path} not written "
                       "(promote one with 'artifactstore promote' or the API's promote_champion)")
    if plot_path is not None:
        from ..evaluation.plots import plot_champions

        plot_champions(store, plot_path)
        click.echo(f"wrote {plot_path}", err=True)
    rows = [(c.seq, c.model_id, c.evaluation_id or "", f"{c.global_score:.4f}", f"{c.success_rate:.1%}",
             c.previous_model_id or "", _improvement(c.improvement_metrics), _evidence(c.metrics),
             local_time(c.timestamp)) for c in chain]
    emit(ctx, as_json, data=[{**c.to_dict(), "dangling_artifacts": store.catalog.missing_ids(list(c.artifacts))}
                             for c in chain],
         text=lambda: table(["#", "model", "evaluation", "score", "success", "previous", "improvement", "evidence",
                             "when"], rows, align="rlllrlllll") if rows else "no champion yet")


def _evidence(m: dict[str, Any]) -> str:
    # promotions made with require_significant carry their report's id and the CI of the change
    ev = m.get("evidence")
    if not isinstance(ev, dict):
        return ""
    rid = ev.get("report_artifact_id")
    lo, hi = ev.get("ci_low"), ev.get("ci_high")
    ci = f"[{lo:+.3g}, {hi:+.3g}] " if isinstance(lo, (int, float)) and isinstance(hi, (int, float)) else ""
    return f"{ci}report {rid[-8:]}" if isinstance(rid, str) else (ev.get("reason") or "")[:40]


def _improvement(m: dict[str, Any]) -> str:
    v = m.get("score_improvement")
    return f"{v:+.4f}" if isinstance(v, (int, float)) else ""


@click.command("gc")
@click.option("--policy", "policies", multiple=True, metavar="SPEC",
              help="Retention policy, e.g. keep_recent:max_age_days=30 or keep_top_k:k=10 (repeatable; "
                   "default: keep_top_k:k=100 and keep_champions). An artifact goes only if no policy keeps it.")
@click.option("--grace", "grace_seconds", type=float, default=3600.0, show_default=True,
              help="Never sweep a blob younger than this many seconds.")
@click.option("--apply", "do_apply", is_flag=True, help="Delete (without it, gc only reports what would go).")
@click.option("--list", "list_all", is_flag=True, help="List every artifact that would go.")
@json_option
@click.pass_context
def gc_cmd(ctx: click.Context, policies: tuple[str, ...], grace_seconds: float, do_apply: bool, list_all: bool,
           as_json: bool) -> None:
    """Garbage-collect by retention policy: a dry run unless --apply."""
    from .. import gc
    from .format import human_size, table

    store = get_store(ctx)
    specs = list(policies) or ["keep_top_k:k=100", "keep_champions"]
    plan = gc.plan(store, specs, grace_seconds=grace_seconds)
    result = gc.apply(store, plan) if do_apply else None
    data: dict[str, Any] = {"dry_run": not do_apply, "plan": plan.to_dict(),
                            "result": result.to_dict() if result else None}
    if not list_all and not want_json(ctx, as_json):
        data["plan"].pop("delete")

    def text() -> str:
        lines = [f"policies: {', '.join(plan.policies)}",
                 f"artifacts: {plan.total_artifacts}, kept {plan.kept}, "
                 f"{'deleted' if do_apply else 'would delete'} {len(plan.delete)}",
                 f"kept by: {', '.join(f'{k} {v}' for k, v in sorted(plan.kept_by_reason.items())) or '-'}"]
        if plan.deleted_by_reason:
            lines.append(table(["reason", "artifacts", "bytes freed"],
                               [(r, n, human_size(plan.freed_bytes_by_reason.get(r, 0)))
                                for r, n in plan.deleted_by_reason.items()], align="lrr"))
        lines.append(f"unreferenced blobs older than the grace period: {len(plan.orphan_blobs)}")
        lines.append(f"{'freed' if do_apply else 'would free'}: "
                     f"{human_size(result.freed_bytes if result else plan.freed_bytes)}")
        if list_all:
            lines += [f"  {a.ref}  {a.id}  ({r})" for a, r in plan.delete]
        if not do_apply:
            lines.append("dry run: nothing was deleted (use --apply)")
        return "\n".join(lines)

    emit(ctx, as_json, data=data, text=text)


@click.command("export-episodes")
@click.argument("source", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["csv", "json", "both", "parquet"]), default="both",
              show_default=True, help="What to store: a CSV table, a JSON document, both, or Parquet.")
@click.option("--model", "model_id", help="Model id recorded on the stored artifacts.")
@click.option("--evaluation", "evaluation_id", help="Evaluation id recorded on the stored artifacts.")
@click.option("--suite", "suite_name", help="Suite name recorded on the stored artifacts.")
@json_option
@click.pass_context
def export_episodes_cmd(ctx: click.Context, source: Path, fmt: str, model_id: str | None,
                        evaluation_id: str | None, suite_name: str | None, as_json: bool) -> None:
    """Store episode results from SOURCE (JSON list, JSON lines, or {"episodes": [...]}) as CSV/JSON."""
    from ..evaluation.episodes import export_episodes

    store = get_store(ctx, create=True)
    arts = export_episodes(store, _read_rows(source), fmt, model_id=model_id, evaluation_id=evaluation_id,
                           suite_name=suite_name)
    emit(ctx, as_json, data={k: a.to_dict() for k, a in arts.items()},
         text="\n".join(f"{k}: {a.id}  {a.ref}" for k, a in arts.items()))


def _read_rows(path: Path) -> Any:
    with open(path, "rb") as f:
        head = f.read(1).lstrip()
    if head in (b"[", b"{"):
        try:
            doc = json.loads(path.read_text())
        except ValueError:
            doc = None
        if isinstance(doc, list):
            return doc
        if isinstance(doc, dict) and isinstance(doc.get("episodes"), list):
            return doc["episodes"]
    # JSON lines, streamed
    def lines() -> Any:
        with open(path, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                if line.strip():
                    try:
                        yield json.loads(line)
                    except ValueError:
                        raise CliError(f"{path}:{n}: not JSON") from None

    return lines()


@click.command("demo")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Also write champion_progression.png and report.html into this folder (both are stored "
                   "as artifacts either way).")
@click.option("--models", type=click.IntRange(1, 6), default=6, show_default=True,
              help="How many model variants to evaluate (each is evaluated once, the baseline twice).")
@click.option("--episodes-per-map", "per_map", type=click.IntRange(1, 1000), default=25, show_default=True,
              help="Simulated episodes per map and evaluation.")
@click.option("--seed", type=int, default=7, show_default=True, help="Random seed (same seed, same scores).")
@click.option("--no-plot", is_flag=True, help="Skip the champion progression plot (no matplotlib needed).")
@click.option("--no-report", is_flag=True,
              help="Skip the evaluation report (leaderboard with CIs; needs the 'report' extra).")
@json_option
@click.pass_context
def demo_cmd(ctx: click.Context, out_dir: Path | None, models: int, per_map: int, seed: int, no_plot: bool,
             no_report: bool, as_json: bool) -> None:
    """Run a small evaluation campaign on the store and summarise it (the main job)."""
    from ..demo import run_demo
    from .format import human_size, percent, table

    store = get_store(ctx, create=True)
    quiet = want_json(ctx, as_json)
    if not quiet:
        click.echo(f"evaluation campaign on {store.url}")
    s = run_demo(store, out_dir, models=models, per_map=per_map, seed=seed, plot=not no_plot,
                 report=not no_report, echo=(lambda _m: None) if quiet else click.echo)
    st, b = s.stats, s.stats_before
    art = s.plot_artifact
    data = {"evaluations": s.evaluations, "promotions": s.promotions, "episodes": s.episodes,
            "stats": st.to_dict(), "stats_before": b.to_dict() if b else None,
            "champions": [c.to_dict() for c in s.champions],
            "gc_dry_run": {"policies": s.gc_policies, "would_delete": s.gc_would_delete,
                           "would_free_bytes": s.gc_would_free},
            "plot": str(s.plot) if s.plot else None,
            "plot_artifact": {"id": art.id, "ref": art.ref} if art else None,
            "report_artifact": ({"id": s.report_artifact.id, "ref": s.report_artifact.ref}
                                if s.report_artifact else None),
            "report_html": str(s.report_html) if s.report_html else None,
            "report_summary": s.report_summary or None,
            "seconds": round(s.seconds, 2), "notes": s.notes}

    def text() -> str:
        total = st.total_size_bytes
        new_arts = st.total_artifacts - (b.total_artifacts if b else 0)
        new_bytes = total - (b.total_size_bytes if b else 0)
        new_stored = st.stored_size_bytes - (b.stored_size_bytes if b else 0)
        summary = table(["", "this run", "whole store"], [
            ("evaluations", s.evaluations, len(store.evaluations())),
            ("episodes", s.episodes, "-"),
            ("artifacts", new_arts, st.total_artifacts),
            ("unique blobs", st.unique_blobs - (b.unique_blobs if b else 0), st.unique_blobs),
            ("original bytes", human_size(new_bytes), human_size(total)),
            ("after dedup", "-", f"{human_size(st.unique_size_bytes)} (saved {percent(st.dedup_saved_bytes, total)})"),
            ("stored bytes (new blobs)", human_size(new_stored),
             f"{human_size(st.stored_size_bytes)} (compression saved "
             f"{percent(st.compression_saved_bytes, st.unique_size_bytes)})"),
            ("stored / original", percent(new_stored, new_bytes), percent(st.stored_size_bytes, total)),
        ], align="lrr")
        chain = table(["#", "champion", "score", "success", "previous", "improvement"],
                      [(c.seq, c.model_id, f"{c.global_score:.4f}", f"{c.success_rate:.1%}",
                        c.previous_model_id or "", _improvement(c.improvement_metrics)) for c in s.champions],
                      align="rllrll")
        parts = ["", summary,
                 f"gc dry run (policies {' + '.join(s.gc_policies)}, whole store): would delete "
                 f"{s.gc_would_delete} artifacts, free {human_size(s.gc_would_free)}",
                 f"time: {s.seconds:.1f} s", "", "champion chain (newest first):", chain]
        if art:
            parts.append(f"\nchampion progression plot: stored as {art.ref} (type plot, id {art.id}); "
                         f"'artifactstore get {art.ref} .' writes it here")
        if s.plot:
            parts.append(f"copy written to {s.plot}")
        rs, ra = s.report_summary, s.report_artifact
        if rs:
            recs = ", ".join(f"{c['model_id']}: {c['recommendation']}" for c in rs.get("challengers", []))
            parts.append(f"\nevaluation report (reward, 95% stratified bootstrap CIs): champion {rs.get('champion')}"
                         + (f"; challengers {recs}" if recs else ""))
        if ra:
            parts.append(f"report stored as {ra.ref} (id {ra.id})")
        if s.report_html:
            parts.append(f"HTML report written to {s.report_html}")
        parts += [f"note: {n}" for n in s.notes]
        return "\n".join(parts)

    emit(ctx, as_json, data=data, text=text)


@click.command("checkout")
@click.argument("dest", type=click.Path(file_okay=False, path_type=Path))
@click.option("--all-versions", is_flag=True, help="Every version, as NAME@vN (default: the latest of each name).")
@click.option("--copy", "copy_files", is_flag=True,
              help="Always write full copies (default: reflinks where the filesystem has them, else copies).")
@click.option("--link", "hard_link", is_flag=True,
              help="Hard-link uncompressed blobs into the view: no extra space, but a write through a link "
                   "corrupts the store.")
@json_option
@click.pass_context
def checkout_cmd(ctx: click.Context, dest: Path, all_versions: bool, copy_files: bool, hard_link: bool,
                 as_json: bool) -> None:
    """Materialise DEST/<type>/<model>/<name>: a browsable view of the store.

    Every file is verified. Re-running it updates the view in place.
    """
    from ..checkout import checkout

    if copy_files and hard_link:
        raise click.UsageError("--copy and --link exclude each other")
    if hard_link:
        click.echo("warning: --link: the view's files are the store's blobs; writing to one corrupts the store "
                   "(artifactstore verify reports it)", err=True)
    store = get_store(ctx)
    r = checkout(store, dest, all_versions=all_versions, link=hard_link, reflink=not copy_files)
    emit(ctx, as_json, data=r.to_dict(),
         text=f"{r.files} files under {r.dest} ({r.reflinked} reflinks, {r.linked} hard links, {r.copied} copies)")


def register(group: click.Group) -> None:
    for cmd in (history_cmd, champions_cmd, gc_cmd, export_episodes_cmd, demo_cmd, checkout_cmd):
        group.add_command(cmd)
