"""``import artifactstore`` is cheap: the re-exports load lazily (issue 8, item 8).

Each check runs in a fresh interpreter, so what earlier tests imported does
not hide a heavy import.
"""

from __future__ import annotations

import json
import subprocess
import sys

import artifactstore

HEAVY = ("sqlalchemy", "artifactstore.compat", "artifactstore.store", "pandas", "pyarrow", "numpy")


def _loaded_after(statement: str) -> set[str]:
    code = f"{statement}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    return set(json.loads(out.splitlines()[-1]))


def test_import_loads_nothing_heavy() -> None:
    loaded = _loaded_after("import artifactstore")
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))
    assert not {m for m in loaded if m.startswith("artifactstore.")} - {"artifactstore._version"}


def test_plugin_author_imports_load_nothing_heavy() -> None:
    loaded = _loaded_after("from artifactstore import Codec, Backend, Encoder")
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))
    assert "artifactstore.codecs.base" in loaded and "artifactstore.backends.base" in loaded


def test_every_public_name_resolves() -> None:
    for name in artifactstore.__all__:
        assert getattr(artifactstore, name) is not None, name
    assert set(artifactstore.__all__) <= set(dir(artifactstore))
    assert artifactstore.open is artifactstore.open_store


def test_unknown_name_raises_attribute_error() -> None:
    try:
        artifactstore.no_such_name  # noqa: B018
    except AttributeError as exc:
        assert "no_such_name" in str(exc)
    else:
        raise AssertionError("expected AttributeError")


def test_testing_kits_are_exported_lazily() -> None:
    loaded = _loaded_after("import artifactstore.testing")
    assert "pytest" not in loaded and "artifactstore.testing.backend" not in loaded
    import artifactstore.testing as kits
    from artifactstore.testing.backend import BackendTests
    from artifactstore.testing.codecs import CodecTests

    assert kits.BackendTests is BackendTests and kits.CodecTests is CodecTests
    assert set(kits.__all__) <= set(dir(kits))
