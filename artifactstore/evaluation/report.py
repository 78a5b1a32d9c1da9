"""Evaluation reports: leaderboard with bootstrap CIs, per-map table, comparisons, summary.

``build_report(store, ...)`` reads the stored episode tables (artifacts of type
``episode_data``: CSV, Parquet or the JSON document written by
:mod:`artifactstore.evaluation.episodes`) column-wise with pyarrow through the
store's verifying reader, and computes the statistics of :mod:`.stats`.
Which episodes are used: for each model, the latest evaluation that has episode
data (or every evaluation given in ``evaluations``, pooled per model).
"""

from __future__ import annotations

import html
import io
import json
import math
import os
import shutil
import tempfile
import zlib
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InvalidInputError, MissingDependencyError, NoEpisodeDataError, ReportMetricError

__all__ = ["NoEpisodeDataError", "Report", "ReportMetricError", "build_report"]

_FORMAT_PREF = {"parquet": 0, "csv": 1, "json": 2}
_MAP_COLS = ("map_name", "map")


def _deps() -> tuple[Any, Any]:
    try:
        import numpy as np
        import pyarrow as pa
        import scipy  # noqa: F401
    except ImportError as exc:
        raise MissingDependencyError(exc.name or "numpy", "report", "building an evaluation report") from None
    return np, pa


def _r(x: Any) -> Any:
    """Stable JSON floats: 6 decimals, no -0.0, NaN/inf as null."""
    if x is None:
        return None
    f = float(x)
    if not math.isfinite(f):
        return None
    v = round(f, 6)
    return 0.0 if v == 0 else v


# --- reading tables ------------------------------------------------------------------------


def _read_table(store: Any, art: Any, columns: list[str]) -> Any:
    """The wanted columns of one episode table as a pyarrow Table (absent columns left out)."""
    _np, pa = _deps()
    fmt = art.metadata.get("format") or art.name.rsplit(".", 1)[-1]
    from ..scratch import entry_name, scratch_dir

    with tempfile.TemporaryDirectory(prefix=entry_name("report") + "-", dir=scratch_dir(store.backend)) as tmp:
        path = Path(tmp) / f"t.{fmt}"
        with store.open(art) as src, open(path, "wb") as dst:  # verified while streamed
            shutil.copyfileobj(src, dst, 1 << 20)
        if fmt == "parquet":
            import pyarrow.parquet as pq

            names = pq.read_schema(path).names
            return pq.read_table(path, columns=[c for c in columns if c in names])
        if fmt == "csv":
            import pyarrow.csv as pcsv

            with open(path, encoding="utf-8") as f:
                header = f.readline().strip().split(",")
            keep = [c for c in columns if c in header]
            opts = pcsv.ConvertOptions(include_columns=keep, strings_can_be_null=True)
            return pcsv.read_csv(path, convert_options=opts)
        # JSON document: one episode per line between the brackets; rows go straight into columns
        cols: dict[str, list[Any]] = {c: [] for c in columns}
        with open(path, encoding="utf-8") as f:
            for line in f:
                s = line.strip().rstrip(",")
                if not s.startswith("{") or s.startswith('{"metadata"'):
                    continue
                row = json.loads(s)
                for c in columns:
                    cols[c].append(row.get(c))
        present = {c: v for c, v in cols.items() if any(x is not None for x in v)}
        try:
            return pa.table(present)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise ReportMetricError(f"{art.ref}: mixed column types: {exc}") from None


@dataclass
class _Sample:
    model_id: str
    evaluations: list[str] = field(default_factory=list)
    values: list[Any] = field(default_factory=list)  # numpy arrays per table
    cost: list[Any] = field(default_factory=list)
    success: list[Any] = field(default_factory=list)
    maps: list[Any] = field(default_factory=list)
    seeds: list[Any] = field(default_factory=list)


def _numeric(pa: Any, np: Any, col: Any) -> Any | None:
    t = col.type
    if pa.types.is_boolean(t) or pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_null(t):
        return col.cast(pa.float64()).to_numpy(zero_copy_only=False)
    return None


# --- the report ----------------------------------------------------------------------------


