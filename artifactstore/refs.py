"""Artifact names and refs.

A name is a relative POSIX path of safe segments (``suite/map/report.json``).
A ref names an artifact: an id, ``name`` (latest version), ``name@v2`` or
``name:alias``. ``@`` and ``:`` are therefore reserved in names.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from urllib.parse import unquote

from .errors import InvalidNameError

__all__ = ["validate_name", "validate_alias", "parse_ref", "Ref", "is_artifact_id", "safe_member_path"]

MAX_NAME_LENGTH = 1024
_ID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\Z")
_ALIAS_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}\Z")
_VERSION_RE = re.compile(r"^v?([1-9][0-9]{0,9})\Z")


def is_artifact_id(text: str) -> bool:
    return bool(_ID_RE.match(text))


def _check_segments(name: str, original: str) -> None:
    for seg in name.split("/"):
        if seg == "":
            raise InvalidNameError(original, "empty path segment")
        if seg in (".", ".."):
            raise InvalidNameError(original, f"{seg!r} segment (path traversal)")


def _forbidden_char(ch: str) -> bool:
    # C0/C1 controls, DEL, format characters (bidi overrides, zero-width), line/paragraph separators
    return ord(ch) < 32 or ord(ch) == 127 or unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp")


def validate_name(name: str) -> str:
    """Return ``name`` if it is a safe artifact name, else raise InvalidNameError."""
    if not isinstance(name, str):
        raise InvalidNameError(repr(name), "a name must be a string")
    if not name:
        raise InvalidNameError(name, "empty name")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidNameError(name[:64] + "...", f"longer than {MAX_NAME_LENGTH} characters")
    for ch in name:
        if ch == "\\":
            raise InvalidNameError(name, "backslash is not allowed (use '/')")
        if ch in "@:":
            raise InvalidNameError(name, f"{ch!r} is reserved for refs")
        if _forbidden_char(ch):
            raise InvalidNameError(name, "control or NUL character")
        if 0xD800 <= ord(ch) <= 0xDFFF:  # cannot be encoded: the manifest and the keys are UTF-8
            raise InvalidNameError(name, "lone surrogate (not valid Unicode)")
    if name.startswith("/"):
        raise InvalidNameError(name, "absolute path")
    if name.startswith("~"):
        raise InvalidNameError(name, "home-relative path")
    _check_segments(name, name)
    # Percent-encoding: reject any encoded form that decodes (once or repeatedly)
    # to traversal, a separator or a control character.
    decoded = name
    for _ in range(4):
        nxt = unquote(decoded)
        if nxt == decoded:
            break
        decoded = nxt
        if "\\" in decoded or any(_forbidden_char(c) for c in decoded):
            raise InvalidNameError(name, "percent-encoded control character or backslash")
        if decoded.startswith("/"):
            raise InvalidNameError(name, "percent-encoded absolute path")
        try:
            _check_segments(decoded, name)
        except InvalidNameError as exc:
            raise InvalidNameError(name, f"percent-encoded {exc.reason}") from None
    return name


def validate_alias(alias: str) -> str:
    if not isinstance(alias, str) or not _ALIAS_RE.match(alias) or (alias.startswith("v") and _VERSION_RE.match(alias)):
        raise InvalidNameError(
            str(alias), "an alias is 1-128 of [A-Za-z0-9._-], not starting with a dot or dash, and not of the form v<N>"
        )
    return alias


@dataclass(frozen=True)
class Ref:
    """A parsed ref: exactly one of ``artifact_id`` or ``name`` is set."""

    artifact_id: str | None = None
    name: str | None = None
    version: int | None = None
    alias: str | None = None


def parse_ref(ref: str) -> Ref:
    """Parse an id, ``name``, ``name@v3``/``name@3`` or ``name:alias``."""
    if not isinstance(ref, str) or not ref:
        raise InvalidNameError(str(ref), "empty ref")
    if is_artifact_id(ref):
        return Ref(artifact_id=ref)
    if "@" in ref:
        name, _, ver = ref.rpartition("@")
        m = _VERSION_RE.match(ver)
        if not m:
            raise InvalidNameError(ref, "version after '@' must look like v3")
        return Ref(name=validate_name(name), version=int(m.group(1)))
    if ":" in ref:
        name, _, alias = ref.rpartition(":")
        return Ref(name=validate_name(name), alias=validate_alias(alias))
    return Ref(name=validate_name(ref))


def safe_member_path(member: str) -> str:
    """Validate a path that will be joined under a directory (archives, checkout)."""
    return validate_name(member)
