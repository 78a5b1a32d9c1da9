"""Built-in retention policies, registered through the plugin hook."""

from __future__ import annotations

from ..hookspecs import Registrar, hookimpl
from ..retention.policies import KeepAll, KeepChampions, KeepRecent, KeepTopK


@hookimpl
def artifactstore_register_retention_policies(register: Registrar) -> None:
    register("keep_all", KeepAll, description="never delete")
    register("keep_top_k", KeepTopK, description="keep the best k per type (score, then recency)")
    register("keep_recent", KeepRecent, description="keep artifacts younger than max_age_days")
    register("keep_champions", KeepChampions, description="keep champion artifacts")
