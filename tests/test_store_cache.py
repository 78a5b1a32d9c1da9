"""The store's local read cache on a real (moto) S3 backend."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import artifactstore
from artifactstore import ArtifactStore
from artifactstore.cache import BlobCache
from helpers import sql_catalog


def test_second_read_does_not_touch_the_network(s3_url: Any, tmp_path: Path) -> None:
    cache = BlobCache(tmp_path / "cache", 50 << 20)
    with artifactstore.open(s3_url.url, cache=cache, **s3_url.storage_options) as s:
        assert s.cache is cache
        art = s.put(b"episode,reward\n" * 20_000, artifact_type="episode_data", name="e.csv")
        calls = {"download": 0, "open": 0}
        real_dl, real_open = s.backend.download_file, s.backend.open_read

        def counting_download(key: str, path: Path) -> None:
            calls["download"] += 1
            real_dl(key, path)

        def counting_open(key: str) -> Any:
            calls["open"] += 1
            return real_open(key)

        s.backend.download_file = counting_download  # type: ignore[method-assign]
        s.backend.open_read = counting_open  # type: ignore[method-assign]
        assert s.read_bytes(art.id) == b"episode,reward\n" * 20_000
        assert calls == {"download": 1, "open": 0}
        assert s.get(art.id, tmp_path / "out.csv").read_bytes() == b"episode,reward\n" * 20_000
        with s.open(art.ref) as f:
            assert f.read() == b"episode,reward\n" * 20_000
        assert calls == {"download": 1, "open": 0}  # served from the cache
        # verify always checks the bucket itself
        assert s.verify().ok and calls["open"] == 1


def test_damaged_cache_entry_is_dropped_and_refetched(s3_url: Any, tmp_path: Path) -> None:
    cache = BlobCache(tmp_path / "cache", 50 << 20)
    with artifactstore.open(s3_url.url, cache=cache, **s3_url.storage_options) as s:
        art = s.put(b"A" * 100_000, artifact_type="log", name="a", codec="none")
        assert s.read_bytes(art.id) == b"A" * 100_000
        entry = cache.path_for(art.blob_key)
        entry.write_bytes(b"B" * 100_000)  # same size, wrong content
        assert s.get(art.id, tmp_path / "a").read_bytes() == b"A" * 100_000
        assert s.read_bytes(art.id) == b"A" * 100_000


def test_local_stores_have_no_cache_by_default(store: ArtifactStore) -> None:
    assert store.cache is None


def test_ranged_read_on_s3_without_cache(s3_url: Any) -> None:
    import os

    data = os.urandom(6 << 20)
    with artifactstore.open(s3_url.url, cache=False, **s3_url.storage_options) as s:
        art = s.put(data, artifact_type="video", name="v.mp4", codec="none")
        with s.open(art.id) as f:
            f.seek(5 << 20)
            assert f.read(1000) == data[5 << 20 : (5 << 20) + 1000]


def test_large_raw_file_uploads_straight_from_the_source(s3_url: Any, tmp_path: Path) -> None:
    import os

    import pytest

    from artifactstore.errors import InvalidInputError

    src = tmp_path / "ckpt.bin"
    src.write_bytes(os.urandom(12 << 20))
    opts = {**s3_url.storage_options, "part_size": 5 << 20}
    with artifactstore.open(s3_url.url, cache=False, **opts) as s:
        uploads: list[str] = []
        real = s.backend.upload_file

        def spy(path: Path, key: str) -> None:
            uploads.append(str(path))
            real(path, key)

        s.backend.upload_file = spy  # type: ignore[method-assign]
        art = s.put(src, artifact_type="model_checkpoint")
        assert art.codec == "none" and uploads == [str(src)]  # no staging copy
        assert s.read_bytes(art.id) == src.read_bytes() and s.verify().ok

        # Fault injection (a real server cannot change the caller's file): the source is
        # modified while it uploads -> the put fails and leaves nothing behind.
        def changing(path: Path, key: str) -> None:
            real(path, key)
            with open(path, "r+b") as f:
                f.write(b"changed!")

        s.backend.upload_file = changing  # type: ignore[method-assign]
        src.write_bytes(os.urandom(12 << 20))
        before = {o.key for o in s.backend.list("blobs/")}
        with pytest.raises(InvalidInputError, match="changed while it was uploaded"):
            s.put(src, artifact_type="model_checkpoint")
        assert {o.key for o in s.backend.list("blobs/")} == before and s.count() == 1


def test_storage_options_and_catalog_from_the_config_file(
    s3_url: Any, tmp_path: Path, monkeypatch: Any, pg_catalog_url: str
) -> None:
    opts = s3_url.storage_options
    bucket_prefix = s3_url.url.rsplit("/", 1)[0]
    conf = tmp_path / "config.toml"
    lines = [f'[stores."{bucket_prefix}"]', f'catalog = "{pg_catalog_url}"']
    lines += [f'{k} = "{v}"' for k, v in opts.items() if isinstance(v, str)]
    lines += ['[stores."s3://other-bucket"]', 'endpoint_url = "http://127.0.0.1:9"']
    conf.write_text("\n".join(lines) + "\n")
    monkeypatch.setenv("ARTIFACTSTORE_CONFIG", str(conf))
    with artifactstore.open(s3_url.url) as s:  # no options given: all from the file
        assert sql_catalog(s).dialect == "postgresql"
        a = s.put(b"configured", artifact_type="log", name="c")
        assert s.read_bytes(a.id) == b"configured"
    monkeypatch.setenv("ARTIFACTSTORE_CONFIG", str(tmp_path / "missing.toml"))
    import pytest

    from artifactstore.errors import InvalidInputError

    with pytest.raises(InvalidInputError, match="missing file"):
        artifactstore.open(s3_url.url)


def test_large_raw_get_without_cache_is_verified(s3_url: Any, tmp_path: Path) -> None:
    import os

    import fsspec
    import pytest

    from artifactstore.errors import IntegrityError

    data = os.urandom(6 << 20)
    with artifactstore.open(s3_url.url, cache=False, **s3_url.storage_options) as s:
        art = s.put(data, artifact_type="video", name="v.bin", codec="none")
        assert s.get(art.id, tmp_path / "v.bin").read_bytes() == data
        # damage the object in the bucket through an independent client
        fs = fsspec.filesystem("s3", skip_instance_cache=True, **s3_url.storage_options)
        fs.pipe_file(f"{s3_url.url.split('://', 1)[1]}/{art.blob_key}", b"X" * len(data))
        dest = tmp_path / "keep.bin"
        dest.write_bytes(b"old")
        with pytest.raises(IntegrityError):
            s.get(art.id, dest)
        assert dest.read_bytes() == b"old" and not list(tmp_path.glob(".*.part"))
