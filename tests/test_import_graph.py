"""The package's import graph has no cycle and no upward import (issue 8).

Every module under ``artifactstore/`` is parsed with :mod:`ast` (nothing is
imported) and every ``import``/``from ... import`` of the package is an edge:
at module level and inside functions alike. Imports under
``if TYPE_CHECKING:`` are exempt: they exist for annotations only.

Two checks:

- **no cycle** between modules (a function-level import closes a cycle too:
  it is a dependency, only a later one);
- **no upward import** against :data:`LAYERS`, the "Layers" picture of
  docs/architecture.md: a module imports from its own layer and the layers
  below, never from one above. ``test_layers_match_the_picture`` keeps the
  picture and the table the same.

To change the layering, edit :data:`LAYERS` and the picture together: a new
top-level module or subpackage goes on the line it belongs to (``blobs`` on a
line of its own between ``store`` and ``manifests``, say); a package replacing
a module (``store.py`` -> ``store/``) keeps its name and its line. A module on
no line fails the test, naming it.
"""

from __future__ import annotations

import ast
import itertools
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import artifactstore

PACKAGE = Path(artifactstore.__file__).parent
DOCS = PACKAGE.parent / "docs" / "architecture.md"

#: Top to bottom, as in docs/architecture.md. A unit is a top-level module or
#: subpackage of ``artifactstore`` (``store`` is ``store.py`` or ``store/``);
#: ``__init__`` is the package itself (its lazy re-exports).
LAYERS: list[tuple[str, ...]] = [
    ("__init__",),
    ("cli",),
    ("demo",),
    ("compat",),
    ("gc", "archive", "sync", "checkout", "diff", "evaluation", "ui"),
    ("store", "repair"),
    ("plugins",),
    ("default_plugins",),
    ("hookspecs", "testing"),
    ("blobs",),
    ("manifests", "packs", "cache", "streams", "refs", "validation"),
    ("backends", "catalog", "retention"),
    ("codecs", "models", "errors", "ids", "redact", "atomic", "faults", "config", "scratch", "_version"),
]

#: (importing module, imported module) -> why this upward import is still there.
#: Shrink only: an entry that no longer occurs fails the test.
UPWARD_ALLOWED: dict[tuple[str, str], str] = {
    ("artifactstore.store.evaluations", "artifactstore.evaluation.evidence"): (
        "promote_champion(require_significant=True) asks the evidence judgement (numpy/scipy, the "
        "[report] extra) on demand, inside the function; goes when the judgement moves below the store"
    ),
    ("artifactstore.testing.faults", "artifactstore.plugins"): (
        "the faulty+<scheme> backend factory (a test plugin) looks up the wrapped scheme's backend in "
        "the default registry, inside the function: backend factories are not handed a registry"
    ),
}


@dataclass(frozen=True)
class Edge:
    importer: str
    imported: str
    line: int
    in_function: bool

    def where(self) -> str:
        return f"{self.importer}:{self.line}{' (in a function)' if self.in_function else ''}"


def _module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    return ".".join(rel.parts).removesuffix(".__init__")


