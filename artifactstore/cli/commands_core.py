"""Core commands: init, put, get, cat, ls, show, rm, alias, stats, verify, reindex, plugins, diff."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, BinaryIO

import click

from ..errors import SourceIsFolderError, SourceNotFoundError
from .common import (
    EXIT_ERROR,
    CliError,
    catalog_url,
    emit,
    get_state,
    get_store,
    is_interactive,
    json_option,
    merge_metadata,
    parse_key_value,
    parse_when,
    resolve_ref,
    short_ids,
    want_json,
)
from .format import human_size, key_values, local_time, percent, printable, table, to_json
from .progress import progress_bar, stderr_is_tty

if TYPE_CHECKING:
    from ..models import Artifact

__all__ = ["artifact_json", "register"]

_TYPES_HELP = ("evaluation_result, episode_data, video, trace, report, model_checkpoint, configuration, log, plot, "
               "heatmap, or any other word")
_ORDERS = ["-created_at", "created_at", "newest", "oldest", "name", "-name", "size", "-size", "version", "-version"]
_COPY_CHUNK = 1 << 20


def artifact_json(art: Artifact) -> dict[str, Any]:
    """``Artifact.to_dict()`` with the artifact's ref added after its id."""
    d = art.to_dict()
    return {"id": d.pop("id"), "ref": art.ref, **d}


def _binary_stdin() -> BinaryIO:
    return sys.stdin.buffer


def _binary_stdout() -> BinaryIO:
    return sys.stdout.buffer


# --- init ------------------------------------------------------------------------------------


@click.command("init")
@json_option
@click.pass_context
def init_cmd(ctx: click.Context, as_json: bool) -> None:
    """Create the store (if needed) and print where it and its catalog are."""
    store = get_store(ctx, create=True)
    created = get_state(ctx).created
    data = {"store": store.url, "catalog": catalog_url(store), "created": created}
    verb = "created store" if created else "store already exists"
    emit(ctx, as_json, data=data, text=f"{verb}: {store.url}\ncatalog: {catalog_url(store)}")


# --- put -------------------------------------------------------------------------------------


@click.command("put")
@click.argument("files", nargs=-1, required=True, metavar="FILE...")
@click.option("--type", "artifact_type", required=True, metavar="TYPE", help=f"Artifact type: {_TYPES_HELP}.")
@click.option("--name", default=None,
              help="Artifact name, a relative path such as suite/map/report.json (default: the file's base name). "
                   "Only with one FILE.")
@click.option("--model", "model_id", default=None, help="Model id.")
@click.option("--evaluation", "evaluation_id", default=None, help="Evaluation id.")
@click.option("--suite", "suite_name", default=None, help="Suite name.")
@click.option("--map", "map_name", default=None, help="Map name.")
@click.option("--episode", "episode_id", default=None, help="Episode id.")
@click.option("--tag", "tags", multiple=True, metavar="TAG", help="Tag; repeatable.")
@click.option("--meta", multiple=True, metavar="KEY=VALUE",
              help="Metadata entry; repeatable. VALUE is parsed as JSON if it parses (3, true, [1,2]), "
                   "else kept as a string.")
@click.option("--meta-json", default=None, metavar="JSON",
              help="Metadata as a JSON object; --meta entries override it.")
@click.option("--codec", default=None, metavar="CODEC",
              help="auto (default: zstd unless the data does not compress), none, gzip, zstd, zip, tar.gz, "
                   "or any codec a plugin registers.")
