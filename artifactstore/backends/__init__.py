"""Storage backends: the contract and the built-in kinds, one module per job.

- :mod:`.base`: the contract (:class:`~.base.Backend`, :class:`~.base.BlobWriter`);
- :mod:`.local`: :class:`~.local.LocalBackend`, local disk through ``os``;
- :mod:`.fsspec_backend`: :class:`~.fsspec_backend.FsspecBackend` (S3, GCS, Azure)
  and :class:`~.fsspec_backend.MemoryBackend` (``memory://``), through fsspec;
- :mod:`.clouds`, :mod:`.options`, :mod:`.retry`, :mod:`.failures`: what differs
  between clouds, their options and environment, the retry budget, which errors
  are transient; :mod:`.cloud` re-exports those names for older imports.

Nothing is imported here: a local store never loads fsspec.
"""

__all__: list[str] = []
