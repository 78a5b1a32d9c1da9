"""The docs are tested: their code runs, their example plugin is the real one, every hook is documented.

1. Every ```python block of README.md and docs/*.md runs. The blocks of one file run in order,
   in one namespace, in a fresh temporary working directory. A block opts out only with an HTML
   comment ``<!-- not-run: reason -->`` right before it; each opted-out block shows up as a
   skipped test with its reason, and there may be at most ``MAX_NOT_RUN`` of them.
   A block whose first line is a comment naming a file (``# artifactstore_dict.py``,
   ``# tests/test_dict_backend.py``) is that file of an example project: it is written to that
   path in the working directory (which is on ``sys.path``), and imported there and then unless
   it is a test module. A file inside the artifactstore package (``# artifactstore/cli/x.py``)
   is not written (it would shadow the package) but run as that module, so its relative
   imports resolve.
2. The example plugin blocks of docs/plugins.md (each preceded by
   ``<!-- verbatim: plugins/artifactstore-lz4/... -->``) equal those files byte for byte.
3. Every hook in artifactstore/hookspecs.py has exactly one ``##``/``###`` heading in docs/plugins.md.
4. Every hook is named in at least one test file under tests/ or plugins/.
5. Every ``artifactstore <command>`` of README's "Command line" section exists in the click group
   (and its options parse).
"""

from __future__ import annotations

import importlib
import inspect
import os
import re
import shlex
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

import artifactstore
from artifactstore import hookimpl, hookspecs
from artifactstore.errors import InvalidInputError
from artifactstore.plugins import build_registry

ROOT = Path(__file__).resolve().parent.parent
PLUGINS_MD = ROOT / "docs" / "plugins.md"
EXAMPLE_PLUGIN = ROOT / "plugins" / "artifactstore-lz4"
#: At most this many python blocks may opt out of running, over all the docs.
MAX_NOT_RUN = 3