@json_option
@click.pass_context
def put_cmd(ctx: click.Context, files: tuple[str, ...], artifact_type: str, name: str | None, model_id: str | None,
            evaluation_id: str | None, suite_name: str | None, map_name: str | None, episode_id: str | None,
            tags: tuple[str, ...], meta: tuple[str, ...], meta_json: str | None, codec: str | None,
            as_json: bool) -> None:
    """Store FILE(s) as new artifact versions and print each id and ref.

    \b
    FILE '-' reads standard input (then --name is required).
    Several FILEs are stored as one batch: all of them or none.
    """
    metadata = merge_metadata(meta, meta_json)
    if "-" in files and len(files) > 1:
        raise click.UsageError("'-' (standard input) cannot be combined with other files")
    if len(files) > 1 and name is not None:
        raise click.UsageError("--name names one artifact; give a single FILE, or leave --name out")
    if files == ("-",) and name is None:
        raise click.UsageError("reading standard input ('-') needs --name")
    common: dict[str, Any] = {
        "artifact_type": artifact_type, "model_id": model_id, "evaluation_id": evaluation_id,
        "suite_name": suite_name, "map_name": map_name, "episode_id": episode_id, "tags": list(tags),
        "metadata": metadata, "codec": codec,
    }
    for f in files:  # before opening (and maybe creating) the store
        if f != "-" and os.path.isdir(f):
            raise SourceIsFolderError(f)
        if f != "-" and not os.path.isfile(f):
            raise SourceNotFoundError(f if not os.path.exists(f) else f"{f} (not a regular file)")
    state = get_state(ctx)
    store = get_store(ctx, create=True)
    if len(files) == 1:
        path = files[0]
        source: Any = _binary_stdin() if path == "-" else path
        total = None if path == "-" else _file_size(path)
        label = f"put {name or os.path.basename(path)}"
        with progress_bar(total, label, enabled=state.progress) as bar:
            arts = [store.put(source, name=name, progress=bar, **common)]
    else:
        arts = store.put_many([{"source": f, **common} for f in files])
    if state.created and not want_json(ctx, as_json):
        click.echo(f"created store: {store.url}", err=True)
    emit(ctx, as_json, data=[artifact_json(a) for a in arts],
         text=lambda: "\n".join(
             f"{a.id}  {a.ref}  {human_size(a.size)} -> {human_size(a.stored_size)} {a.codec}" for a in arts))


def _file_size(path: str) -> int | None:
    try:
        return os.stat(path).st_size
    except OSError:
        return None  # the store raises the clear error


# --- get / cat -------------------------------------------------------------------------------


@click.command("get")
@click.argument("ref")
@click.argument("dest", required=False, default=".", type=click.Path(dir_okay=True, file_okay=True))
@json_option
@click.pass_context
def get_cmd(ctx: click.Context, ref: str, dest: str, as_json: bool) -> None:
    """Write the artifact REF to DEST, verified.

    DEST is a file path or a folder (default: the current folder), which receives
    the artifact's base name; a DEST ending in '/' is a folder and is created if
    needed. An existing file is replaced atomically.
    """
    store = get_store(ctx)
    art = resolve_ref(store, ref)
    if dest.endswith(("/", os.sep)):
        os.makedirs(dest, exist_ok=True)
    with progress_bar(art.size, f"get {art.ref}", enabled=get_state(ctx).progress) as bar:
        path = store.get(art, dest, progress=bar)
    emit(ctx, as_json, data={"path": str(path), **artifact_json(art)}, text=str(path))


@click.command("cat")
@click.argument("ref")
@click.pass_context
def cat_cmd(ctx: click.Context, ref: str) -> None:
    """Write the artifact REF's bytes to standard output, verified while streaming.

    A mismatch is reported (exit code 1) when the end is reached, after the bytes were written.
    """
    store = get_store(ctx)
    out = _binary_stdout()
    with store.open(resolve_ref(store, ref)) as f:
        while True:
            chunk = f.read(_COPY_CHUNK)
            if not chunk:
                break
            out.write(chunk)
    out.flush()


# --- ls / show -------------------------------------------------------------------------------


@click.command("ls")
@click.option("--type", "artifact_types", multiple=True, metavar="TYPE", help="Artifact type; repeatable (any of).")
@click.option("--model", "model_id", default=None, help="Model id.")
@click.option("--evaluation", "evaluation_id", default=None, help="Evaluation id.")
@click.option("--suite", "suite_name", default=None, help="Suite name.")
@click.option("--map", "map_name", default=None, help="Map name.")
@click.option("--episode", "episode_id", default=None, help="Episode id.")
@click.option("--tag", "tags", multiple=True, metavar="TAG", help="Tag; repeatable (any of them, or see --all-tags).")
@click.option("--all-tags", is_flag=True, help="Require every --tag instead of any.")
@click.option("--meta", multiple=True, metavar="KEY=VALUE",
              help="Top-level metadata KEY equals VALUE (JSON if it parses: 3, true, \"3\"); repeatable.")
@click.option("--name", default=None, help="Exact artifact name.")
@click.option("--prefix", "name_prefix", default=None, help="Artifact names starting with this.")
@click.option("--after", default=None, metavar="WHEN",
              help="Created after: ISO date/time (UTC if naive) or an age (7d, 12h).")
