"""``artifactstore archive``, ``import`` and ``sync``: moving artifacts between stores.

``archive`` writes artifacts of the store into a ``.tar.gz`` / ``.tar.zst`` file,
``import`` loads such a file into the store (validating all of it first), and
``sync SRC DST`` copies one store into another incrementally.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from .common import (
    CliError,
    emit,
    get_state,
    get_store,
    json_option,
    local_root,
    parse_key_value,
    resolve_ref,
    shown_url,
)

if TYPE_CHECKING:
    from ..store import ArtifactStore

__all__ = ["archive_cmd", "import_cmd", "register", "sync_cmd"]


def _fmt_of(dest: str, fmt: str | None) -> str:
    if fmt:
        return fmt
    return "tar.zst" if dest.endswith((".tar.zst", ".tzst")) else "tar.gz"


@click.command("archive")
@click.argument("dest", type=click.Path(dir_okay=False, writable=True))
@click.argument("refs", nargs=-1, metavar="[REF...]")
@click.option("--model", "model_id", default=None, help="Only artifacts of this model.")
@click.option("--evaluation", "evaluation_id", default=None, help="Only artifacts of this evaluation.")
@click.option("--type", "artifact_types", multiple=True, metavar="TYPE", help="Only this artifact type; repeatable.")
@click.option("--tag", "tags", multiple=True, metavar="TAG", help="Only artifacts with any of these tags; repeatable.")
@click.option("--format", "fmt", type=click.Choice(["tar.gz", "tar.zst"]), default=None,
              help="Archive format (default: from DEST's suffix, else tar.gz).")
@click.option("--no-metadata", is_flag=True,
              help="Leave out index.json (the artifact list, evaluation records and champion events).")
@json_option
@click.pass_context
def archive_cmd(ctx: click.Context, dest: str, refs: tuple[str, ...], model_id: str | None,
                evaluation_id: str | None, artifact_types: tuple[str, ...], tags: tuple[str, ...], fmt: str | None,
                no_metadata: bool, as_json: bool) -> None:
    """Write artifacts into the archive DEST: the REFs given, else every artifact matching the filters
    (every artifact of the store when there are none).

    Each artifact's bytes are verified as they are read; the archive appears
    only once complete.
    """
    from ..archive import create_archive
    from .format import human_size
    from .progress import progress_bar

    store = get_store(ctx)
    filters: dict[str, Any] = {k: v for k, v in {"model_id": model_id, "evaluation_id": evaluation_id}.items() if v}
    if artifact_types:
        filters["artifact_type"] = list(artifact_types)
    if tags:
        filters["tags"] = list(tags)
    if refs:
        arts = [resolve_ref(store, r) for r in refs]
        if filters:
            keep = {a.id for a in store.find(**filters)}
            arts = [a for a in arts if a.id in keep]
    else:
        arts = store.find(**filters, order_by="created_at")
    if not arts:
        raise CliError("no artifact matches; nothing to archive")
    total = sum(a.size for a in arts)
    with progress_bar(total, f"archive {Path(dest).name}", enabled=get_state(ctx).progress) as bar:
        info = create_archive(store, dest, arts, include_metadata=not no_metadata, fmt=_fmt_of(dest, fmt),
                              progress=bar)
    emit(ctx, as_json, data=info.to_dict(),
         text=f"archived {info.count} artifact{'s' if info.count != 1 else ''} ({human_size(info.content_bytes)}) "
              f"to {info.path} ({human_size(info.bytes)}, {info.fmt})")


@click.command("import")
@click.argument("archive", type=click.Path(exists=True, dir_okay=False, readable=True))
@click.option("--no-evaluations", is_flag=True, help="Do not restore the evaluation records of the archive's index.")
@json_option
@click.pass_context
def import_cmd(ctx: click.Context, archive: str, no_evaluations: bool, as_json: bool) -> None:
    """Load the artifacts of ARCHIVE (made by 'artifactstore archive') into the store.

    The whole archive is validated first (names, member types, sizes, SHA-256,
    decompression limits); a hostile or damaged archive is refused before
    anything is written. Artifacts keep their ids; those already in the store
    are skipped, and versions are assigned by this store.
    """
    from ..archive import import_archive
    from .format import human_size
    from .progress import progress_bar

    store = get_store(ctx, create=True)
    with progress_bar(None, f"import {Path(archive).name}", enabled=get_state(ctx).progress) as bar:
        report = import_archive(store, archive, restore_evaluations=not no_evaluations, progress=bar)

    def text() -> str:
        lines = [f"imported {len(report.imported)} artifact{'s' if len(report.imported) != 1 else ''} "
                 f"({human_size(report.bytes)}) into {store.url}"]
        if report.skipped:
            lines.append(f"skipped {len(report.skipped)} already in the store")
        if report.tombstoned:
            lines.append(f"skipped {len(report.tombstoned)} deleted from this store earlier (not restored)")
        if report.evaluations:
            lines.append(f"restored {len(report.evaluations)} evaluation record(s)")
        return "\n".join(lines)

    emit(ctx, as_json, data=report.to_dict(), text=text)


def _open(url: str, catalog: str | None, options: dict[str, Any], *, must_exist: bool) -> ArtifactStore:
    from ..store import open_store

    root = local_root(url)
    if must_exist and root is not None and not (root / "store.json").is_file():
        raise CliError(f"no artifact store at {root}")
    return open_store(url, catalog, **options)


def _options(_ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> dict[str, Any]:
    return parse_key_value(values, f"--{param.name}")


@click.command("sync")
@click.argument("src", metavar="SRC")
@click.argument("dst", metavar="DST")
@click.option("--src-catalog", default=None, metavar="URL", help="Catalog of SRC (default: its usual place).")
@click.option("--dst-catalog", default=None, metavar="URL", help="Catalog of DST (default: its usual place).")
@click.option("--src-option", "src_options", multiple=True, metavar="KEY=VALUE", callback=_options,
              help="Storage option for SRC's backend; repeatable.")
@click.option("--dst-option", "dst_options", multiple=True, metavar="KEY=VALUE", callback=_options,
              help="Storage option for DST's backend; repeatable.")
@click.option("--verify/--no-verify", default=True, show_default=True,
              help="Decode and hash every blob while it is copied.")
@click.option("--repair", is_flag=True,
              help="Also re-hash every blob DST references and re-copy the damaged ones from SRC.")
@click.option("--reindex/--no-reindex", default=None,
              help="Rebuild DST's catalog (default: when something was copied).")
@click.option("--workers", type=click.IntRange(min=1), default=None, help="Blobs copied at once.")
@json_option
@click.pass_context
def sync_cmd(ctx: click.Context, src: str, dst: str, src_catalog: str | None, dst_catalog: str | None,
             src_options: dict[str, Any], dst_options: dict[str, Any], verify: bool, repair: bool,
             reindex: bool | None, workers: int | None, as_json: bool) -> None:
    """Copy the store SRC into the store DST, incrementally: only the blobs, manifests and
    records DST lacks. Works between any two backends (folder, s3://, gs://, az://, memory://).

    Exits with 1 when a blob could not be copied intact or repaired.
    """
    from ..sync import sync
    from .format import human_size
    from .progress import progress_bar

    with _open(src, src_catalog, src_options, must_exist=True) as s, \
            _open(dst, dst_catalog, dst_options, must_exist=False) as d:
        with progress_bar(None, "sync", enabled=get_state(ctx).progress) as bar:
            report = sync(s, d, verify=verify, repair=repair, reindex=reindex, workers=workers, progress=bar)

        def text() -> str:
            lines = [f"copied {report.blobs_copied} blob{'s' if report.blobs_copied != 1 else ''} "
                     f"({human_size(report.bytes_copied)}) and {report.segments_copied} journal segment"
                     f"{'s' if report.segments_copied != 1 else ''} from {shown_url(src)} to {shown_url(dst)}"]
            if report.reindexed is not None:
                lines.append(f"reindexed: {report.reindexed} artifacts")
            if repair:
                lines.append(f"checked {report.blobs_checked} destination blobs")
            for label, keys in (("repaired", report.repaired), ("corrupt in source, not copied", report.corrupt_source),
                                ("missing from source", report.missing_source),
                                ("could not repair", report.unrepairable),
                                ("conflicting journal segment, left as is", report.conflicts)):
                lines += [f"{label}: {k}" for k in keys]
            return "\n".join(lines)

        emit(ctx, as_json, data=report.to_dict(), text=text)
    if not report.ok:
        ctx.exit(1)


def register(group: click.Group) -> None:
    group.add_command(archive_cmd)
    group.add_command(import_cmd)
    group.add_command(sync_cmd)