@dataclass
class Report:
    """A built report: :meth:`to_dict` (stable JSON), :meth:`to_markdown`, :meth:`to_html`, :meth:`save`."""

    data: dict[str, Any]
    figures: dict[str, str] = field(default_factory=dict)  # name -> SVG text

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = json.loads(self.to_json())
        return out

    def to_json(self) -> str:
        """Byte-identical for the same inputs and seed (sorted keys, rounded floats)."""
        return json.dumps(self.data, sort_keys=True, indent=2, ensure_ascii=False) + "\n"

    def to_markdown(self) -> str:
        d = self.data
        m = d["metric"]
        out = [f"# Evaluation report: {m}", "",
               f"Seed {d['seed']}, {d['resamples']} stratified bootstrap resamples, 95% intervals.", "",
               "## Leaderboard", "",
               f"| rank | model | n | mean {m} [95% CI] | IQM [95% CI] | success rate [95% CI] |",
               "|---|---|---|---|---|---|"]
        for row in d["leaderboard"]:
            mm = row["metrics"][m]
            sr = row["success_rate"]
            srs = "-" if sr is None else f"{sr['value']:.3f} [{sr['ci_low']:.3f}, {sr['ci_high']:.3f}]"
            out.append(f"| {row['rank']} ({row['rank_low']}-{row['rank_high']}) | {row['model_id']} | "
                       f"{row['n_episodes']} | {mm['mean']:.4g} [{mm['ci_low']:.4g}, {mm['ci_high']:.4g}] | "
                       f"{mm['iqm']:.4g} [{mm['iqm_ci_low']:.4g}, {mm['iqm_ci_high']:.4g}] | {srs} |")
        s = d["summary"]
        out += ["", "## Summary", "", f"Champion: **{s['champion']}** ({s['champion_source']})", ""]
        for c in s["challengers"]:
            out.append(f"- {c['model_id']}: change {c['change']:+.4g} [{c['ci_low']:+.4g}, {c['ci_high']:+.4g}], "
                       f"P(improvement) {c['probability_of_improvement']:.3f}, "
                       f"regressions on {len(c['per_map_regressions'])} map(s): **{c['recommendation']}**")
        cells = {(c["model_id"], c["map"]): c for c in d["per_map"]}
        out += ["", f"## Per map (mean {m} [95% CI]; + / - significantly better / worse than the champion)", "",
                "| model | " + " | ".join(d["maps"]) + " |", "|---|" + "---|" * len(d["maps"])]
        for row in d["leaderboard"]:
            vals = []
            for mp in d["maps"]:
                c = cells.get((row["model_id"], mp))
                if c is None or c["mean"] is None:
                    vals.append("-")
                    continue
                mark = {"better": " +", "worse": " -"}.get(c["vs_champion"] or "", "")
                vals.append(f"{c['mean']:.4g} [{c['ci_low']:.4g}, {c['ci_high']:.4g}]{mark}")
            out.append(f"| {row['model_id']} | " + " | ".join(vals) + " |")
        out += ["", "## Comparisons (Holm-corrected)", "", "| a | b | P(a>b) | p | p (Holm) | significant |",
                "|---|---|---|---|---|---|"]
        for c in d["comparisons"]:
            out.append(f"| {c['a']} | {c['b']} | {c['probability_of_improvement']:.3f} | {c['p_value']:.3g} | "
                       f"{c['p_adjusted']:.3g} | {'yes' if c['significant'] else 'no'} |")
        if d["excluded"]:
            out += ["", "## Left out", ""]
            out += [f"- {json.dumps(e, sort_keys=True)}" for e in d["excluded"]]
        return "\n".join(out) + "\n"

    def to_html(self, path: str | Path) -> Path:
        """Write ONE self-contained HTML file (figures inline SVG); return its path."""
        d = self.data
        m = d["metric"]
        e = html.escape
        rows = []
        for row in d["leaderboard"]:
            mm = row["metrics"][m]
            sr = row["success_rate"]
            srs = "-" if sr is None else f"{sr['value']:.3f} <small>[{sr['ci_low']:.3f}, {sr['ci_high']:.3f}]</small>"
            rows.append(f"<tr><td>{row['rank']} <small>({row['rank_low']}&ndash;{row['rank_high']})</small></td>"
                        f"<td>{e(row['model_id'])}</td><td class=num>{row['n_episodes']}</td>"
                        f"<td class=num>{_v(mm['mean'])} <small>[{_v(mm['ci_low'])}, {_v(mm['ci_high'])}]</small></td>"
                        f"<td class=num>{_v(mm['iqm'])} <small>[{_v(mm['iqm_ci_low'])}, {_v(mm['iqm_ci_high'])}]"
                        f"</small></td><td class=num>{srs}</td></tr>")
        s = d["summary"]
        rank = {r["model_id"]: r["rank"] for r in d["leaderboard"]}
        summ = "".join(
            f"<li><b>{e(c['model_id'])}</b>: {_v(c['change'], True)} <small>[{_v(c['ci_low'], True)}, "
            f"{_v(c['ci_high'], True)}]</small> vs champion, P(improvement) {c['probability_of_improvement']:.3f}, "
            + (f"worse on {len(c['per_map_regressions'])} map(s) ({e(', '.join(c['per_map_regressions']))})"
               if c["per_map_regressions"] else "worse on no map")
            + f" &rarr; <b>{e(c['recommendation'])}</b></li>"
            for c in sorted(s["challengers"], key=lambda c: (rank.get(c["model_id"], 0), c["model_id"])))
        comps = "".join(
            f"<tr><td>{e(c['a'])}</td><td>{e(c['b'])}</td><td class=num>{c['probability_of_improvement']:.3f}</td>"
            f"<td class=num>{_p(c['p_value'])}</td><td class=num>{_p(c['p_adjusted'])}</td>"
            f"<td>{'<b>yes</b>' if c['significant'] else 'no'}</td></tr>" for c in d["comparisons"])
        cells = {(c["model_id"], c["map"]): c for c in d["per_map"]}
        maps = d["maps"]
        pm_rows = []
        for row in d["leaderboard"]:
            tds = []
            for mp in maps:
                c = cells.get((row["model_id"], mp))
                if c is None or c["mean"] is None:
                    tds.append("<td class=na>&ndash;</td>")
                    continue
                flag = {"better": ("better", "&#9650; "), "worse": ("worse", "&#9660; ")}.get(c["vs_champion"] or "",
                                                                                          ("", ""))
                title = (f" title='vs champion: {c['vs_champion']}, p (Holm) {_p(c['p_adjusted'])}'"
                         if c["p_adjusted"] is not None else "")
                tds.append(f"<td class='num {flag[0]}'{title}>{flag[1]}{_v(c['mean'])}<br><small>[{_v(c['ci_low'])}, "
                           f"{_v(c['ci_high'])}] n={c['n']}</small></td>")
            pm_rows.append(f"<tr><th>{e(row['model_id'])}</th>{''.join(tds)}</tr>")
        per_map = (f"<div class=scroll><table><tr><th>model</th>{''.join(f'<th>{e(mp)}</th>' for mp in maps)}</tr>"
                   f"{''.join(pm_rows)}</table></div>")
        figs = "".join(f"<figure><figcaption>{e(k)}</figcaption>{v}</figure>" for k, v in sorted(self.figures.items()))
        excl = "".join(f"<li>{e(json.dumps(x, sort_keys=True))}</li>" for x in d["excluded"]) or "<li>nothing</li>"
        doc = f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Evaluation report: {e(m)}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;color:#222}}