@click.option("--before", default=None, metavar="WHEN", help="Created before: ISO date/time or an age.")
@click.option("--order", default="-created_at", show_default=True, type=click.Choice(_ORDERS), help="Sort order.")
@click.option("--limit", default=None, type=click.IntRange(min=0),
              help="At most this many (0: all). Default: 50 in the table, every match with --json.")
@click.option("--offset", default=0, show_default=True, type=click.IntRange(min=0),
              help="Skip this many first (the cursor the 'more' line on stderr gives).")
@json_option
@click.pass_context
def ls_cmd(ctx: click.Context, artifact_types: tuple[str, ...], model_id: str | None, evaluation_id: str | None,
           suite_name: str | None, map_name: str | None, episode_id: str | None, tags: tuple[str, ...],
           all_tags: bool, meta: tuple[str, ...], name: str | None, name_prefix: str | None, after: str | None,
           before: str | None, order: str, limit: int | None, offset: int, as_json: bool) -> None:
    """List artifacts matching every filter, newest first.

    \b
    The ID column is the short id: the id's last 8 hex digits (longer when another
    artifact shares them); every command that takes a REF accepts it.
    With --json every match is printed unless --limit is given; when a page
    leaves matches out, stderr says so and gives the --offset of the next page.
    """
    filters: dict[str, Any] = {
        "model_id": model_id, "evaluation_id": evaluation_id, "suite_name": suite_name, "map_name": map_name,
        "episode_id": episode_id, "name": name, "name_prefix": name_prefix,
        "created_after": parse_when(after, "--after"), "created_before": parse_when(before, "--before"),
    }
    if artifact_types:
        filters["artifact_type"] = artifact_types[0] if len(artifact_types) == 1 else list(artifact_types)
    if tags:
        filters["tags"] = list(tags)
        filters["tags_mode"] = "all" if all_tags else "any"
    if meta:
        filters["metadata"] = parse_key_value(meta)
    filters = {k: v for k, v in filters.items() if v is not None}
    store = get_store(ctx)
    json_out = want_json(ctx, as_json)
    if limit is None:
        limit = 0 if json_out else 50
    arts = store.find(**filters, order_by=order, limit=limit or None, offset=offset)
    if json_out:
        click.echo(to_json([artifact_json(a) for a in arts]))
        _more(store, filters, limit, offset, len(arts))
        return
    if not arts:
        click.echo("no artifacts match" if filters or offset else "the store is empty", err=True)
        return
    shorts = short_ids(store, [a.id for a in arts])
    rows = [
        (shorts[a.id], a.ref, a.artifact_type, a.model_id or "-", human_size(a.size), human_size(a.stored_size),
         a.codec, local_time(a.created_at))
        for a in arts
    ]
    click.echo(table(["ID", "REF", "TYPE", "MODEL", "SIZE", "STORED", "CODEC", "CREATED"], rows, align="llllrrll"))
    _more(store, filters, limit, offset, len(arts))


def _more(store: Any, filters: dict[str, Any], limit: int, offset: int, shown: int) -> None:
    # One line on stderr when this page leaves matches out, naming the next page's cursor.
    if limit and shown == limit:
        total = store.count(**filters)
        if total > offset + shown:
            click.echo(f"showing {offset + 1}-{offset + shown} of {total}; next page: --offset {offset + shown} "
                       f"(--limit 0 for all)", err=True)