MODULES: dict[str, Path] = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _targets(node: ast.Import | ast.ImportFrom, package: str) -> list[str]:
    """The package modules an import statement loads (``from .x import y``: ``x.y`` if a module, else ``x``)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name.split(".")[0] == "artifactstore"]
    if node.level:
        parts = package.split(".")
        base = ".".join(parts[: len(parts) - node.level + 1] + ([node.module] if node.module else []))
    else:
        base = node.module or ""
    if base.split(".")[0] != "artifactstore":
        return []
    return [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]


def _edges_of(module: str, path: Path) -> list[Edge]:
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[Edge] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child.test):
                for c in child.orelse:
                    visit_one(c, in_function)
                continue  # the TYPE_CHECKING body: annotations only
            visit_one(child, in_function)

    def visit_one(node: ast.AST, in_function: bool) -> None:
        if isinstance(node, ast.Import | ast.ImportFrom):
            for target in _targets(node, package):
                if target != module:
                    found.append(Edge(module, target, node.lineno, in_function))
        visit(node, in_function or isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda))

    visit(ast.parse(path.read_text(encoding="utf-8")), False)
    return found


def _graph() -> list[Edge]:
    return [e for m, p in MODULES.items() for e in _edges_of(m, p)]


def unit_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


LAYER_OF: dict[str, int] = {u: i for i, layer in enumerate(LAYERS) for u in layer}


def summary(edges: list[Edge]) -> str:
    """Which unit imports which, by layer: printed when a check fails."""
    deps: dict[str, set[str]] = defaultdict(set)
    for e in edges:
        a, b = unit_of(e.importer), unit_of(e.imported)
        if a != b:
            deps[a].add(b)
    lines = ["import graph (units by layer, top to bottom; TYPE_CHECKING imports left out):"]
    for i, layer in enumerate(LAYERS):
        for u in layer:
            below = sorted(deps.get(u, ()), key=lambda d: (LAYER_OF.get(d, -1), d))
            marked = [d if LAYER_OF.get(d, -1) >= i else f"{d} (UP)" for d in below]
            lines.append(f"  {i:2} {u:16} -> {', '.join(marked) or '-'}")
    return "\n".join(lines)


def _cycles(edges: list[Edge]) -> list[list[str]]:
    """One cycle (a closed path of modules) per strongly connected component of more than one module."""
    out: dict[str, set[str]] = defaultdict(set)
    for e in edges:
        out[e.importer].add(e.imported)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def strongconnect(v: str) -> None:  # Tarjan
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(out[v]):
            if w not in index:
                strongconnect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                components.append(comp)

    for v in sorted(set(out) | {w for ws in out.values() for w in ws}):
        if v not in index:
            strongconnect(v)

    cycles = []
    for comp in components:
        members = set(comp)
        start = min(comp)
        # breadth-first from start back to start, inside the component: the shortest cycle through it
        prev: dict[str, str] = {}
        frontier = [start]
        while frontier and start not in prev:
            nxt = []
            for v in frontier:
                for w in sorted(out[v] & members):
                    if w not in prev:
                        prev[w] = v
                        nxt.append(w)
            frontier = nxt
        path = [start]
        while len(path) == 1 or path[-1] != start:
            path.append(prev[path[-1]])
        cycles.append(path[::-1])
    return cycles


def test_every_module_is_on_a_layer() -> None:
    missing = sorted({unit_of(m) for m in MODULES} - set(LAYER_OF))
    assert not missing, f"on no line of LAYERS (tests/test_import_graph.py) and the picture: {missing}"


def test_no_import_cycle() -> None:
    edges = _graph()
    cycles = _cycles(edges)
    where = {(e.importer, e.imported): e for e in edges}
    described = [
        " -> ".join(c) + "\n      " + "; ".join(where[(a, b)].where() for a, b in itertools.pairwise(c))
        for c in cycles
    ]
    assert not cycles, "import cycles:\n  " + "\n  ".join(described) + "\n" + summary(edges)


def test_no_upward_import() -> None:
    edges = _graph()
    upward = {
        (e.importer, e.imported): e
        for e in edges
        if LAYER_OF.get(unit_of(e.imported), len(LAYERS)) < LAYER_OF.get(unit_of(e.importer), len(LAYERS))
    }
    new = sorted(set(upward) - set(UPWARD_ALLOWED))
    lines = [f"{upward[k].where()} imports {k[1]} ({unit_of(k[1])!r} is above {unit_of(k[0])!r})" for k in new]
    assert not new, "upward imports:\n  " + "\n  ".join(lines) + "\n" + summary(edges)
    stale = sorted(set(UPWARD_ALLOWED) - set(upward))
    assert not stale, f"these upward imports are gone: remove them from UPWARD_ALLOWED: {stale}"


def _picture() -> list[tuple[str, ...]]:
    """The layers as the picture in docs/architecture.md draws them (``x.py`` and ``x/`` names, top to bottom)."""
    text = DOCS.read_text(encoding="utf-8")
    block = text.split("## Layers", 1)[1].split("```", 2)[1]
    layers = []
    for line in block.splitlines()[1:]:
        names = re.findall(r"(?:^|\s)([A-Za-z_]\w*)(?:\.py|/)(?=\s|$)", line)
        if names:
            layers.append(tuple(names))
    return layers


def test_layers_match_the_picture() -> None:
    assert _picture() == LAYERS, "docs/architecture.md's Layers picture and LAYERS differ: change both together"


def test_the_checks_see_what_they_should() -> None:
    """The parser finds module-level, function-level and relative imports, and skips TYPE_CHECKING ones."""
    edges = {(e.importer, e.imported): e for e in _graph()}
    assert ("artifactstore.backends.local", "artifactstore.atomic") in edges
    assert edges[("artifactstore.store.evaluations", "artifactstore.evaluation.evidence")].in_function
    assert ("artifactstore.hookspecs", "artifactstore.store") not in edges  # under TYPE_CHECKING
    ring = [Edge("a", "b", 1, False), Edge("b", "c", 2, True), Edge("c", "a", 3, False), Edge("c", "d", 4, False)]
    assert _cycles(ring) == [["a", "b", "c", "a"]]
