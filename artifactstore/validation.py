"""Validation of what users pass in: sources, metadata, tags, fields, scores, artifact types.

The store, archive import and sync all check input through these functions, so one
rule (and one metadata size limit) holds everywhere. Each raises a typed
:class:`~artifactstore.errors.InvalidInputError` (or a subclass) and returns the
normalised value.
"""

from __future__ import annotations

import io
import json
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from .errors import InvalidInputError, InvalidMetadataError, SourceNotFoundError

__all__ = ["FIELDS", "METADATA_MAX_BYTES", "METADATA_MAX_DEPTH", "OpenedSource", "check_field", "check_metadata",
           "check_score", "check_tags", "open_source", "required_field", "type_of"]

#: One limit for metadata everywhere (put, evaluations, archive import): serialised UTF-8 bytes.
METADATA_MAX_BYTES = 1 << 20
#: Deepest nesting of metadata mappings/lists accepted.
METADATA_MAX_DEPTH = 64
#: The optional string fields of an artifact (checked by :func:`check_field`).
FIELDS = ("model_id", "evaluation_id", "suite_name", "map_name", "episode_id")


@dataclass
class OpenedSource:
    """An opened source: a readable file object, its size if known, and how to reopen it."""

    f: IO[bytes]
    size: int | None
    default_name: str | None
    reopen: Callable[[], IO[bytes]] | None
    close: bool
    path: Path | None = None  # a regular file we opened ourselves (zero-copy path)


def open_source(source: Any) -> OpenedSource:
    """Open ``source`` (a path, bytes or a binary file object) for reading once or more."""
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        try:
            st = path.stat()
        except (FileNotFoundError, NotADirectoryError):
            raise SourceNotFoundError(str(source)) from None
        if not path.is_file():
            raise SourceNotFoundError(f"{source} (not a regular file)")
        return OpenedSource(open(path, "rb"), st.st_size, path.name, lambda: open(path, "rb"), True, path)
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        return OpenedSource(io.BytesIO(data), len(data), None, lambda: io.BytesIO(data), True)
    if hasattr(source, "read"):
        name = getattr(source, "name", None)
        # "<stdin>", "<fdopen>" and file descriptors are not names a user chose.
        default = Path(name).name if isinstance(name, str) and name and not name.startswith("<") else None
        size: int | None = None
        reopen: Callable[[], IO[bytes]] | None = None
        try:
            if source.seekable():
                start = source.tell()
                size = source.seek(0, io.SEEK_END) - start
                source.seek(start)

                def reopen() -> IO[bytes]:
                    source.seek(start)
                    return source  # type: ignore[no-any-return]
        except (AttributeError, OSError, ValueError):
            size, reopen = None, None
        return OpenedSource(source, size, default, reopen, False)
    raise InvalidInputError(f"source must be a path, bytes or a binary file object, not {type(source).__name__}")


def check_metadata(metadata: Any) -> dict[str, Any]:
    """A JSON-safe copy of ``metadata`` within the size and depth limits."""
    if metadata is None:
        return {}
    if not isinstance(metadata, Mapping):
        raise InvalidMetadataError(f"expected a mapping, got {type(metadata).__name__}")
    for k in metadata:
        if not isinstance(k, str):
            raise InvalidMetadataError(f"keys must be strings, got {k!r}")
        if len(k) > 255:
            raise InvalidMetadataError(f"key longer than 255 characters: {k[:40]!r}...")
    _check_depth(metadata)
    try:
        text = json.dumps(metadata, allow_nan=False, sort_keys=True, ensure_ascii=False)
        size = len(text.encode("utf-8"))  # lone surrogates fail here, before any blob is published
    except (TypeError, ValueError) as exc:
        raise InvalidMetadataError(f"not JSON-serialisable: {exc}") from None
    if size > METADATA_MAX_BYTES:
        raise InvalidMetadataError(f"metadata is {size} bytes serialised; the limit is {METADATA_MAX_BYTES}")
    result: dict[str, Any] = json.loads(text)
    return result


def _utf8(text: str) -> bool:
    """Whether ``text`` can be stored (UTF-8 in journals and the catalog): no lone surrogates."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _check_depth(value: Any) -> None:
    # Iterative, so 10k-deep input gives a typed error instead of RecursionError.
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        v, depth = stack.pop()
        if depth > METADATA_MAX_DEPTH:
            raise InvalidMetadataError(f"metadata nested deeper than {METADATA_MAX_DEPTH} levels")
        if isinstance(v, Mapping):
            stack.extend((x, depth + 1) for x in v.values())
        elif isinstance(v, (list, tuple)):
            stack.extend((x, depth + 1) for x in v)


def check_tags(tags: Any) -> tuple[str, ...]:
    """``tags`` stripped and checked, in the order given, without repeats."""
    if tags is None:
        return ()
    if isinstance(tags, str):
        tags = [tags]
    out = []
    for t in tags:
        if not isinstance(t, str) or not t.strip() or len(t) > 255 or any(ord(c) < 32 for c in t) or not _utf8(t):
            raise InvalidInputError(f"invalid tag {t!r}: tags are non-empty strings of at most 255 characters")
        out.append(t.strip())
    return tuple(dict.fromkeys(out))  # the order given, without repeats


def check_field(name: str, value: Any) -> str | None:
    """The optional field ``name`` as a string of at most 255 printable characters."""
    if value is None:
        return None
    if not isinstance(value, (str, int)) or isinstance(value, bool):
        raise InvalidInputError(f"{name} must be a string, not {type(value).__name__}")
    text = str(value)
    if len(text) > 255 or any(ord(c) < 32 for c in text) or not _utf8(text):
        raise InvalidInputError(f"invalid {name} {text[:40]!r}: at most 255 printable characters")
    return text


def required_field(name: str, value: Any) -> str:
    """Like :func:`check_field`, but the field must be given."""
    text = check_field(name, value)
    if not text:
        raise InvalidInputError(f"{name} is required")
    return text


def check_score(name: str, value: Any) -> float:
    """``value`` as a finite float."""
    try:
        f = float(value)
    except (TypeError, ValueError):
        raise InvalidInputError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(f):
        raise InvalidInputError(f"{name} must be finite, got {value!r}")
    return f


def type_of(artifact_type: Any) -> str:
    """The artifact type's string (an :class:`~artifactstore.models.ArtifactType` or a string)."""
    value = getattr(artifact_type, "value", artifact_type)
    if not isinstance(value, str) or not value or len(value) > 128 or not _utf8(value):
        raise InvalidInputError(f"artifact_type must be a non-empty string or ArtifactType, got {artifact_type!r}")
    return value
