"""The contract a retention policy implements.

A policy *judges*: given the artifacts of a store and some context, it says
which ones it keeps and why. It never deletes anything; garbage collection
(:mod:`artifactstore.gc`) acts on the combined verdict. Policies compose: an
artifact is deleted only when no active policy keeps it.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import ClassVar

from ..models import Artifact

__all__ = ["RetentionPolicy", "RetentionContext"]


@dataclass(frozen=True)
class RetentionContext:
    """What a policy may use besides the artifacts themselves.

    - ``now``: the reference time (seconds since the epoch) for age checks.
    - ``champion_artifact_ids``: artifacts linked to any champion, past or present.
    - ``evaluation_scores``: ``evaluation_id -> global_score`` of recorded evaluations.
    """

    now: float = field(default_factory=time.time)
    champion_artifact_ids: frozenset[str] = frozenset()
    evaluation_scores: Mapping[str, float] = field(default_factory=dict)


class RetentionPolicy(ABC):
    """Abstract retention policy, registered by name through
    ``artifactstore_register_retention_policies``; built by ``factory(**params)``."""

    #: Registered name (``keep_top_k``...), used in reasons and reports.
    name: ClassVar[str]

    @abstractmethod
    def keep(self, artifacts: Sequence[Artifact], context: RetentionContext) -> dict[str, str]:
        """Return ``{artifact_id: reason}`` for every artifact this policy keeps.

        Artifacts absent from the result are not kept *by this policy*; another
        policy may still keep them. The reason is a short human-readable phrase
        (``"top 10 of type video by recency"``). Must not modify anything.
        """

    def describe(self) -> str:
        """One line for plans and reports. *Default*: the policy name."""
        return self.name
