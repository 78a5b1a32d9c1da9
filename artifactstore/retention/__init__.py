"""Retention policies: they judge which artifacts to keep; gc acts."""

from .base import RetentionContext, RetentionPolicy
from .policies import KeepAll, KeepChampions, KeepRecent, KeepTopK

__all__ = ["RetentionPolicy", "RetentionContext", "KeepAll", "KeepTopK", "KeepRecent", "KeepChampions"]
