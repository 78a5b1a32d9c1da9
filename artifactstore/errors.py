"""Typed errors raised by artifactstore.

Every error derives from :class:`ArtifactStoreError` and also from the built-in
exception a caller would naturally catch (``KeyError``, ``FileNotFoundError``,
``ValueError``, ``ImportError``...), so existing ``except`` clauses keep working.
Each error carries its context as attributes. Messages never contain
credentials: URLs are passed through :func:`artifactstore.redact.redact_url`
before they reach a message.
"""

from __future__ import annotations

__all__ = [
    "ArtifactStoreError",
    "ArtifactNotFoundError",
    "BlobMissingError",
    "IntegrityError",
    "CorruptDataError",
    "InvalidNameError",
    "InvalidMetadataError",
    "InvalidInputError",
    "SourceNotFoundError",
    "SourceIsFolderError",
    "AmbiguousRefError",
    "UnknownCodecError",
    "UnknownSchemeError",
    "UnknownPolicyError",
    "MissingDependencyError",
    "PluginError",
    "PluginConflictError",
    "BackendError",
    "StorageFullError",
    "CatalogError",
    "SchemaVersionError",
    "HostileArchiveError",
    "InvalidQueryError",
    "NoEpisodeDataError",
    "ReportMetricError",
    "HostileStoreError",
]


class ArtifactStoreError(Exception):
    """Base class of every error this library raises on purpose."""


class ArtifactNotFoundError(ArtifactStoreError, KeyError, FileNotFoundError, ValueError):
    """No artifact matches the id or ref.

    Also a ``ValueError`` because the seed's ``retrieve_artifact`` raised
    ``ValueError`` for an unknown id.
    """

    def __init__(self, ref: str, message: str | None = None) -> None:
        self.ref = ref
        msg = message or f"no artifact matches {ref!r}"
        super().__init__(msg)
        self.args = (msg,)

    def __str__(self) -> str:  # KeyError would otherwise repr() the message
        return str(self.args[0])


class BlobMissingError(ArtifactStoreError, FileNotFoundError):
    """The catalog knows the artifact but its blob is absent from the backend."""

    def __init__(self, artifact_id: str, key: str) -> None:
        self.artifact_id = artifact_id
        self.key = key
        super().__init__(f"blob {key!r} of artifact {artifact_id} is missing from the backend")


class IntegrityError(ArtifactStoreError, OSError):
    """Bytes read back do not hash to the recorded SHA-256 (or size differs)."""

    def __init__(self, artifact_id: str, expected: str, actual: str, detail: str = "") -> None:
        self.artifact_id = artifact_id
        self.expected = expected
        self.actual = actual
        msg = f"integrity check failed for artifact {artifact_id}: expected sha256 {expected}, got {actual}"
        if detail:
            msg += f" ({detail})"
        super().__init__(msg)


class CorruptDataError(IntegrityError):
    """A codec cannot decode a blob: the stored bytes are damaged (truncated, flipped, not its format).

    The one error every codec's decoder raises on damaged input (the codec
    contract, :mod:`artifactstore.codecs.base`), whatever the compression
    library underneath raised. ``codec`` names the codec, ``detail`` says what
    the library reported; ``artifact_id`` is ``""`` when raised by a codec
    that does not know which artifact it reads, and filled in by the store
    (:meth:`with_artifact`).
    """

    def __init__(self, codec: str, detail: str, artifact_id: str = "", expected: str = "") -> None:
        self.codec = codec
        self.detail = detail
        what = f"artifact {artifact_id}" if artifact_id else "blob"
        msg = f"corrupt {codec} data in {what}: {detail}"
        super(IntegrityError, self).__init__(msg)  # skips IntegrityError.__init__, which builds a sha message
        self.artifact_id = artifact_id
        self.expected = expected
        self.actual = "(undecodable)"

    def with_artifact(self, artifact_id: str, expected: str) -> CorruptDataError:
        """The same error, naming the artifact whose blob it is."""
        return CorruptDataError(self.codec, self.detail, artifact_id, expected)


class InvalidInputError(ArtifactStoreError, ValueError):
    """Invalid argument given by the caller."""


class InvalidNameError(InvalidInputError):
    """An artifact name, alias or archive member path is unsafe or malformed."""

    def __init__(self, name: str, reason: str) -> None:
        self.name = name
        self.reason = reason
        super().__init__(f"invalid name {name!r}: {reason}")