table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #ccc;padding:4px 8px;text-align:left}}
th{{background:#f3f3f3}}small{{color:#666}}figure{{margin:1.5em 0}}figcaption{{font-weight:bold}}
svg{{max-width:100%;height:auto}}td.num{{text-align:right;white-space:nowrap}}
td.better{{background:#e3f4e1}}td.worse{{background:#fbe3e1}}td.na{{color:#aaa;text-align:center}}
.scroll{{overflow-x:auto}}</style></head><body>
<h1>Evaluation report: {e(m)}</h1>
<p>Seed {d['seed']}, {d['resamples']} stratified bootstrap resamples (episodes resampled within each map);
intervals are 95%.</p>
<h2>Summary</h2><p>Champion: <b>{e(str(s['champion']))}</b> ({e(s['champion_source'])})</p><ul>{summ}</ul>
<h2>Leaderboard</h2><table><tr><th>rank (95% interval)</th><th>model</th><th>episodes</th>
<th>mean {e(m)} [95% CI]</th><th>IQM [95% CI]</th><th>success rate [Wilson 95%]</th></tr>{''.join(rows)}</table>
<h2>Per map</h2><p>Mean {e(m)} per map with its 95% CI and episodes;
&#9650;/&#9660; (green/red): significantly better/worse than the champion on that map (Holm-corrected over the
model's maps).</p>{per_map}
<h2>Comparisons</h2><p>Probability that a's episode beats b's; Holm-corrected over all pairs.</p>
<table><tr><th>a</th><th>b</th><th>P(a&gt;b)</th><th>p</th><th>p (Holm)</th><th>significant</th></tr>{comps}</table>
<h2>Figures</h2>{figs}
<h2>Left out</h2><ul>{excl}</ul></body></html>
"""
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(doc, encoding="utf-8")
        return out

    def save(self, store: Any) -> dict[str, Any]:
        """Store the report JSON (type ``report``) and each figure (type ``plot``); return the artifacts.

        They are linked to the report's evaluations through the metadata key
        ``evaluations`` (and ``evaluation_id`` when there is only one).
        """
        evals = sorted({ev for row in self.data["leaderboard"] for ev in row["evaluations"]})
        key = f"{zlib.crc32(self.to_json().encode()):08x}"
        ev_id = evals[0] if len(evals) == 1 else None
        meta = {"evaluations": evals, "metric": self.data["metric"], "seed": self.data["seed"]}
        from ..scratch import entry_name, scratch_dir

        with tempfile.TemporaryDirectory(prefix=entry_name("report") + "-", dir=scratch_dir(store.backend)) as tmp:
            items: list[dict[str, Any]] = []
            p = Path(tmp) / "report.json"
            p.write_text(self.to_json(), encoding="utf-8")
            items.append({"source": p, "name": f"reports/{key}/report.json", "artifact_type": "report",
                          "evaluation_id": ev_id, "tags": ["report"], "metadata": meta})
            for name, svg in sorted(self.figures.items()):
                fp = Path(tmp) / f"{name}.svg"
                fp.write_text(svg, encoding="utf-8")
                items.append({"source": fp, "name": f"reports/{key}/{name}.svg", "artifact_type": "plot",
                              "evaluation_id": ev_id, "tags": ["report", "plot"], "metadata": meta})
            arts = store.put_many(items)
        return {"report": arts[0], "figures": arts[1:]}


def _v(x: float | None, sign: bool = False) -> str:
    # values in tables: 3 decimals where they fit, else 4 significant digits
    if x is None:
        return "-"
    if x != 0 and (abs(x) >= 1e4 or abs(x) < 1e-3):
        return f"{x:+.4g}" if sign else f"{x:.4g}"
    return f"{x:+.3f}" if sign else f"{x:.3f}"


def _p(x: float | None) -> str:
    if x is None:
        return "-"
    return "&lt;0.0001" if x < 1e-4 else f"{x:.3g}"


def _svg(fig: Any) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    text = buf.getvalue()
    return text[text.find("<svg"):]


def _figures(d: dict[str, Any], profiles: dict[str, Any]) -> dict[str, str]:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise MissingDependencyError("matplotlib", "report", "drawing the report's figures") from None
    m = d["metric"]
    figs: dict[str, str] = {}
    # one colour per model in every figure, in leaderboard order
    ranked = [r["model_id"] for r in d["leaderboard"]]
    order = ranked + sorted(set(d["trend"]) - set(ranked))
    cmap, n_col = (plt.get_cmap("tab10"), 10) if len(order) <= 10 else (plt.get_cmap("tab20"), 20)
    color = {mid: cmap(i % n_col) for i, mid in enumerate(order)}
    with matplotlib.rc_context({"svg.hashsalt": "artifactstore", "svg.fonttype": "none"}):
        # performance profiles
        fig, ax = plt.subplots(figsize=(8, 4.5))
        for mid in [x for x in order if x in profiles]:
            p = profiles[mid]
            ax.plot(p["tau"], p["frac"], label=mid, color=color[mid])
            ax.fill_between(p["tau"], p["low"], p["high"], alpha=0.15, color=color[mid])
        ax.set_xlabel(f"{m} threshold")
        ax.set_ylabel("fraction of episodes above")
        ax.set_title("Performance profiles (95% CI bands)")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        figs["profiles"] = _svg(fig)
        plt.close(fig)
        # per-map heatmap
        maps = d["maps"]
        models = [r["model_id"] for r in d["leaderboard"]]
        if maps and models:
            import numpy as np

            grid = np.full((len(models), len(maps)), np.nan)
            for cell in d["per_map"]:
                grid[models.index(cell["model_id"]), maps.index(cell["map"])] = (
                    np.nan if cell["mean"] is None else cell["mean"])
            fig, ax = plt.subplots(figsize=(min(16, 4 + 0.45 * len(maps)), 2.2 + 0.4 * len(models)))
            im = ax.imshow(grid, aspect="auto", cmap="viridis")
            ax.set_yticks(range(len(models)), models, fontsize=9)
            ax.set_xticks(range(len(maps)), maps, rotation=45, ha="right", rotation_mode="anchor",
                          fontsize=9 if len(maps) <= 20 else 7)
            fig.colorbar(im, ax=ax, label=f"mean {m}")
            ax.set_title("Per-map mean")
            fig.tight_layout()
            figs["per_map"] = _svg(fig)
            plt.close(fig)
        if d["pareto"]:
            fig, ax = plt.subplots(figsize=(7, 4.5))
            for p in d["pareto"]:
                ax.errorbar(p["cost"], p["quality"], yerr=[[p["quality"] - p["ci_low"]], [p["ci_high"] - p["quality"]]],
                            fmt="o" if p["pareto_optimal"] else "x", capsize=3, label=p["model_id"],
                            color=color[p["model_id"]])
            ax.set_xlabel(f"mean {d['cost']} (cost)")
            ax.set_ylabel(f"mean {m}")
            ax.set_title("Pareto: quality vs cost (o = Pareto-optimal)")
            ax.grid(True, alpha=0.3)
            ax.legend(fontsize=8)
            fig.tight_layout()
            figs["pareto"] = _svg(fig)
            plt.close(fig)
        if d["trend"]:
            fig, ax = plt.subplots(figsize=(8, 4.5))
            from datetime import datetime

            timed = all(p["timestamp"] for pts in d["trend"].values() for p in pts)
            for mid in [x for x in order if x in d["trend"]]:
                pts = d["trend"][mid]
                xs: list[Any] = ([datetime.fromisoformat(p["timestamp"]) for p in pts] if timed
                                 else list(range(len(pts))))
                ax.errorbar(xs, [p["mean"] for p in pts],
                            yerr=[[p["mean"] - p["ci_low"] for p in pts], [p["ci_high"] - p["mean"] for p in pts]],
                            marker="o", capsize=3, label=mid, color=color[mid])
            if timed:
                import matplotlib.dates as mdates

                loc = mdates.AutoDateLocator()  # type: ignore[no-untyped-call]
                ax.xaxis.set_major_locator(loc)
                ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(loc))  # type: ignore[no-untyped-call]
            ax.set_xlabel("evaluation time (UTC)" if timed else "evaluation of the model (in time order)")
            ax.set_ylabel(f"mean {m}")
            ax.set_title("Trend of each model's evaluations")
            ax.grid(True, alpha=0.3)
            ax.legend(fontsize=8)
            fig.tight_layout()
            figs["trend"] = _svg(fig)
            plt.close(fig)
    return figs


def build_report(store: Any, *, models: Iterable[str] | None = None, evaluations: Iterable[str] | None = None,
                 metric: str = "reward", cost: str | None = None, seed: int = 0, resamples: int = 10000,
                 lower_is_better: bool = False, figures: bool = True) -> Report:
    """Build the report from the stored episode tables (see the module docstring)."""
    np, pa = _deps()
    from . import stats

    if resamples < 100:
        raise InvalidInputError("resamples must be at least 100")
    want_models = None if models is None else set(models)
    want_evals = None if evaluations is None else list(evaluations)
    excluded: list[dict[str, Any]] = []
    # candidate tables: newest first, one per (evaluation, preferred format)
    arts = store.find(artifact_type="episode_data")
    by_eval: dict[str, Any] = {}
    for a in arts:
        key = a.evaluation_id or f"artifact:{a.name.rsplit('.', 1)[0]}"
        fmt = a.metadata.get("format") or a.name.rsplit(".", 1)[-1]
        if fmt not in _FORMAT_PREF:
            continue
        cur = by_eval.get(key)
        if cur is None or (cur.created_at == a.created_at and _FORMAT_PREF[fmt] < _FORMAT_PREF[cur.metadata.get(
                "format", "json")]):
            by_eval[key] = a
    records = {e.evaluation_id: e for e in store.evaluations()}
    if want_evals is not None:
        for ev in want_evals:
            if ev not in by_eval:
                excluded.append({"evaluation_id": ev, "reason": "no episode data stored for this evaluation"})
        chosen = {k: v for k, v in by_eval.items() if k in want_evals}
    else:
        for ev, rec in sorted(records.items()):
            if ev not in by_eval and (want_models is None or rec.model_id in want_models):
                excluded.append({"evaluation_id": ev, "model_id": rec.model_id,
                                 "reason": "no episode data stored for this evaluation"})
        chosen = dict(by_eval)
    # model of each table, then (without explicit evaluations) only each model's latest table
    per_model: dict[str, list[tuple[str, Any]]] = {}
    for ev, a in chosen.items():
        mid = a.model_id or (records[ev].model_id if ev in records else None)
        if mid is None:
            excluded.append({"evaluation_id": ev, "reason": "episode data without a model_id"})
            continue
        if want_models is not None and mid not in want_models:
            continue
        per_model.setdefault(mid, []).append((ev, a))
    for mid in list(per_model):
        per_model[mid].sort(key=lambda t: (t[1].created_at, t[0]))
    trend_tables = {mid: list(v) for mid, v in per_model.items()}
    if want_evals is None:
        for mid, lst in per_model.items():
            for ev, _ in lst[:-1]:
                excluded.append({"evaluation_id": ev, "model_id": mid,
                                 "reason": "older evaluation: only the latest is ranked (it is in the trend)"})
            per_model[mid] = lst[-1:]
    if want_models is not None:
        for mid in sorted(want_models - set(per_model)):
            excluded.append({"model_id": mid, "reason": "no episode data for this model"})

    cols = [metric, "success", "seed", *_MAP_COLS] + ([cost] if cost else [])
    samples: dict[str, _Sample] = {}
    trend: dict[str, list[dict[str, Any]]] = {}
    metric_seen = False
    for mid in sorted(trend_tables):
        ranked = {ev for ev, _ in per_model.get(mid, [])}
        for ev, a in trend_tables[mid]:
            t = _read_table(store, a, cols)
            if metric not in t.column_names:
                excluded.append({"evaluation_id": ev, "model_id": mid, "reason": f"no column {metric!r}"})
                continue
            vals = _numeric(pa, np, t.column(metric))
            if vals is None:
                raise ReportMetricError(f"column {metric!r} of {a.ref} is not numeric ({t.column(metric).type})")
            metric_seen = True
            ok = np.isfinite(vals)
            if (~ok).any():
                excluded.append({"evaluation_id": ev, "model_id": mid, "count": int((~ok).sum()),
                                 "reason": f"episodes with a missing, NaN or infinite {metric} dropped"})
            cost_v = None
            if cost:
                if cost not in t.column_names:
                    raise ReportMetricError(f"cost column {cost!r} is missing in {a.ref}")
                cost_v = _numeric(pa, np, t.column(cost))
                if cost_v is None:
                    raise ReportMetricError(f"cost column {cost!r} of {a.ref} is not numeric")
                bad_c = ok & ~np.isfinite(cost_v)
                if bad_c.any():
                    excluded.append({"evaluation_id": ev, "model_id": mid, "count": int(bad_c.sum()),
                                     "reason": f"episodes with a missing, NaN or infinite {cost} dropped"})
                ok &= np.isfinite(cost_v)
            mcol = next((c for c in _MAP_COLS if c in t.column_names), None)
            maps = (np.asarray(["(no map)"] * t.num_rows, dtype=object) if mcol is None
                    else np.asarray([("(no map)" if x is None or x == "" else str(x))
                                     for x in t.column(mcol).to_pylist()], dtype=object))
            v = vals[ok]
            if len(v):
                trend.setdefault(mid, []).append(_trend_point(np, records.get(ev), ev, v))
            if ev not in ranked:
                continue
            s = samples.setdefault(mid, _Sample(mid))
            s.evaluations.append(ev)
            s.values.append(v)
            s.maps.append(maps[ok])
            s.cost.append(cost_v[ok] if cost_v is not None else None)
            if "success" in t.column_names:
                sc = _numeric(pa, np, t.column("success"))
                s.success.append(None if sc is None else sc[ok])
            else:
                s.success.append(None)
            s.seeds.append(np.asarray([str(x) for x in t.column("seed").to_pylist()], dtype=object)[ok]
                           if "seed" in t.column_names else None)
    if not trend_tables:
        raise NoEpisodeDataError("no selected evaluation has episode data")
    if not metric_seen:
        raise ReportMetricError(f"no episode table has a column {metric!r}")
    for mid in sorted(samples):
        n = sum(len(v) for v in samples[mid].values)
        if n < 2:
            excluded.append({"model_id": mid, "n_episodes": n,
                             "reason": "fewer than 2 usable episodes: no confidence interval possible"})
            del samples[mid]
    if not samples:
        raise NoEpisodeDataError("no model has at least 2 usable episodes")

    all_maps = sorted({str(x) for s in samples.values() for arr in s.maps for x in arr})
    map_idx = {m: i for i, m in enumerate(all_maps)}
    mids = sorted(samples)
    allv = np.concatenate([np.concatenate(samples[m].values) for m in mids])
    tau = np.linspace(float(allv.min()), float(allv.max()), 41)
    del allv

    def one_model(mid: str) -> tuple[dict[str, Any], dict[str, Any]]:
        # each model has its own generator (seeded by the report seed and its id), so the
        # result does not depend on the order or the thread the models are computed in
        s = samples[mid]
        v = np.concatenate(s.values)
        strata = np.asarray([map_idx[str(x)] for x in np.concatenate(s.maps)], dtype=np.int64)
        rng = np.random.default_rng([seed, zlib.crc32(mid.encode())])
        cv = np.concatenate([c for c in s.cost if c is not None]) if cost else None
        bs = stats.stratified_bootstrap(v, strata, resamples, rng, thresholds=tau,
                                        paired=() if cv is None else (cv,))
        mets = {metric: _metric_entry(np, v, bs.mean_samples, bs.iqm_samples)}
        if cost and cv is not None:
            # the cost's mean resampled with the same draws as the metric (one point per resample)
            mets[cost] = _metric_entry(np, cv, bs.paired_means[0], None)
        succ = None
        if all(x is not None for x in s.success):
            sv = np.concatenate(s.success)
            k = int((sv > 0).sum())
            p, lo, hi = stats.wilson(k, len(sv))
            succ = {"value": _r(p), "ci_low": _r(lo), "ci_high": _r(hi), "n": len(sv)}
        order = np.argsort(strata, kind="stable")
        b = {"mean": bs.mean_samples, "v": v[order], "strata": strata[order],
             "map_means": {int(j): bs.stratum_means[:, k] for k, j in enumerate(bs.strata)},
             "profile": bs.profile_samples,
             "seeds": None if any(x is None for x in s.seeds) else np.concatenate(s.seeds)[order]}
        row = {"model_id": mid, "n_episodes": len(v), "evaluations": sorted(s.evaluations),
               "metrics": mets, "success_rate": succ, "cost_mean": None if cv is None else float(cv.mean())}
        return row, b

    # numpy releases the GIL in the heavy parts: one thread per core roughly halves the time
    with ThreadPoolExecutor(max_workers=max(1, min(len(mids), os.cpu_count() or 1))) as pool:
        results = list(pool.map(one_model, mids))
    data_by_model = {mid: r[0] for mid, r in zip(mids, results, strict=True)}
    boot = {mid: r[1] for mid, r in zip(mids, results, strict=True)}
    # leaderboard and rank intervals
    M = np.vstack([boot[m]["mean"] for m in mids])
    point, lo_r, hi_r = stats.rank_intervals(M, higher_is_better=not lower_is_better)
    for i, mid in enumerate(mids):
        data_by_model[mid].update(rank=int(point[i]), rank_low=int(lo_r[i]), rank_high=int(hi_r[i]))
    sign = 1.0 if lower_is_better else -1.0
    leaderboard = sorted(data_by_model.values(),
                         key=lambda r: (r["rank"], sign * r["metrics"][metric]["mean"], r["model_id"]))
    # champion
    champ_rec = store.champion()
    if champ_rec is not None and champ_rec.model_id in data_by_model:
        champion, champ_src = champ_rec.model_id, "store champion"
    else:
        champion, champ_src = leaderboard[0]["model_id"], "best ranked (no stored champion in the report)"
    # per-map table: value +- CI and n per cell; a cell is flagged better/worse than the champion
    # when the bootstrap p-value of the difference, Holm-corrected over that model's maps, is <= 0.05
    per_map: list[dict[str, Any]] = []
    cb = boot[champion]
    for mid in mids:
        b = boot[mid]
        cells: list[dict[str, Any]] = []
        p_cells: list[tuple[int, float, float]] = []
        for m in all_maps:
            j = map_idx[m]
            sel = b["v"][b["strata"] == j]
            if len(sel) == 0:
                excluded.append({"model_id": mid, "map": m, "reason": "no episodes on this map"})
                cells.append({"model_id": mid, "map": m, "n": 0, "mean": None, "ci_low": None, "ci_high": None,
                              "vs_champion": None, "p_adjusted": None})
                continue
            ms = b["map_means"][j]
            lo_m, hi_m = np.percentile(ms, [2.5, 97.5])
            if mid != champion and j in cb["map_means"]:
                diff = ms - cb["map_means"][j]
                if lower_is_better:
                    diff = -diff
                above = float((diff > 0).mean() + 0.5 * (diff == 0).mean())
                p_cells.append((len(cells), min(1.0, 2 * min(above, 1 - above)), above))
            cells.append({"model_id": mid, "map": m, "n": len(sel), "mean": _r(sel.mean()),
                          "ci_low": _r(lo_m), "ci_high": _r(hi_m), "vs_champion": None, "p_adjusted": None})
        if p_cells:
            adj, rej = stats.holm([p for _, p, _ in p_cells])
            for (k, _, above), pa_, rj in zip(p_cells, adj, rej, strict=True):
                cells[k]["p_adjusted"] = _r(pa_)
                cells[k]["vs_champion"] = ("better" if above > 0.5 else "worse") if rj else "same"
        per_map.extend(cells)
    # comparisons
    comps: list[dict[str, Any]] = []
    pvals: list[float] = []
    for i, a in enumerate(mids):
        for b_ in mids[i + 1:]:
            poi, p, paired = _compare(np, stats, boot[a], boot[b_], len(all_maps))
            if lower_is_better:
                poi = 1 - poi
            comps.append({"a": a, "b": b_, "probability_of_improvement": poi, "p_value": p, "paired": paired})
            pvals.append(p)
    adj, rej = stats.holm(pvals)
    for c, pa_, rj in zip(comps, adj, rej, strict=True):
        c.update(probability_of_improvement=_r(c["probability_of_improvement"]), p_value=_r(c["p_value"]),
                 p_adjusted=_r(pa_), significant=bool(rj))
    # summary
    challengers = []
    cb = boot[champion]
    for mid in mids:
        if mid == champion:
            continue
        diff = boot[mid]["mean"] - cb["mean"]
        if lower_is_better:
            diff = -diff
        d_lo, d_hi = np.percentile(diff, [2.5, 97.5])
        change = float(boot[mid]["v"].mean() - cb["v"].mean()) * (-1 if lower_is_better else 1)
        poi = next((c["probability_of_improvement"] if c["a"] == mid else _r(1 - c["probability_of_improvement"]))
                   for c in comps if {c["a"], c["b"]} == {mid, champion})
        regress = sorted(c["map"] for c in per_map if c["model_id"] == mid and c["vs_champion"] == "worse")
        if d_lo > 0:
            rec = "promote"
        elif d_hi < 0 or change <= 0:
            rec = "keep"  # worse, or no better on these episodes: more of them would not argue for it
        else:
            need = stats.needed_episodes(change, float(boot[mid]["v"].std(ddof=1)), float(cb["v"].std(ddof=1)),
                                         len(boot[mid]["v"]), len(cb["v"]))
            rec = "keep" if need is None or need > 100 * len(cb["v"]) else f"need {need} more episodes"
        challengers.append({"model_id": mid, "change": _r(change), "ci_low": _r(d_lo), "ci_high": _r(d_hi),
                            "probability_of_improvement": poi, "per_map_regressions": regress,
                            "recommendation": rec})
    # pareto
    pareto: list[dict[str, Any]] = []
    if cost:
        for r in leaderboard:
            q, c_ = r["metrics"][metric]["mean"], r["cost_mean"]
            dominated = any(
                (o["metrics"][metric]["mean"] >= q and o["cost_mean"] <= c_) and
                (o["metrics"][metric]["mean"] > q or o["cost_mean"] < c_) for o in leaderboard if o is not r)
            pareto.append({"model_id": r["model_id"], "quality": r["metrics"][metric]["mean"],
                           "ci_low": r["metrics"][metric]["ci_low"], "ci_high": r["metrics"][metric]["ci_high"],
                           "cost": _r(c_), "pareto_optimal": not dominated})
    # performance profiles: fraction of episodes above each threshold, bands from the bootstrap
    profiles: dict[str, Any] = {}
    for mid in mids:
        frac = np.asarray([(boot[mid]["v"] > t).mean() for t in tau])
        lo_b, hi_b = np.percentile(boot[mid]["profile"], [2.5, 97.5], axis=0)
        profiles[mid] = {"tau": [_r(x) for x in tau], "frac": [_r(x) for x in frac],
                         "low": [_r(x) for x in lo_b], "high": [_r(x) for x in hi_b]}
    for r in leaderboard:
        r.pop("cost_mean", None)
    data = {"metric": metric, "cost": cost, "seed": int(seed), "resamples": int(resamples),
            "lower_is_better": bool(lower_is_better), "maps": all_maps, "leaderboard": leaderboard,
            "per_map": per_map, "comparisons": comps,
            "summary": {"champion": champion, "champion_source": champ_src, "challengers": challengers},
            "trend": {k: v for k, v in sorted(trend.items())}, "pareto": pareto, "profiles": profiles,
            "excluded": sorted(excluded, key=lambda e: json.dumps(e, sort_keys=True))}
    rep = Report(data)
    if figures:
        rep.figures = _figures(data, profiles)
    return rep


def _metric_entry(np: Any, v: Any, mean_s: Any, iqm_s: Any | None) -> dict[str, Any]:
    from .stats import iqm

    lo, hi = np.percentile(mean_s, [2.5, 97.5])
    out = {"mean": _r(v.mean()), "iqm": _r(float(iqm(v))), "ci_low": _r(lo), "ci_high": _r(hi),
           "std": _r(v.std(ddof=1))}
    if iqm_s is not None:
        ilo, ihi = np.percentile(iqm_s, [2.5, 97.5])
        out.update(iqm_ci_low=_r(ilo), iqm_ci_high=_r(ihi))
    return out


def _trend_point(np: Any, rec: Any, ev: str, v: Any) -> dict[str, Any]:
    # per-evaluation mean with a normal-approximation interval (the trend is descriptive)
    se = float(v.std(ddof=1) / math.sqrt(len(v))) if len(v) > 1 else 0.0
    m = float(v.mean())
    return {"evaluation_id": ev, "timestamp": None if rec is None else rec.timestamp.isoformat(),
            "n": len(v), "mean": _r(m), "ci_low": _r(m - 1.96 * se), "ci_high": _r(m + 1.96 * se)}


def _compare(np: Any, stats: Any, a: dict[str, Any], b: dict[str, Any], n_maps: int) -> tuple[float, float, bool]:
    """PoI and p-value of a vs b: paired by (map, seed) when both tables have seeds that match."""
    if a["seeds"] is not None and b["seeds"] is not None:
        ka = {(int(m), s): float(x) for m, s, x in zip(a["strata"], a["seeds"], a["v"], strict=True)}
        kb = {(int(m), s): float(x) for m, s, x in zip(b["strata"], b["seeds"], b["v"], strict=True)}
        common = sorted(set(ka) & set(kb))
        if len(ka) == len(a["v"]) and len(kb) == len(b["v"]) and len(common) >= 2:
            diffs: dict[int, list[float]] = {}
            for k in common:
                diffs.setdefault(k[0], []).append(ka[k] - kb[k])
            poi, p = stats.paired_poi([np.asarray(d) for _, d in sorted(diffs.items())])
            return poi, p, True
    xs = [a["v"][a["strata"] == j] for j in range(n_maps)]
    ys = [b["v"][b["strata"] == j] for j in range(n_maps)]
    poi, p = stats.mann_whitney_poi(xs, ys)
    return poi, p, False
