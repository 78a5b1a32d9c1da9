"""No private side doors between modules (issue 8, item 3).

Every module under ``artifactstore/`` is parsed with :mod:`ast`; the test fails on

- ``from .x import _name`` (a private name imported from another module), and
- ``obj._attr`` where ``obj`` is not ``self``/``cls`` (reaching into another
  object's private state); dunder (``__x__``) and Enum sunder (``_x_``) names
  are allowed.

``ALLOWED`` lists the known offenders that are still to be removed, with the
reason. It must only shrink: an entry that no longer occurs fails the test
too, so whoever removes an offender also removes its line.
"""

from __future__ import annotations

import ast
from pathlib import Path

import artifactstore

PACKAGE = Path(artifactstore.__file__).parent

#: (module, what) -> why it is still there. Shrink only.
# Known offenders, each with the reason it is still there. Empty: keep it so (a seam another
# module needs is public and documented).
ALLOWED: dict[tuple[str, str], str] = {}


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__") and not (name.endswith("_") and len(name) > 2)


def _offenders() -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        module = ".".join(rel.parts).removesuffix(".__init__")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith("artifactstore")):
                for alias in node.names:
                    if _private(alias.name):
                        found.add((module, f"import {node.module}.{alias.name}"))
            elif isinstance(node, ast.Attribute) and _private(node.attr):
                owner = node.value
                if isinstance(owner, ast.Name) and owner.id in ("self", "cls"):
                    continue
                found.add((module, f"{ast.unparse(owner)}.{node.attr}"))
    return found


def test_no_new_private_access_across_modules() -> None:
    new = sorted(_offenders() - set(ALLOWED))
    assert not new, f"private names used across modules (make a public seam instead): {new}"


def test_allowlist_only_shrinks() -> None:
    stale = sorted(set(ALLOWED) - _offenders())
    assert not stale, f"these offenders are gone: remove them from ALLOWED in tests/test_layering.py: {stale}"


#: Modules that work on a store's blobs only through its blob layer (``store.blobs``,
#: artifactstore/blobs.py) and on its journals only through artifactstore/manifests.py.
THROUGH_THE_BLOB_LAYER = ("gc", "sync", "archive", "checkout", "compat/manager", "repair", "store/writing", "store/reading",
                          "store/evaluations", "store/reindex", "store/opening", "store/artifact_store")


def test_operations_do_not_call_a_backend() -> None:
    found = []
    for module in THROUGH_THE_BLOB_LAYER:
        path = PACKAGE / f"{module}.py"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            # X.backend.<anything but its url>: a backend call
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute)
                    and node.value.attr == "backend" and node.attr != "url"):
                found.append(f"{module}: {ast.unparse(node)}")
    assert not found, f"blob and journal work goes through store.blobs / store.manifests: {found}"