class InvalidMetadataError(InvalidInputError, TypeError):
    """Metadata is not a JSON object of JSON-serialisable values."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"invalid metadata: {reason}")


class SourceNotFoundError(ArtifactStoreError, FileNotFoundError):
    """The file given as the source of a put does not exist."""

    def __init__(self, path: str) -> None:
        self.path = path
        super().__init__(f"source file not found: {path}")


class SourceIsFolderError(InvalidInputError):
    """The source of a put is a folder: an artifact is one file."""

    def __init__(self, path: str) -> None:
        self.path = path
        super().__init__(
            f"source is a folder, not a file: {path} (put the files in it: 'artifactstore put --type TYPE "
            f"{path.rstrip('/')}/*', or pack it first: 'tar czf {path.rstrip('/')}.tar.gz {path}' and put that)"
        )


class AmbiguousRefError(InvalidInputError, LookupError):
    """A short id matches more than one artifact."""

    def __init__(self, ref: str, candidates: list[str], more: bool = False) -> None:
        self.ref = ref
        self.candidates = candidates
        count = f"more than {len(candidates)}" if more else str(len(candidates))
        super().__init__(
            f"short id {ref!r} matches {count} artifacts: {', '.join(candidates)}{', ...' if more else ''}; "
            "give more characters or the full id"
        )


class UnknownCodecError(ArtifactStoreError, ValueError, LookupError):
    """No codec is registered under that name."""

    def __init__(self, name: str, known: list[str]) -> None:
        self.name = name
        self.known = known
        super().__init__(f"unknown codec {name!r}; known codecs: {', '.join(sorted(known))}")


class UnknownPolicyError(ArtifactStoreError, ValueError, LookupError):
    """No retention policy is registered under that name."""

    def __init__(self, name: str, known: list[str]) -> None:
        self.name = name
        self.known = known
        super().__init__(f"unknown retention policy {name!r}; known: {', '.join(sorted(known))}")


class UnknownSchemeError(ArtifactStoreError, ValueError, LookupError):
    """No backend or catalog is registered for the URL scheme."""

    def __init__(self, scheme: str, kind: str, known: list[str], hint: str = "") -> None:
        self.scheme = scheme
        self.kind = kind
        self.known = known
        msg = f"no {kind} is registered for URL scheme {scheme!r}"
        msg += f" (known: {', '.join(sorted(known))})"
        msg += f"; {hint}" if hint else "; install a plugin that provides it"
        super().__init__(msg)


class MissingDependencyError(ArtifactStoreError, ImportError):
    """An optional dependency is not installed; the message names the extra."""

    def __init__(self, package: str, extra: str, purpose: str) -> None:
        self.package = package
        self.extra = extra
        msg = f"{purpose} needs {package}: pip install 'artifactstore[{extra}]'"
        super().__init__(msg, name=package)


class PluginError(ArtifactStoreError, RuntimeError):
    """A plugin is malformed (unknown hook, bad registration)."""

    def __init__(self, message: str, plugin: str | None = None) -> None:
        self.plugin = plugin
        super().__init__(message)


class PluginConflictError(PluginError):
    """Two plugins registered the same name for the same kind of component."""

    def __init__(self, kind: str, name: str, first: str, second: str) -> None:
        self.kind = kind
        self.name = name
        self.first = first
        self.second = second
        super().__init__(
            f"{kind} {name!r} is registered by both {first!r} and {second!r}; "
            "pass replace=True in the later registration to override",
            plugin=second,
        )


class BackendError(ArtifactStoreError, OSError):
    """A storage backend failed; the URL in the message is redacted."""

    def __init__(self, message: str, url: str = "", key: str = "") -> None:
        self.url = url
        self.key = key
        super().__init__(message)


class StorageFullError(BackendError):
    """The storage has no space left (``ENOSPC``) or the quota is used up (``EDQUOT``).

    Nothing the failed write staged stays visible; the store works again once space is freed.
    ``errno`` is the OS error number."""

    def __init__(self, message: str, url: str = "", key: str = "", errno_: int = 0) -> None:
        super().__init__(message, url=url, key=key)
        self.errno = errno_


class CatalogError(ArtifactStoreError, RuntimeError):
    """The catalog database failed or is inconsistent.

    ``catalog_url`` is the catalog's (redacted) URL when the store knows it (set by
    :func:`artifactstore.open`), else ``""``."""

    catalog_url: str = ""


class SchemaVersionError(CatalogError):
    """The catalog's schema is newer than this code understands."""

    def __init__(self, found: int, supported: int) -> None:
        self.found = found
        self.supported = supported
        super().__init__(
            f"catalog schema version {found} is newer than this artifactstore supports "
            f"({supported}); upgrade artifactstore"
        )


class HostileArchiveError(InvalidInputError):
    """An archive member is unsafe (traversal, link, device, bomb, mismatch)."""

    def __init__(self, member: str, reason: str) -> None:
        self.member = member
        self.reason = reason
        super().__init__(f"refusing archive member {member!r}: {reason}")


class InvalidQueryError(InvalidInputError):
    """A search query that asks for nothing: empty, only punctuation, or only ``-excluded`` terms."""

    def __init__(self, query: str, reason: str) -> None:
        super().__init__(f"invalid search query {query[:200]!r}: {reason}")
        self.query = query
        self.reason = reason


class NoEpisodeDataError(InvalidInputError):
    """A report was asked for, but no selected evaluation has usable episode data
    (none stored, or no model with at least two finite values of the metric)."""


class ReportMetricError(InvalidInputError):
    """The report's metric or cost column is missing from every episode table, or is not numeric."""


class HostileStoreError(InvalidInputError):
    """A sync source's journal says something unsafe or malformed (a blob key outside the
    store, a bad name, digest or id, an unknown record kind or codec, a deletion of an
    artifact that did not come from it). Raised before anything is written."""

    def __init__(self, where: str, reason: str) -> None:
        self.where = where
        self.reason = reason
        super().__init__(f"refusing {where}: {reason}")