PYTHON = {"python", "py", "python3"}
_FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})(?P<info>[^`]*)$")
_COMMENT = re.compile(r"^\s*<!--(?P<body>.*?)-->\s*$")
_FILE_HEADER = re.compile(r"^#\s*(?P<path>[A-Za-z0-9_][\w./-]*\.(?:py|toml))\s*$")


def doc_files() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def _rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


@dataclass(frozen=True)
class Block:
    """One fenced code block of a Markdown file."""

    doc: Path
    line: int  # 1-based line number of the block's first line of code
    lang: str
    code: str  # exact content, each line ending in "\n"
    comments: tuple[str, ...]  # bodies of the HTML comments right before the fence

    @property
    def where(self) -> str:
        return f"{_rel(self.doc)}:{self.line}"

    def directive(self, name: str) -> str | None:
        """The text after ``name:`` in a preceding ``<!-- name: text -->`` comment, if any."""
        for body in self.comments:
            key, sep, value = body.strip().partition(":")
            if sep and key.strip() == name:
                return value.strip()
        return None

    @property
    def not_run(self) -> str | None:
        return self.directive("not-run")

    @property
    def file_path(self) -> str | None:
        """The file this block is, from a first line such as ``# artifactstore_dict.py``."""
        first = self.code.split("\n", 1)[0]
        m = _FILE_HEADER.match(first)
        return m.group("path") if m else None


def parse_blocks(doc: Path) -> list[Block]:
    """Every fenced code block of ``doc`` (fences of backticks or tildes, indented up to 3 spaces)."""
    lines = doc.read_bytes().decode("utf-8").split("\n")
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        fence, indent = m.group("fence"), len(m.group("indent"))
        lang = (m.group("info").strip().split() or [""])[0].lower()
        comments: list[str] = []
        j = i - 1
        while j >= 0:
            if not lines[j].strip():
                j -= 1
                continue
            c = _COMMENT.match(lines[j])
            if not c:
                break
            comments.insert(0, c.group("body"))
            j -= 1
        body: list[str] = []
        k = i + 1
        closing = re.compile(rf"^ {{0,3}}{re.escape(fence[0])}{{{len(fence)},}}\s*$")
        while k < len(lines) and not closing.match(lines[k]):
            line = lines[k]
            body.append(line[min(indent, len(line) - len(line.lstrip(" "))) :])
            k += 1
        blocks.append(Block(doc, i + 2, lang, "".join(f"{b}\n" for b in body), tuple(comments)))
        i = k + 1
    return blocks


def python_blocks(doc: Path) -> list[Block]:
    return [b for b in parse_blocks(doc) if b.lang in PYTHON]


def headings(doc: Path) -> list[str]:
    """The ``##`` and ``###`` headings of ``doc``, outside code blocks."""
    inside: set[int] = set()
    for b in parse_blocks(doc):
        inside.update(range(b.line - 1, b.line + b.code.count("\n") + 1))
    lines = doc.read_text(encoding="utf-8").split("\n")
    return [ln for n, ln in enumerate(lines, 1) if n not in inside and re.match(r"^#{2,3}\s", ln)]


def hook_names() -> list[str]:
    return sorted(
        name
        for name, fn in inspect.getmembers(hookspecs, inspect.isfunction)
        if hasattr(fn, f"{hookspecs.PROJECT_NAME}_spec")
    )


# --- running the python blocks --------------------------------------------------------------


def _compile(block: Block, code: str | None = None) -> Any:
    # Pad so that tracebacks point at the Markdown line; do not inherit this file's
    # `from __future__ import annotations`: a block runs as a user would run it.
    source = "\n" * (block.line - 1) + (block.code if code is None else code)
    return compile(source, str(block.doc), "exec", dont_inherit=True)


def _module_name(path: str) -> str | None:
    parts = path[: -len(".py")].split("/")
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts) if parts and all(p.isidentifier() for p in parts) else None


def _run_block(block: Block, namespace: dict[str, Any], workdir: Path) -> None:
    path = block.file_path
    if path is None:
        exec(_compile(block), namespace)
        return
    if path.startswith("artifactstore/"):
        # A module of the package itself: run it as that module (relative imports resolve),
        # without writing it anywhere or touching sys.modules.
        name = _module_name(path)
        assert name, f"{block.where}: {path} is not an importable module path"
        package = name if path.endswith("__init__.py") else name.rpartition(".")[0]
        exec(_compile(block), {"__name__": name, "__package__": package, "__file__": str(ROOT / path)})
        return
    target = workdir / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(block.code, encoding="utf-8")
    name = _module_name(path)
    if path.endswith(".py") and name and not Path(path).name.startswith("test_"):
        importlib.invalidate_caches()
        importlib.import_module(name)


def run_doc(doc: Path, workdir: Path) -> tuple[dict[str, Any], list[Block]]:
    """Run the python blocks of ``doc`` in order in ``workdir``; return (namespace, blocks not run).

    The caller restores the working directory, ``sys.path``, ``sys.modules`` and the environment.
    """
    os.chdir(workdir)
    sys.path.insert(0, str(workdir))
    namespace: dict[str, Any] = {"__name__": "__docs__"}
    skipped = []
    for block in python_blocks(doc):
        if block.not_run is not None:
            skipped.append(block)
            continue
        try:
            _run_block(block, namespace, workdir)
        except BaseException as exc:
            exc.add_note(f"in the python block at {block.where}")
            raise
    return namespace, skipped


@pytest.fixture
def isolated(tmp_path: Path) -> Iterator[Path]:
    """A fresh working directory; cwd, sys.path, sys.modules and os.environ restored afterwards."""
    cwd, path, modules, env = os.getcwd(), list(sys.path), set(sys.modules), dict(os.environ)
    workdir = tmp_path / "work"
    workdir.mkdir()
    # The docs are written for an ordinary environment: entry points on, nothing blocked or traced.
    for var in (
        "ARTIFACTSTORE_DISABLE_PLUGINS",
        "ARTIFACTSTORE_DISABLE_PLUGIN_AUTOLOAD",
        "ARTIFACTSTORE_TRACE_PLUGINS",
    ):
        os.environ.pop(var, None)
    try:
        yield workdir
    finally:
        os.chdir(cwd)
        sys.path[:] = path
        for name in set(sys.modules) - modules:
            file = getattr(sys.modules[name], "__file__", None) or ""
            if file.startswith(str(tmp_path)):
                del sys.modules[name]
        os.environ.clear()
        os.environ.update(env)
        importlib.invalidate_caches()


@pytest.mark.parametrize("doc", doc_files(), ids=_rel)
def test_python_blocks_run(doc: Path, isolated: Path) -> None:
    run_doc(doc, isolated)


def _not_run_blocks() -> list[Block]:
    return [b for doc in doc_files() for b in python_blocks(doc) if b.not_run is not None]


@pytest.mark.parametrize(
    "block",
    _not_run_blocks() or [pytest.param(None, id="none")],
    ids=lambda b: b.where if isinstance(b, Block) else "none",
)
def test_not_run_block(block: Block | None) -> None:
    """One skipped test per block that opts out, so that the run reports each with its reason."""
    if block is None:
        return
    assert block.not_run, f"{block.where}: <!-- not-run: ... --> needs a reason"
    pytest.skip(f"{block.where} not run: {block.not_run}")


def test_few_blocks_opt_out() -> None:
    blocks = _not_run_blocks()
    assert len(blocks) <= MAX_NOT_RUN, "too many python blocks are not run: " + ", ".join(b.where for b in blocks)
    for doc in doc_files():
        for b in parse_blocks(doc):
            if b.not_run is not None:
                assert b.lang in PYTHON, f"{b.where}: only python blocks run, so only they can opt out"


def test_toml_blocks_parse() -> None:
    for doc in doc_files():
        for b in parse_blocks(doc):
            if b.lang == "toml":
                try:
                    tomllib.loads(b.code)
                except tomllib.TOMLDecodeError as exc:
                    pytest.fail(f"{b.where}: invalid TOML: {exc}")


def test_example_backend_in_docs_passes_the_conformance_suite(isolated: Path) -> None:
    """The backend that docs/plugins.md builds passes artifactstore.testing.BackendTests."""
    run_doc(PLUGINS_MD, isolated)
    tests = sorted(p.relative_to(isolated).as_posix() for p in isolated.rglob("test_*.py"))
    assert tests, "docs/plugins.md shows no test module of its example backend"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(isolated), os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "error", *tests],
        cwd=isolated,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    assert re.search(r"\b\d+ passed\b", out.stdout), out.stdout[-2000:]


# --- the example plugin, verbatim -----------------------------------------------------------


def _example_plugin_files() -> list[Path]:
    """The example plugin's pyproject.toml and the module its entry point names."""
    meta = tomllib.loads((EXAMPLE_PLUGIN / "pyproject.toml").read_text(encoding="utf-8"))
    entry_points = meta["project"]["entry-points"][hookspecs.PROJECT_NAME]
    files = [EXAMPLE_PLUGIN / "pyproject.toml"]
    for value in entry_points.values():
        module = EXAMPLE_PLUGIN.joinpath(*value.split(":")[0].split("."))
        files.append(module / "__init__.py" if module.is_dir() else module.with_suffix(".py"))
    return files


def test_example_plugin_is_included_verbatim() -> None:
    verbatim = {b.directive("verbatim"): b for b in parse_blocks(PLUGINS_MD) if b.directive("verbatim") is not None}
    for path in _example_plugin_files():
        rel = _rel(path)
        assert rel in verbatim, f"docs/plugins.md does not include {rel} (<!-- verbatim: {rel} --> before a block)"
    for name, block in verbatim.items():
        assert name is not None
        real = (ROOT / name).read_bytes()
        assert block.code.encode("utf-8") == real, f"{block.where} differs from {name}; copy the file again"


# --- hooks ----------------------------------------------------------------------------------


def test_plugin_hooks_are_documented() -> None:
    heads = headings(PLUGINS_MD)
    for hook in hook_names():
        found = [h for h in heads if re.search(rf"\b{hook}\b", h)]
        assert len(found) == 1, f"hook {hook} needs exactly one ##/### heading in docs/plugins.md, found {found}"
    known = set(hook_names())
    for h in heads:
        for name in re.findall(r"\bartifactstore_\w+", h):
            assert name in known, f"docs/plugins.md has a heading for {name}, which is not a hook: {h!r}"


def test_plugin_hooks_have_tests() -> None:
    files = [
        p
        for top in ("tests", "plugins")
        for p in (ROOT / top).rglob("*.py")
        if p.name.startswith("test_") or p.name.endswith("_test.py")
    ]
    text = {p: p.read_text(encoding="utf-8") for p in files}
    for hook in hook_names():
        assert any(re.search(rf"\b{hook}\b", t) for t in text.values()), f"no test under tests/ or plugins/ uses {hook}"


# Tests of the two registration hooks that no other test file exercises yet.


class _KeepTagged(artifactstore.RetentionPolicy):
    name = "keep_tagged"

    def __init__(self, tag: str = "keep") -> None:
        if not isinstance(tag, str) or not tag:
            raise InvalidInputError("keep_tagged needs a tag")
        self.tag = tag

    def keep(self, artifacts: Any, context: Any) -> dict[str, str]:
        return {a.id: f"tagged {self.tag}" for a in artifacts if self.tag in a.tags}


class _PolicyPlugin:
    @hookimpl
    def artifactstore_register_retention_policies(self, register: Any) -> None:
        register("keep_tagged", _KeepTagged, description="keep artifacts with a tag")


def test_a_retention_policy_plugin_is_used_by_gc(tmp_path: Path) -> None:
    from artifactstore import gc

    reg = build_registry(autoload=False, plugins=[_PolicyPlugin()])
    r = reg.get("retention policy", "keep_tagged")
    assert r is not None and r.factory is _KeepTagged and r.description == "keep artifacts with a tag"
    with artifactstore.open(tmp_path / "s", registry=reg) as store:
        kept = store.put(b"a", name="a", artifact_type="log", tags=["final"])
        gone = store.put(b"b", name="b", artifact_type="log")
        plan = gc.plan(store, ["keep_tagged:tag=final"], grace_seconds=0)
        assert plan.delete_ids == [gone.id]
        assert plan.kept_by_reason == {"keep_tagged": 1}
        result = gc.apply(store, plan)
        assert result.deleted_artifacts == 1 and result.swept_blobs == 1
        assert [a.id for a in store.find()] == [kept.id]
        with pytest.raises(InvalidInputError, match="needs a tag"):
            gc.plan(store, [{"name": "keep_tagged", "tag": ""}])


class _CatalogPlugin:
    def __init__(self) -> None:
        self.urls: list[str] = []

    @hookimpl
    def artifactstore_register_catalogs(self, register: Any) -> None:
        from artifactstore.catalog.sql import SQLCatalog

        def factory(url: str, **options: Any) -> SQLCatalog:
            self.urls.append(url)
            # "audited+sqlite:///path" -> an SQLite catalog at path
            return SQLCatalog(url.split("+", 1)[1], **options)

        register("audited", factory, description="SQLite, with the URLs it opened recorded")


def test_a_catalog_plugin_serves_its_scheme(tmp_path: Path) -> None:
    plugin = _CatalogPlugin()
    reg = build_registry(autoload=False, plugins=[plugin])
    url = f"audited+sqlite:///{tmp_path / 'cat.db'}"
    with artifactstore.open(tmp_path / "s", catalog=url, registry=reg) as store:
        store.put(b"x", name="x", artifact_type="log")
        assert plugin.urls == [url]
        assert store.catalog.url.endswith("cat.db") and (tmp_path / "cat.db").exists()
        assert not (tmp_path / "s" / "catalog.db").exists(), "the plugin's catalog was used, not the default"
    with artifactstore.open(tmp_path / "s", catalog=url, registry=reg) as store:
        assert [a.name for a in store.find()] == ["x"]


# --- the README's command line --------------------------------------------------------------


def _section(doc: Path, title: str) -> str:
    text = doc.read_text(encoding="utf-8")
    m = re.search(rf"^## {re.escape(title)}\s*$(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert m, f"{_rel(doc)} has no '## {title}' section"
    return m.group(1)


def _command_lines(markdown: str) -> list[str]:
    out = []
    for line in markdown.split("\n"):
        s = line.strip().removeprefix("$ ")
        if s.startswith("artifactstore ") and "`" not in s:
            out.append(s.split(" #", 1)[0].split("|", 1)[0].strip())
    return out


def _command_path(group: click.Group, args: list[str]) -> list[str]:
    """The command names in ``args`` (after the global options), checking each exists."""
    value_opts = {
        o
        for p in group.params
        if isinstance(p, click.Option) and not p.is_flag and not p.count
        for o in p.opts + p.secondary_opts
    }
    path: list[str] = []
    cmd: click.Command = group
    i = 0
    while isinstance(cmd, click.Group) and i < len(args):
        arg = args[i]
        if arg.startswith("-"):
            i += 2 if (cmd is group and arg in value_opts and "=" not in arg) else 1
            continue
        sub = cmd.commands.get(arg)
        assert sub is not None, f"'{' '.join(['artifactstore', *path, arg])}': no such command"
        path.append(arg)
        cmd = sub
        i += 1
    assert path, f"no command in {args}"
    return path


def test_readme_cli_commands_exist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from artifactstore.cli.main import cli

    lines = _command_lines(_section(ROOT / "README.md", "Command line"))
    assert len(lines) >= 5, lines
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    for line in lines:
        args = shlex.split(line)[1:]
        _command_path(cli, args)
        # --help is eager: click parses the whole line (unknown options fail) and runs nothing.
        result = runner.invoke(cli, [*args, "--help"])
        assert result.exit_code == 0, f"{line!r}: {result.output}"
    assert not any(tmp_path.iterdir()), "checking the README's commands created files"


# --- links ----------------------------------------------------------------------------------


def _anchor(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.lstrip("#").strip().lower())
    return text.replace(" ", "-")


@pytest.mark.parametrize("doc", ["docs/architecture.md", "docs/plugins.md", "README.md"])
def test_links_resolve(doc: str) -> None:
    """Relative links (and their #anchors) of the architecture and plugin docs, and README's links to them."""
    path = ROOT / doc
    text = path.read_text(encoding="utf-8")
    inside = {n for b in parse_blocks(path) for n in range(b.line - 1, b.line + b.code.count("\n") + 1)}
    prose = "\n".join(ln for n, ln in enumerate(text.split("\n"), 1) if n not in inside)
    for target in re.findall(r"\]\(([^)\s]+)\)", prose):
        if re.match(r"^[a-z]+:", target):
            continue
        file, _, anchor = target.partition("#")
        dest = (path.parent / file).resolve() if file else path
        if doc == "README.md" and dest.name not in ("architecture.md", "plugins.md"):
            continue  # README's other links belong to other docs' owners
        assert dest.exists(), f"{doc}: broken link {target}"
        if anchor:
            assert anchor in {_anchor(h) for h in headings(dest)}, f"{doc}: no heading for #{anchor} in {file or doc}"


# --- every command documented, every option described ------------------------------------------


def _command_tree() -> list[tuple[str, click.Command]]:
    from artifactstore.cli.main import cli

    out: list[tuple[str, click.Command]] = []

    def walk(cmd: click.Command, path: list[str]) -> None:
        if path:
            out.append((" ".join(path), cmd))
        if isinstance(cmd, click.Group):
            for name, sub in sorted(cmd.commands.items()):
                walk(sub, [*path, name])

    walk(cli, [])
    return out


def test_every_cli_command_has_a_section_in_docs_cli_md() -> None:
    # A section is a heading whose code span starts with the command path: "### `cache info`".
    spans = re.findall(r"^#{2,4} `([^`]+)`", (ROOT / "docs" / "cli.md").read_text(), re.M)
    documented = {s.split(" [")[0] for s in spans}
    missing = [path for path, _ in _command_tree()
               if not any(d == path or (d.startswith(path + " ") and not d[len(path) + 1:][:1].islower())
                          for d in documented)]
    assert len(_command_tree()) >= 22
    assert not missing, f"docs/cli.md has no '### `COMMAND ...`' section for: {', '.join(missing)}"


def test_every_cli_option_has_help_text() -> None:
    undescribed = [f"{path} {opt.opts[0]}" for path, cmd in _command_tree() for opt in cmd.params
                   if isinstance(opt, click.Option) and not (opt.help or "").strip()]
    assert not undescribed, f"options without help text: {', '.join(undescribed)}"
    no_doc = [path for path, cmd in _command_tree() if not (cmd.help or "").strip()]
    assert not no_doc, f"commands without a description: {', '.join(no_doc)}"


def test_readme_quickstart_and_commands_run_twice_on_a_fresh_store(isolated: Path) -> None:
    """The README's Quickstart blocks, then every command of its "Command line" section, for real,
    in one fresh folder; then all of it again (a second run must work as well as the first)."""
    from artifactstore.cli.main import cli

    (isolated / "results.csv").write_text("episode,reward\n" + "".join(f"{i},{i / 10}\n" for i in range(50)))
    (isolated / "episodes.jsonl").write_text("".join(
        f'{{"episode_id": "{i}", "success": {str(i % 2 == 0).lower()}, "reward": {i}}}\n' for i in range(10)))
    lines = _command_lines(_section(ROOT / "README.md", "Command line"))
    for round_ in (1, 2):
        namespace, _ = run_doc_section(ROOT / "README.md", "Quickstart", isolated)
        assert namespace["again"].version == 2 * round_
        for line in lines:
            result = CliRunner().invoke(cli, shlex.split(line)[1:], catch_exceptions=False)
            assert result.exit_code == 0, f"run {round_}: {line!r} -> {result.exit_code}: {result.output}"
    assert (isolated / "champions.png").is_file() and (isolated / "out" / "results.csv").is_file()


def run_doc_section(doc: Path, title: str, workdir: Path) -> tuple[dict[str, Any], list[Block]]:
    """Run the python blocks of one ``## title`` section of ``doc`` in ``workdir``."""
    section = _section(doc, title)
    os.chdir(workdir)
    namespace: dict[str, Any] = {"__name__": "__docs__"}
    blocks = [b for b in python_blocks(doc) if b.code in section and b.not_run is None]
    assert blocks, f"no python block in '## {title}'"
    for block in blocks:
        _run_block(block, namespace, workdir)
    return namespace, []
