"""Registers the built-in codecs, through the same hook as any third-party plugin."""

from __future__ import annotations

from artifactstore.codecs import GzipCodec, NoneCodec, TarGzCodec, ZipCodec, ZstdCodec
from artifactstore.hookspecs import Registrar, hookimpl


@hookimpl
def artifactstore_register_codecs(register: Registrar) -> None:
    register("none", NoneCodec, description="stored as is (for data that does not compress)")
    register("gzip", GzipCodec, description="gzip, deflate level 6")
    register("zstd", ZstdCodec, description="Zstandard, multi-threaded (default for compressible data)")
    register("zip", ZipCodec, description="zip archive with one member (compatibility)")
    register("tar.gz", TarGzCodec, description="gzip-compressed tar with one member (compatibility)")
