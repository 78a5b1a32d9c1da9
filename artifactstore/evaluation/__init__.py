"""Operations on a store for evaluations: episode export and reproducibility records."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .episodes import export_episodes
from .repro import capture_repro

if TYPE_CHECKING:  # the type checker sees the lazy names with their real types
    from .report import Report, build_report


def __getattr__(name: str) -> Any:
    # report modules need numpy/scipy/pyarrow (the [report] extra): import them only when asked
    if name in ("build_report", "Report"):
        from . import report

        return getattr(report, name)
    raise AttributeError(name)


__all__ = ["Report", "build_report", "capture_repro", "export_episodes"]