@click.command("show")
@click.argument("ref")
@json_option
@click.pass_context
def show_cmd(ctx: click.Context, ref: str, as_json: bool) -> None:
    """Show every field of the artifact REF, with its aliases."""
    store = get_store(ctx)
    art = resolve_ref(store, ref)
    aliases = store.aliases(art)
    if want_json(ctx, as_json):
        click.echo(to_json({**artifact_json(art), "aliases": aliases}))
        return
    pairs: list[tuple[str, Any]] = [
        ("id", art.id),
        ("ref", art.ref),
        ("name", art.name),
        ("version", art.version),
        ("type", art.artifact_type),
        ("size", f"{human_size(art.size)} ({art.size} bytes)"),
        ("stored", f"{human_size(art.stored_size)} ({art.stored_size} bytes, codec {art.codec})"),
        ("sha256", art.sha256),
        ("blob", art.blob_key),
        ("created", f"{art.created_at.isoformat()} ({local_time(art.created_at)} local)"),
        ("model", art.model_id),
        ("evaluation", art.evaluation_id),
        ("suite", art.suite_name),
        ("map", art.map_name),
        ("episode", art.episode_id),
        ("tags", ", ".join(art.tags) if art.tags else None),
        ("aliases", ", ".join(f"{art.name}:{a}" for a in aliases) if aliases else None),
        ("metadata", "" if art.metadata else "{}"),
    ]
    lines = [key_values(pairs)]
    for k in sorted(art.metadata):
        value = json.dumps(art.metadata[k], ensure_ascii=False, separators=(", ", ": "))
        lines.append(f"  {printable(k)}: {printable(value)}")
    click.echo("\n".join(lines))


# --- rm / alias ------------------------------------------------------------------------------


@click.command("rm")
@click.argument("refs", nargs=-1, required=True, metavar="REF...")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation (required without a terminal).")
@json_option
@click.pass_context
def rm_cmd(ctx: click.Context, refs: tuple[str, ...], yes: bool, as_json: bool) -> None:
    """Delete artifact versions. Every REF is resolved first: one unknown REF deletes nothing.

    Blobs that no other artifact uses are freed later by garbage collection.
    """
    store = get_store(ctx)
    arts: dict[str, Artifact] = {}
    for ref in refs:
        art = resolve_ref(store, ref)
        arts.setdefault(art.id, art)
    if not yes:
        if not is_interactive():
            raise CliError("refusing to delete without --yes (no terminal to confirm on)")
        for a in arts.values():
            click.echo(f"  {a.ref}  ({a.id}, {human_size(a.size)})", err=True)
        click.confirm(f"Delete {len(arts)} artifact(s)?", abort=True, err=True)
    gone = store.delete_many(list(arts))
    emit(ctx, as_json, data=[artifact_json(a) for a in gone],
         text=lambda: "\n".join(f"deleted {a.ref}  ({a.id})" for a in gone))


@click.command("alias")
@click.argument("ref")
@click.argument("alias", required=False)
@click.option("--remove", is_flag=True,
              help="Remove the alias instead: 'alias --remove NAME:ALIAS' or 'alias --remove REF ALIAS'.")
@json_option
@click.pass_context
def alias_cmd(ctx: click.Context, ref: str, alias: str | None, remove: bool, as_json: bool) -> None:
    """Point NAME:ALIAS at the artifact REF (moving the alias if it existed), or remove it with --remove.

    Both are journalled: reindex keeps the change.
    """
    store = get_store(ctx)
    if remove:
        from ..refs import parse_ref

        if alias is None:
            parsed = parse_ref(ref)
            if parsed.name is None or parsed.alias is None:
                raise click.UsageError("--remove needs NAME:ALIAS, or REF and ALIAS")
            name, alias = parsed.name, parsed.alias
        else:
            name = resolve_ref(store, ref).name
        from ..errors import ArtifactNotFoundError

        try:
            gone = store.remove_alias(name, alias)
        except ArtifactNotFoundError:
            have = sorted({al for a in store.versions(name) for al in store.aliases(a)}) if store.versions(name) else []
            raise CliError(f"no alias {name}:{alias} to remove (aliases of {name}: {', '.join(have) or 'none'})") \
                from None
        emit(ctx, as_json, data={"alias": f"{name}:{alias}", "removed": True, "artifact_id": gone},
             text=f"removed {name}:{alias} (was {gone})")
        return
    if alias is None:
        raise click.UsageError("missing ALIAS: 'alias REF ALIAS' (or 'alias --remove NAME:ALIAS')")
    art = store.set_alias(resolve_ref(store, ref), alias)
    emit(ctx, as_json, data={"alias": f"{art.name}:{alias}", "artifact": artifact_json(art)},
         text=f"{art.name}:{alias} -> {art.ref}  ({art.id})")


# --- diff ------------------------------------------------------------------------------------


@click.command("diff")
@click.argument("ref_a", metavar="REF_A")
@click.argument("ref_b", metavar="[REF_B]", required=False)
@click.option("--context", "context_lines", default=3, show_default=True, type=click.IntRange(min=0),
              help="Lines of context around each change in a text diff.")
