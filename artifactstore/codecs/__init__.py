"""Codecs: how an artifact's bytes are stored in a blob (see :mod:`artifactstore.codecs.base`).

Built-in codecs are registered through ``artifactstore_register_codecs`` by
:mod:`artifactstore.default_plugins.codecs`, like any plugin's.
"""

from ..errors import CorruptDataError
from .base import Codec, Encoder, StreamEncoder, Writable, guard_decoder
from .detect import SNIFF_BYTES, choose_auto_codec, sniff_format
from .gzip_codec import GzipCodec
from .none import NoneCodec
from .targz_codec import TarGzCodec
from .zip_codec import ZipCodec
from .zstd_codec import ZstdCodec

__all__ = [
    "SNIFF_BYTES",
    "Codec",
    "CorruptDataError",
    "Encoder",
    "GzipCodec",
    "NoneCodec",
    "StreamEncoder",
    "TarGzCodec",
    "Writable",
    "ZipCodec",
    "ZstdCodec",
    "choose_auto_codec",
    "guard_decoder",
    "sniff_format",
]
