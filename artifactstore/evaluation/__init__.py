"""Operations on a store for evaluations: episode export and reproducibility records."""

from __future__ import annotations

from .episodes import export_episodes
from .repro import capture_repro

__all__ = ["capture_repro", "export_episodes"]
