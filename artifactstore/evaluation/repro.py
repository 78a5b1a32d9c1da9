"""Reproducibility records: what an evaluation ran on, captured in one JSON-ready dict.

:func:`capture_repro` records the git commit and whether the work tree had
uncommitted changes, the Python version and implementation, the platform, the
installed package versions, the seeds, the container image digest and the
evaluation parameters. Pass the result as ``repro=`` to
:meth:`ArtifactStore.record_evaluation`.

Nothing here fails for lack of information: no ``git`` executable, no
repository, no container each give ``None`` in the matching field.
"""

from __future__ import annotations

import datetime as _dt
import importlib.metadata as _md
import json
import os
import platform
import subprocess
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

__all__ = ["capture_repro", "git_info", "package_versions"]

#: Environment variables that may hold the container image digest, in order.
IMAGE_DIGEST_ENV = ("CONTAINER_IMAGE_DIGEST", "IMAGE_DIGEST")
#: Environment variables CI systems set to the commit, used when git cannot tell.
COMMIT_ENV = ("GIT_COMMIT", "GITHUB_SHA", "CI_COMMIT_SHA")
_GIT_TIMEOUT = 10.0


def _git(args: list[str], cwd: Path) -> str | None:
    try:
        out = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=_GIT_TIMEOUT, check=True,
            env={**os.environ, "GIT_OPTIONAL_LOCKS": "0", "LC_ALL": "C"},
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


def git_info(cwd: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """``{"sha", "dirty", "branch", "source"}`` of the repository containing ``cwd``.

    ``dirty`` is true when tracked files differ from the commit (untracked
    files, often the evaluation's own outputs, do not count). Outside a
    repository, or without git, ``sha`` falls back to a CI variable
    (``GIT_COMMIT``, ``GITHUB_SHA``, ``CI_COMMIT_SHA``) or ``None``, and ``dirty`` is ``None``.
    """
    where = Path(cwd) if cwd is not None else Path.cwd()
    sha = _git(["rev-parse", "--verify", "HEAD"], where)
    if sha:
        status = _git(["status", "--porcelain", "--untracked-files=no"], where)
        branch = _git(["rev-parse", "--abbrev-ref", "HEAD"], where)
        return {
            "sha": sha,
            "dirty": None if status is None else bool(status),
            "branch": None if branch in (None, "HEAD") else branch,
            "source": "git",
        }
    for var in COMMIT_ENV:
        if os.environ.get(var):
            return {"sha": os.environ[var], "dirty": None, "branch": None, "source": f"env:{var}"}
    return {"sha": None, "dirty": None, "branch": None, "source": None}


def package_versions(names: Iterable[str] | None = None) -> dict[str, str | None]:
    """Installed versions: of every distribution (``names=None``), or of the given names (``None`` if absent)."""
    if names is not None:
        out: dict[str, str | None] = {}
        for n in names:
            try:
                out[n] = _md.version(n)
            except _md.PackageNotFoundError:
                out[n] = None
        return out
    found: dict[str, str | None] = {}
    for dist in _md.distributions():
        name = dist.metadata["Name"] if dist.metadata else None
        if name and name not in found:  # the first on sys.path wins, as for import
            found[name] = dist.version
    return dict(sorted(found.items(), key=lambda kv: kv[0].lower()))


def _jsonable(value: Any) -> Any:
    """``value`` as plain JSON types (unknown objects become their ``str``)."""
    return json.loads(json.dumps(value, default=_default, allow_nan=True))


def _default(o: Any) -> Any:
    if isinstance(o, (set, frozenset, tuple)):
        return list(o)
    tolist = getattr(o, "tolist", None)  # NumPy scalars and arrays
    if callable(tolist) and type(o).__module__ == "numpy":
        return tolist()
    if isinstance(o, (_dt.datetime, _dt.date)):
        return o.isoformat()
    return str(o)


def capture_repro(
    *,
    seeds: Iterable[Any] | int | None = None,
    container_image: str | None = None,
    parameters: Mapping[str, Any] | None = None,
    packages: Iterable[str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """A JSON-serialisable record of what is needed to reproduce an evaluation.

    - ``git``: see :func:`git_info` (for the repository containing ``cwd``, default the working directory).
    - ``python``: version, implementation, executable; ``platform``: system, release, machine, full string.
    - ``packages``: ``{name: version}`` of every installed distribution, or of ``packages`` only.
    - ``seeds``: the seeds given (a single int becomes a one-item list), or ``[]``.
    - ``container_image``: the digest given, else ``$CONTAINER_IMAGE_DIGEST`` or
      ``$IMAGE_DIGEST``, else ``None``; ``container_image_source`` says which.
    - ``parameters``: the evaluation parameters, converted to JSON types.
    - ``captured_at``: ISO 8601, UTC.
    """
    if seeds is None:
        seed_list: list[Any] = []
    elif isinstance(seeds, int):
        seed_list = [seeds]
    else:
        seed_list = list(seeds)
    image, source = container_image, "argument" if container_image else None
    if not image:
        for var in IMAGE_DIGEST_ENV:
            if os.environ.get(var):
                image, source = os.environ[var], f"env:{var}"
                break
        else:
            image, source = None, None
    record = {
        "captured_at": _dt.datetime.now(_dt.UTC).isoformat(),
        "git": git_info(cwd),
        "python": {
            "version": platform.python_version(),
            "implementation": platform.python_implementation(),
            "executable": sys.executable,
        },
        "platform": {
            "system": platform.system(),
            "release": platform.release(),
            "machine": platform.machine(),
            "platform": platform.platform(),
        },
        "packages": package_versions(packages),
        "seeds": seed_list,
        "container_image": image,
        "container_image_source": source,
        "parameters": dict(parameters or {}),
    }
    result: dict[str, Any] = _jsonable(record)
    return result