@click.option("--max-text-bytes", default=16 << 20, show_default=True, type=click.IntRange(min=0),
              help="Text diffs compare files up to this size each; larger ones get a summary only.")
@json_option
@click.pass_context
def diff_cmd(ctx: click.Context, ref_a: str, ref_b: str | None, context_lines: int, max_text_bytes: int,
             as_json: bool) -> None:
    """Compare two artifacts (or REF_A with the version before it): fields, then content.

    \b
    Tables (CSV, TSV, JSON lists of rows, {"episodes": [...]} documents) get a
    per-column summary: rows, columns added or removed, the mean of each numeric
    column in both and its change. Other text gets a unified diff; binary content
    its sizes and digests. Exit code 0 whether or not they differ.
    """
    from ..diff import diff_artifacts

    store = get_store(ctx)
    a = resolve_ref(store, ref_a)
    if ref_b is None:
        older = [v for v in store.versions(a.name) if v.version < a.version]
        if not older:
            raise CliError(f"{a.ref} has no earlier version to compare with; give REF_B")
        a, b = older[-1], a
    else:
        b = resolve_ref(store, ref_b)
    result = diff_artifacts(store, a, b, context_lines=context_lines, max_text_bytes=max_text_bytes)
    emit(ctx, as_json, data=result.to_dict(), text=result.text)


# --- stats / verify / reindex ----------------------------------------------------------------


@click.command("stats")
@json_option
@click.pass_context
def stats_cmd(ctx: click.Context, as_json: bool) -> None:
    """Counts, bytes, deduplication and compression savings, per type, model and codec."""
    store = get_store(ctx)
    st = store.stats()
    if want_json(ctx, as_json):
        click.echo(to_json({"store": store.url, "catalog": catalog_url(store), **st.to_dict()}))
        return
    summary = key_values([
        ("store", store.url),
        ("catalog", catalog_url(store)),
        ("artifacts", st.total_artifacts),
        ("original size", f"{human_size(st.total_size_bytes)} ({st.total_size_bytes} bytes)"),
        ("unique blobs", f"{st.unique_blobs} holding {human_size(st.unique_size_bytes)}"),
        ("stored size", f"{human_size(st.stored_size_bytes)} ({st.stored_size_bytes} bytes)"),
        ("dedup saved", f"{human_size(st.dedup_saved_bytes)} ({percent(st.dedup_saved_bytes, st.total_size_bytes)})"),
        ("compression saved",
         f"{human_size(st.compression_saved_bytes)} "
         f"({percent(st.compression_saved_bytes, st.unique_size_bytes)} of unique bytes)"),
    ])
    parts = [summary]

    def counts(title: str, d: dict[str, int]) -> None:
        if d:
            rows = sorted(d.items(), key=lambda kv: (-kv[1], kv[0]))
            parts.append(table([title, "ARTIFACTS"], rows, align="lr"))

    counts("TYPE", st.artifacts_by_type)
    counts("MODEL", st.artifacts_by_model)
    if st.bytes_by_codec:
        rows = [(k, human_size(v), str(v)) for k, v in sorted(st.bytes_by_codec.items(), key=lambda kv: -kv[1])]
        parts.append(table(["CODEC", "STORED", "BYTES"], rows, align="lrr"))
    click.echo("\n\n".join(parts))


@click.command("verify")
@click.option("--repair", is_flag=True,
              help="Restore corrupt or missing blobs from the replica given with --from; report the rest as "
                   "needing a re-put of their original bytes.")
@click.option("--from", "replica_url", metavar="URL",
              help="With --repair: a replica store holding the same content (e.g. one kept in sync).")
