"""The MLflow side of ``bench_peers.py``, run by MLflow's own interpreter (its cache venv).

It is a tiny server on stdin/stdout: one JSON command per line, one JSON answer
per line. Each command is a whole workload (e.g. "log these 1,000 files one
call each"), so the pipe's round trip (~0.1 ms) is noise against what it
times. The benchmark times the command from its own side, exactly as it times
artifactstore's calls, so both include the same overhead.

This file imports nothing from artifactstore: it runs in another venv.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any


def main() -> int:
    import mlflow
    from mlflow.artifacts import download_artifacts
    from mlflow.tracking import MlflowClient

    client: Any = None
    tracking = ""
    run_id = ""
    for line in sys.stdin:
        cmd = json.loads(line)
        op = cmd["op"]
        out: dict[str, Any] = {"ok": True}
        try:
            if op == "init":
                tracking = cmd["tracking_uri"]
                mlflow.set_tracking_uri(tracking)
                client = MlflowClient(tracking_uri=tracking)
                exp = client.get_experiment_by_name("bench")
                exp_id = exp.experiment_id if exp else client.create_experiment(
                    "bench", artifact_location=cmd["artifact_location"])
                run_id = client.create_run(exp_id).info.run_id
                out.update(version=mlflow.__version__, run_id=run_id)
            elif op == "log_artifact_each":
                for path in cmd["paths"]:
                    client.log_artifact(run_id, path, artifact_path=cmd["artifact_path"])
            elif op == "log_artifacts":
                client.log_artifacts(run_id, cmd["dir"], artifact_path=cmd["artifact_path"])
            elif op == "download_each":
                for path in cmd["paths"]:
                    download_artifacts(run_id=run_id, artifact_path=path, dst_path=cmd["dst"],
                                       tracking_uri=tracking)
            elif op == "download":
                download_artifacts(run_id=run_id, artifact_path=cmd["path"], dst_path=cmd["dst"],
                                   tracking_uri=tracking)
            elif op == "artifact_root":
                out["path"] = client.get_run(run_id).info.artifact_uri.removeprefix("file://")
            elif op == "quit":
                print(json.dumps(out), flush=True)
                return 0
            else:
                raise ValueError(f"unknown op {op!r}")
        except Exception as exc:  # reported to the benchmark, which stops with it
            out = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    sys.exit(main())
