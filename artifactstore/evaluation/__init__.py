"""Operations on a store for evaluations: episode export and reproducibility records."""

from __future__ import annotations

from .episodes import export_episodes
from .repro import capture_repro


def __getattr__(name: str) -> object:
    # report modules need numpy/scipy/pyarrow (the [report] extra): import them only when asked
    if name in ("build_report", "Report"):
        from . import report

        return getattr(report, name)
    raise AttributeError(name)


__all__ = ["Report", "build_report", "capture_repro", "export_episodes"]
