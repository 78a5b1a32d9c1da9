"""Bounded memory: a 2 GB put and get grow peak RSS by less than 100 MB (measured in a subprocess)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

PROBE = textwrap.dedent("""
    import json, os, resource, sys
    import artifactstore
    src, root, dest, codec = sys.argv[1:5]

    def peak_mb():
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    with artifactstore.open(root) as s:
        s.put(b"warm-up" * 1000, artifact_type="log", name="warm")  # load codecs, pools, SQL
        s.read_bytes("warm")
        base = peak_mb()
        a = s.put(src, artifact_type="model_checkpoint", name="big.bin", codec=codec)
        after_put = peak_mb()
        s.get(a.id, dest)
        after_get = peak_mb()
        with s.open(a.id) as f:
            n = 0
            while chunk := f.read(1 << 20):
                n += len(chunk)
        after_open = peak_mb()
    print(json.dumps({"base": base, "put": after_put, "get": after_get, "open": after_open,
                      "size": a.size, "stored": a.stored_size, "codec": a.codec, "read": n}))
""")

SIZE = 2 * 1000**3  # 2 GB


def _make_file(path: Path, compressible: bool) -> None:
    import os

    block = (b"episode,step,reward,success\n" + os.urandom(36).hex().encode() + b"\n") * 60_000 \
        if compressible else os.urandom(8 << 20)
    with open(path, "wb") as f:
        left = SIZE
        while left:
            n = min(left, len(block))
            f.write(block[:n])
            left -= n


@pytest.mark.slow
@pytest.mark.parametrize(("codec", "compressible"), [("auto", False), ("zstd", True)])
def test_2gb_put_get_bounded_memory(tmp_path: Path, codec: str, compressible: bool) -> None:
    src = tmp_path / "big.bin"
    _make_file(src, compressible)
    probe = tmp_path / "probe.py"
    probe.write_text(PROBE)
    out = subprocess.run(
        [sys.executable, str(probe), str(src), str(tmp_path / "store"), str(tmp_path / "out.bin"), codec],
        capture_output=True, text=True, timeout=900, check=False,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    r = json.loads(out.stdout.strip().splitlines()[-1])
    assert r["size"] == SIZE and r["read"] == SIZE
    assert (tmp_path / "out.bin").stat().st_size == SIZE
    if compressible:
        assert r["codec"] == "zstd" and r["stored"] < SIZE / 3
    else:
        assert r["codec"] == "none"
    growth = max(r["put"], r["get"], r["open"]) - r["base"]
    assert growth < 100, f"peak RSS grew by {growth:.1f} MB: {r}"
    src.unlink()
    (tmp_path / "out.bin").unlink()
