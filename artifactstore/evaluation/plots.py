"""Champion-progression plot (matplotlib, through the ``plot`` extra)."""

from __future__ import annotations

import bisect
import os
from pathlib import Path
from typing import Any

from ..errors import MissingDependencyError

__all__ = ["plot_champions"]


def _pyplot() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg")  # files only: no display needed
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise MissingDependencyError("matplotlib", "plot", "plotting the champion progression") from exc
    return plt


def plot_champions(store: Any, dest: str | os.PathLike[str], *, title: str = "Champion progression") -> Path:
    """Write a PNG of every evaluation's score (by model) and the champion chain over time."""
    plt = _pyplot()
    chain = list(reversed(store.champion_history()))
    evals = list(reversed(store.evaluations()))
    fig, ax = plt.subplots(figsize=(9, 4.8), dpi=110)
    try:
        # x: evaluation number in time order (campaigns can run in seconds or months)
        times = [e.timestamp for e in evals]
        pos = {e.evaluation_id: i + 1 for i, e in enumerate(evals)}

        def x_of(c: Any) -> float:
            if c.evaluation_id in pos:
                return float(pos[c.evaluation_id])
            return float(bisect.bisect_right(times, c.timestamp)) + 0.5

        by_model: dict[str, list[tuple[int, float]]] = {}
        for i, e in enumerate(evals):
            by_model.setdefault(e.model_id, []).append((i + 1, e.global_score))
        for model, pts in sorted(by_model.items()):
            ax.scatter([p[0] for p in pts], [p[1] for p in pts], s=28, alpha=0.7, label=model)
        if chain:
            xs: list[float] = []
            for c in chain:  # keep the step line monotonic even if an evaluation was re-recorded later
                xs.append(max(x_of(c), xs[-1] if xs else 0.0))
            ys = [c.global_score for c in chain]
            end = max(xs[-1], float(len(evals))) + 0.5
            ax.step([*xs, end], [*ys, ys[-1]], where="post", color="black", linewidth=2, label="champion")
            for c, x in zip(chain, xs, strict=True):
                ax.annotate(c.model_id, (x, c.global_score), textcoords="offset points", xytext=(4, 6), fontsize=8)
        ax.set_xlabel("evaluation (in time order)")
        ax.set_title(title)
        ax.set_ylabel("global score")
        ax.grid(True, alpha=0.3)
        if by_model or chain:
            # Outside the axes, so that no point (the last evaluation's, bottom right) is hidden under it.
            ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
        fig.tight_layout()
        out = Path(dest)
        out.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(out, format="png", bbox_inches="tight")
    finally:
        plt.close(fig)
    return out