@json_option
@click.pass_context
def verify_cmd(ctx: click.Context, repair: bool, replica_url: str | None, as_json: bool) -> None:
    """Re-hash every blob. Exit code 1, listing them, if any artifact is corrupt or missing its blob
    (with --repair: if any is left so after the repair)."""
    if replica_url and not repair:
        raise click.UsageError("--from needs --repair")
    store = get_store(ctx)
    total = store.stats().unique_size_bytes
    replica = None
    if replica_url:
        from ..store import open_store

        replica = open_store(replica_url, **get_state(ctx).store_options)
        ctx.call_on_close(replica.close)
    with progress_bar(total, "verify", enabled=get_state(ctx).progress, threshold=0) as bar:
        report = store.verify(progress=bar, repair=repair, replica=replica)
    problems = []
    fixed = set(report.repaired)
    for status, ids in (("corrupt", report.corrupt), ("missing", report.missing)):
        for aid in ids:
            try:
                ref = store.resolve(aid).ref
            except KeyError:  # deleted meanwhile
                ref = "-"
            what = status
            if repair:
                what += ", repaired" if aid in fixed else ", needs a re-put"
            problems.append({"status": what, "id": aid, "ref": ref})
    if want_json(ctx, as_json):
        doc: dict[str, Any] = {"ok": report.ok, "checked": len(report.checked), "corrupt": report.corrupt,
                               "missing": report.missing, "problems": problems}
        if repair:
            doc.update(repaired=report.repaired, needs_reput=report.needs_reput)
        click.echo(to_json(doc))
    else:
        if problems:
            rows = [(p["status"], p["id"], p["ref"]) for p in problems]
            click.echo(table(["STATUS", "ID", "REF"], rows))
        summary = (f"verified {len(report.checked)} artifacts: {len(report.corrupt)} corrupt, "
                   f"{len(report.missing)} missing")
        if repair and problems:
            summary += f"; {len(report.repaired)} repaired, {len(report.needs_reput)} need a re-put of their bytes"
        click.echo(summary if problems else f"verified {len(report.checked)} artifacts: all OK",
                   err=bool(problems) and not report.ok)
    if not report.ok:
        ctx.exit(EXIT_ERROR)


@click.command("reindex")
@click.option("--catalog", "catalog", metavar="URL",
              help="Rebuild this catalog (e.g. a cluster's postgresql://...); same as the global --catalog.")
@json_option
@click.pass_context
def reindex_cmd(ctx: click.Context, catalog: str | None, as_json: bool) -> None:
    """Rebuild the catalog from the manifests and records in the store.

    A damaged SQLite catalog file (garbage, truncated, another program's database) is
    moved aside as catalog.db.corrupt-TIMESTAMP, with a warning, and rebuilt."""
    if catalog:
        get_state(ctx).catalog_url = catalog
    store = get_store(ctx, repair_catalog=True)
    if stderr_is_tty() and not want_json(ctx, as_json):
        click.echo(f"reindexing {store.url} into {catalog_url(store)} ...", err=True)
    start = time.monotonic()
    n = store.reindex()
    seconds = time.monotonic() - start
    emit(ctx, as_json, data={"artifacts": n, "store": store.url, "catalog": catalog_url(store),
                             "seconds": round(seconds, 3)},
         text=f"reindexed {n} artifacts from {store.url} into {catalog_url(store)} in {seconds:.2f} s")


# --- plugins ---------------------------------------------------------------------------------


@click.command("plugins")
@json_option
@click.pass_context
def plugins_cmd(ctx: click.Context, as_json: bool) -> None:
    """Every loaded plugin with its package and version, and every registered
    backend, codec, retention policy and catalog with the plugin that provides it."""
    from ..plugins import default_registry

    reg = default_registry()
    plugins = [{"plugin": p, "package": d, "version": v} for p, d, v in reg.plugins()]
    components = [
        {"kind": r.kind, "name": r.name, "plugin": r.plugin, "package": r.distribution, "version": r.version,
         "description": r.description}
        for r in reg.all()
    ]
    if want_json(ctx, as_json):
        click.echo(to_json({"plugins": plugins, "components": components}))
        return
    t1 = table(["PLUGIN", "PACKAGE", "VERSION"], [(p["plugin"], p["package"], p["version"] or "-") for p in plugins])
    t2 = table(
        ["KIND", "NAME", "PROVIDED BY", "PACKAGE", "VERSION", "DESCRIPTION"],
        [(c["kind"], c["name"], c["plugin"], c["package"], c["version"] or "-", c["description"] or "")
         for c in components],
    )
    click.echo(f"{t1}\n\n{t2}")


COMMANDS: Sequence[click.Command] = (
    init_cmd, put_cmd, get_cmd, cat_cmd, ls_cmd, show_cmd, rm_cmd, alias_cmd, stats_cmd, verify_cmd, reindex_cmd,
    plugins_cmd, diff_cmd,
)


def register(group: click.Group) -> None:
    for cmd in COMMANDS:
        group.add_command(cmd)

