"""Core benchmarks of artifactstore against plain-file baselines, measured in the same run.

    python benchmarks/bench_core.py large [--reps 5] [--size 1G] [--json out.json]
    python benchmarks/bench_core.py small [--reps 5] [--count 1000] [--size 10K]
    python benchmarks/bench_core.py find  [--reps 200] [--size 100000]
    python benchmarks/bench_core.py all   [--json all.json]

Every figure is timed interleaved with its baselines rep by rep (see harness.py)
and reported as medians, raw reps and ratios. Nothing asserts on time: a target
is reported as met or not met.

Scratch data lives under --dir (default /tmp/artifactstore-bench; /tmp and
/work are the same ext4 disk on these machines, check with ``df``). The 100k
artifact store of ``find`` is built once and cached there.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import random
import shutil
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import Bench, Result

import artifactstore
from artifactstore.store import ArtifactStore

DEFAULT_DIR = Path(os.environ.get("ARTIFACTSTORE_BENCH_DIR", "/tmp/artifactstore-bench"))
MiB = 1 << 20
TYPES = [t.value for t in artifactstore.ArtifactType]

# --- opening a store while the codecs plugin may not exist yet ---------------------------


def _codecs_plugin_present() -> bool:
    return importlib.util.find_spec("artifactstore.default_plugins.codecs") is not None


def _auto_available() -> bool:
    return _codecs_plugin_present() and importlib.util.find_spec("artifactstore.codecs.detect") is not None


class _NoneCodecOnly:
    """Stand-in plugin registering only the ``none`` codec, used while
    artifactstore/default_plugins/codecs.py does not exist yet."""

    @artifactstore.hookimpl
    def artifactstore_register_codecs(self, register: Any) -> None:
        from artifactstore.codecs.none import NoneCodec

        register("none", NoneCodec, description="benchmark stand-in")


def open_store(root: Path, **kw: Any) -> ArtifactStore:
    if _codecs_plugin_present():
        return artifactstore.open(str(root), **kw)
    from artifactstore.plugins import DEFAULT_PLUGINS, build_registry

    defaults = [m for m in DEFAULT_PLUGINS if m != "artifactstore.default_plugins.codecs"]
    reg = build_registry(defaults=defaults, plugins=[_NoneCodecOnly()])
    return artifactstore.open(str(root), registry=reg, default_codec="none", **kw)


def default_codec() -> str:
    """``auto`` once the codecs exist; ``none`` (the data here is incompressible) until then."""
    return "auto" if _auto_available() else "none"


def parse_size(text: str) -> int:
    t = text.strip().upper().removesuffix("B").removesuffix("I")
    mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(t[-1:], 1)
    return int(float(t[:-1] if t[-1:] in "KMG" else t) * mult)


def _fresh(path: Path) -> Path:
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path


def _unlink(path: Path) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _stamp(path: Path, value: int) -> None:
    """Overwrite the first 8 bytes in place (cheap) so each rep stores new content."""
    fd = os.open(path, os.O_WRONLY)
    try:
        os.pwrite(fd, value.to_bytes(8, "little"), 0)
    finally:
        os.close(fd)


def _sha256_file(path: Path, chunk: int = 8 * MiB) -> str:
    h = hashlib.sha256()
    buf = bytearray(chunk)
    view = memoryview(buf)
    with open(path, "rb", buffering=0) as f:
        while n := f.readinto(buf):
            h.update(view[:n])
    return h.hexdigest()


_RUN = time.time_ns() & ((1 << 40) - 1)  # distinct content across runs too


# --- large ---------------------------------------------------------------------------------


def ensure_random_file(src: Path, size: int) -> Path:
    """``size`` bytes of os.urandom at ``src``, written once and reused."""
    if not src.exists() or src.stat().st_size != size:
        src.parent.mkdir(parents=True, exist_ok=True)
        print(f"writing {size / MiB:.0f} MiB of os.urandom to {src} (once)", file=sys.stderr)
        with open(src, "wb") as f:
            left = size
            while left:
                n = min(left, 8 * MiB)
                f.write(os.urandom(n))
                left -= n
    return src


def bench_large(args: argparse.Namespace) -> Result:
    size = parse_size(args.size or "1G")
    base = args.dir / "large"
    base.mkdir(parents=True, exist_ok=True)
    src = ensure_random_file(base / "src.bin", size)
    store_root = _fresh(base / "store")
    out_dir = _fresh(base / "out")
    get_dest, copy_dest = out_dir / "get.bin", out_dir / "copy.bin"
    codec = args.codec or "none"
    store = open_store(store_root)
    state: dict[str, Any] = {}

    def put_setup(rep: int) -> None:
        # Untimed: remove the previous rep's artifact and sweep its blob, so that every put
        # writes its 1 GiB into freed space as copyfile and get do (they unlink their
        # destination first). Creating ever more new 1 GiB files costs 1-4 s here.
        prev = state.pop("art", None)
        if prev is not None:
            from artifactstore import gc

            store.delete(prev.id)
            gc.apply(store, gc.plan(store, ["keep_all"], grace_seconds=0))
        _stamp(src, (_RUN << 20) + rep + 1000)
        if args.sync:
            os.sync()

    def put(rep: int) -> None:
        state["art"] = store.put(src, artifact_type="video", name="large.bin", codec=codec, model_id="bench")

    def put_teardown(rep: int) -> None:
        art = state["art"]
        assert art.size == size and art.codec == codec, art
        if rep == 0:  # untimed: the stored id names exactly the source's bytes
            assert art.sha256 == _sha256_file(src), "put recorded a wrong sha256"

    def unlink_setup(dest: Path) -> Any:
        def setup(rep: int) -> None:
            _unlink(dest)
            if args.sync:
                os.sync()
        return setup

    def get(rep: int) -> None:
        store.get(state["art"].id, get_dest)

    def get_teardown(rep: int) -> None:
        assert get_dest.stat().st_size == size
        if rep == 0:
            assert _sha256_file(get_dest) == state["art"].sha256, "get returned other bytes"

    def copy(rep: int) -> None:
        shutil.copyfile(src, copy_dest)

    def sha(rep: int) -> None:
        _sha256_file(src)

    def sha_setup(rep: int) -> None:
        if args.sync:
            os.sync()

    b = Bench("large", reps=args.reps, warmup=args.warmup,
              params={"size": f"{size / MiB:.0f} MiB", "codec": codec, "dir": str(base), "sync": args.sync},
              notes=[
                  "page cache is not dropped (no root-free way to do it here): the source file is hot in memory, "
                  "so these are memory-to-page-cache figures, for every figure alike",
                  "each put rewrites the first 8 bytes of the source with a counter first (untimed): new content, "
                  "no dedup; get and copyfile unlink their destination first, and put deletes and sweeps the "
                  "previous rep's blob first (untimed): every figure writes into freed space",
                  "put = stream + hash (2nd thread) + write temp + rename + catalog/manifest; get = read + hash + "
                  "write temp + rename; copyfile = kernel copy (no hashing); sha256 = 8 MiB readinto + hash",
              ] + (["os.sync() (untimed) before each figure: each starts without a dirty-page backlog"]
                   if args.sync else []))
    b.add("put", put, setup=put_setup, teardown=put_teardown, work=size)
    b.add("get", get, setup=unlink_setup(get_dest), teardown=get_teardown, work=size)
    b.add("copyfile", copy, setup=unlink_setup(copy_dest), work=size, baseline=True)
    b.add("sha256", sha, setup=sha_setup, work=size, baseline=True)
    b.compare("put", ["copyfile", "sha256"], target=1.3)
    b.compare("get", ["copyfile", "sha256"], target=1.3)
    b.compare("put", "copyfile")
    b.compare("get", "copyfile")
    try:
        return b.run()
    finally:
        store.close()
        if not args.keep:
            shutil.rmtree(store_root, ignore_errors=True)
            shutil.rmtree(out_dir, ignore_errors=True)


# --- small ---------------------------------------------------------------------------------


def _make_pool(folder: Path, count: int, size: int, seed: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    paths = []
    for i in range(count):
        p = folder / f"episode_{i:05d}.bin"
        if not p.exists() or p.stat().st_size != size:
            p.write_bytes(rng.randbytes(size))
        paths.append(p)
    return paths


def bench_small(args: argparse.Namespace) -> Result:
    count = args.count
    size = parse_size(args.size or "10K")
    base = args.dir / "small"
    pool_one = _make_pool(base / f"src-one-{count}-{size}", count, size, 1)
    pool_many = _make_pool(base / f"src-many-{count}-{size}", count, size, 2)
    store_root = _fresh(base / "store")
    out = base / "out"
    codec = args.codec or default_codec()
    store = open_store(store_root)
    state: dict[str, Any] = {"ids": []}
    models = [f"model-{i:02d}" for i in range(8)]

    def kw(i: int) -> dict[str, Any]:
        return {"artifact_type": "episode_data", "model_id": models[i % 8], "evaluation_id": f"eval-{i // 100}",
                "tags": ["bench", "small"], "metadata": {"episode": i, "success": i % 3 == 0}, "codec": codec}

    def stamp_pool(pool: list[Path], salt: int) -> Any:
        def setup(rep: int) -> None:
            for p in pool:
                _stamp(p, (_RUN << 20) + (rep + 1000) * 4 + salt)
        return setup

    def put_one(rep: int) -> None:
        state["ids"] = [store.put(p, **kw(i)).id for i, p in enumerate(pool_one)]

    def put_one_check(rep: int) -> None:
        assert len(set(state["ids"])) == count

    def put_many(rep: int) -> None:
        arts = store.put_many([{"source": p, **kw(i)} for i, p in enumerate(pool_many)])
        state["many"] = arts

    def put_many_check(rep: int) -> None:
        arts = state.pop("many")
        assert len(arts) == count and len({a.sha256 for a in arts}) == count, "put_many deduplicated: stale content"

    def fresh_out(name: str) -> Any:
        def setup(rep: int) -> None:
            _fresh(out / name)
        return setup

    def get_one(rep: int) -> None:
        d = out / "get"
        for i, aid in enumerate(state["ids"]):
            store.get(aid, d / f"episode_{i:05d}.bin")

    def get_check(rep: int) -> None:
        d = out / "get"
        assert (d / pool_one[0].name).read_bytes() == pool_one[0].read_bytes()
        shutil.rmtree(d)

    def copies(rep: int) -> None:
        d = out / "copy"
        for p in pool_one:
            shutil.copyfile(p, d / p.name)

    def copy_clean(rep: int) -> None:
        shutil.rmtree(out / "copy")

    b = Bench("small", reps=args.reps, warmup=args.warmup,
              params={"count": count, "size": f"{size} B", "codec": codec, "dir": str(base),
                      "put_many workers": store.workers},
              notes=[
                  f"each put figure rewrites the first 8 bytes of its {count:,} source files in place first (untimed): "
                  "new content every rep, no dedup",
                  "get and copyfile write into a fresh folder each rep (created and removed untimed)",
                  "put/put_many pass artifact_type, model_id, evaluation_id, 2 tags and 2 metadata keys",
                  "a popular peer logs 10 KiB files at 1.8-6.5x a copy and downloads at ~4.5x (DESIGN.md)",
              ])
    b.add("put (one by one)", put_one, setup=stamp_pool(pool_one, 1), teardown=put_one_check, work=count,
          unit="artifacts")
    b.add("put_many", put_many, setup=stamp_pool(pool_many, 2), teardown=put_many_check, work=count,
          unit="artifacts")
    b.add("get (one by one)", get_one, setup=fresh_out("get"), teardown=get_check, work=count, unit="artifacts")
    b.add("copyfile x N", copies, setup=fresh_out("copy"), teardown=copy_clean, work=count, unit="artifacts",
          baseline=True)
    b.compare("put (one by one)", "copyfile x N", target=3.0)
    b.compare("put_many", "copyfile x N", target=1.5)
    b.compare("get (one by one)", "copyfile x N")
    try:
        return b.run()
    finally:
        store.close()
        if not args.keep:
            shutil.rmtree(store_root, ignore_errors=True)
            shutil.rmtree(out, ignore_errors=True)


# --- find ----------------------------------------------------------------------------------

FIND_FORMAT = 1  # bump when the generated content changes
TAG_VOCAB = ["final", "nightly", "baseline", "smoke", "regression", "champion-candidate", "ablation",
             "seed-sweep", "gpu", "cpu", "long-horizon", "debug"]
SUITES = [f"suite-{c}" for c in "abcdefgh"]
SPLITS = ["train", "eval", "test"]


def _find_vocab(n_models: int = 50) -> dict[str, Any]:
    return {"models": [f"model-{i:03d}" for i in range(n_models)], "types": TYPES, "tags": TAG_VOCAB,
            "suites": SUITES, "splits": SPLITS, "seeds": list(range(100))}


def _row(i: int, rng: random.Random, v: dict[str, Any], model_w: list[float]) -> dict[str, Any]:
    model = rng.choices(v["models"], model_w)[0]
    return {
        "source": f"artifact {i} {rng.getrandbits(64):016x}\n".encode(),
        "artifact_type": rng.choice(v["types"]),
        "name": f"{model}/run-{i // 200:04d}/artifact-{i:06d}.json",
        "model_id": model,
        "evaluation_id": f"{model}-eval-{i // 500:04d}",
        "suite_name": rng.choice(v["suites"]),
        "tags": rng.sample(v["tags"], rng.choice([0, 1, 1, 2, 2, 3])),
        "metadata": {"suite": rng.choice(v["suites"]), "seed": rng.randrange(100), "split": rng.choice(v["splits"])},
        "codec": "none",
    }


def build_find_store(root: Path, n: int, batch: int = 5000, seed: int = 7) -> dict[str, Any]:
    """Build (or reuse) a store of ``n`` small artifacts; return its vocabulary."""
    marker = root / "bench-built.json"
    if marker.exists():
        info = json.loads(marker.read_text())
        if info.get("format") == FIND_FORMAT and info.get("n") == n:
            return info
    if root.exists():
        shutil.rmtree(root)
    v = _find_vocab()
    rng = random.Random(seed)
    model_w = [1 / (k + 1) ** 0.7 for k in range(len(v["models"]))]  # a few busy models, a long tail
    t0 = time.perf_counter()
    with open_store(root) as store:
        for start in range(0, n, batch):
            store.put_many([_row(i, rng, v, model_w) for i in range(start, min(n, start + batch))])
            done = min(n, start + batch)
            el = time.perf_counter() - t0
            print(f"  built {done:,}/{n:,} artifacts in {el:.1f} s ({done / el:,.0f}/s)", file=sys.stderr, flush=True)
    info = {"format": FIND_FORMAT, "n": n, "seed": seed, "build_s": round(time.perf_counter() - t0, 1), **v}
    marker.write_text(json.dumps(info))
    return info


def bench_find(args: argparse.Namespace) -> Result:
    from artifactstore.catalog.sql import kv_value

    n = int(parse_size(args.size)) if args.size else 100_000
    root = args.dir / f"find-{n}"
    info = build_find_store(root, n)
    store = open_store(root)
    db = sqlite3.connect(f"file:{root / 'catalog.db'}?mode=ro", uri=True, check_same_thread=False)
    rng = random.Random(11)
    reps = args.reps
    # One query of each kind per rep, with values drawn up front (same for store and sqlite).
    q = {
        "model": [rng.choice(info["models"]) for _ in range(reps + args.warmup)],
        "type": [rng.choice(info["types"]) for _ in range(reps + args.warmup)],
        "tags": [rng.sample(info["tags"], rng.choice([1, 1, 2])) for _ in range(reps + args.warmup)],
        "meta": [{"suite": rng.choice(info["suites"])} for _ in range(reps + args.warmup)],
        "rare": [{"seed": rng.randrange(100)} for _ in range(reps + args.warmup)],
    }
    W = args.warmup

    def ix(rep: int) -> int:
        return rep + W

    def sql(text: str, params: list[Any]) -> list[Any]:
        rows = db.execute(text, params).fetchall()
        ids = [r[0] for r in rows]
        if ids:  # the tags of the rows, as the store's find hydrates them
            db.execute(f"SELECT artifact_id, tag FROM tags WHERE artifact_id IN ({','.join('?' * len(ids))})",
                       ids).fetchall()
        return rows

    order = "ORDER BY created_at DESC, id DESC LIMIT 50"
    sizes: dict[str, list[int]] = {k: [] for k in ("model", "type", "tags", "meta", "rare")}

    def rec(kind: str, result: list[Any]) -> None:
        sizes[kind].append(len(result))

    b = Bench("find", reps=reps, warmup=W, collect=False,
              params={"artifacts": n, "models": len(info["models"]), "types": len(info["types"]),
                      "tag vocab": len(info["tags"]), "store": str(root), "built in": f"{info['build_s']} s"},
              notes=[
                  "one query of each kind per rep, interleaved; values drawn at random from the vocabulary "
                  "(models are skewed: a few busy ones and a long tail)",
                  "sqlite3 baselines run the same SQL on a read-only stdlib connection and fetch the tags of "
                  "the rows (what find() hydrates) but build no Artifact objects",
                  "metadata common: {'suite': ...} matches ~1/8 of the rows; metadata rare: {'seed': ...} ~1/100",
              ])
    two_ms = 2e-3
    b.add("find(model_id)", lambda r: rec("model", store.find(model_id=q["model"][ix(r)], limit=50)),
          target_s=two_ms)
    b.add("sqlite: model_id", lambda r: sql(f"SELECT * FROM artifacts WHERE model_id = ? {order}",
                                            [q["model"][ix(r)]]), baseline=True)
    b.add("find(type, -created_at)",
          lambda r: rec("type", store.find(artifact_type=q["type"][ix(r)], order_by="-created_at", limit=50)),
          target_s=two_ms)
    b.add("sqlite: type", lambda r: sql(f"SELECT * FROM artifacts WHERE artifact_type = ? {order}",
                                        [q["type"][ix(r)]]), baseline=True)
    b.add("find(tags)", lambda r: rec("tags", store.find(tags=q["tags"][ix(r)], limit=50)), target_s=two_ms)
    b.add("sqlite: tags", lambda r: sql(
        "SELECT * FROM artifacts WHERE EXISTS (SELECT 1 FROM tags WHERE tags.artifact_id = artifacts.id AND "
        f"tags.tag IN ({','.join('?' * len(q['tags'][ix(r)]))})) {order}", list(q["tags"][ix(r)])), baseline=True)
    b.add("find(metadata common)", lambda r: rec("meta", store.find(metadata=q["meta"][ix(r)], limit=50)),
          target_s=two_ms)

    def sql_meta(kind: str) -> Any:
        def run(r: int) -> None:
            ((k, v),) = q[kind][ix(r)].items()
            sql("SELECT * FROM artifacts WHERE EXISTS (SELECT 1 FROM metadata_kv m WHERE m.artifact_id = "
                f"artifacts.id AND m.key = ? AND m.value = ?) {order}", [k, kv_value(v)])
        return run

    b.add("sqlite: metadata common", sql_meta("meta"), baseline=True)
    b.add("find(metadata rare)", lambda r: rec("rare", store.find(metadata=q["rare"][ix(r)], limit=50)),
          target_s=two_ms)
    b.add("sqlite: metadata rare", sql_meta("rare"), baseline=True)
    b.add("count(model_id)", lambda r: store.count(model_id=q["model"][ix(r)]))
    b.add("sqlite: count", lambda r: db.execute("SELECT count(*) FROM artifacts WHERE model_id = ?",
                                                [q["model"][ix(r)]]).fetchall(), baseline=True)
    b.add("stats()", lambda r: store.stats())
    b.compare("find(model_id)", "sqlite: model_id")
    b.compare("find(type, -created_at)", "sqlite: type")
    b.compare("find(tags)", "sqlite: tags")
    b.compare("find(metadata common)", "sqlite: metadata common")
    b.compare("find(metadata rare)", "sqlite: metadata rare")
    b.compare("count(model_id)", "sqlite: count")
    try:
        res = b.run()
    finally:
        store.close()
        db.close()
    for k, v in sizes.items():
        short = sum(1 for x in v if x < 50)
        b.extra_rows.append((f"rows returned by find({k})",
                             f"{min(v)}-{max(v)}, {short} of {len(v)} queries (warm-up included) below the limit"))
    return res


# --- main ----------------------------------------------------------------------------------

BENCHES = {"large": bench_large, "small": bench_small, "find": bench_find}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("name", choices=[*BENCHES, "all"])
    p.add_argument("--reps", type=int, default=None,
                   help="reps (default 5; find: queries of each kind, default 200)")
    p.add_argument("--warmup", type=int, default=None, help="untimed-in-results warm-up reps (default 1; find 5)")
    p.add_argument("--size", default=None,
                   help="large: file size (1G); small: bytes per artifact (10K); find: artifact count (100000)")
    p.add_argument("--count", type=int, default=1000, help="small: artifacts per rep (1000)")
    p.add_argument("--codec", default=None, help="large: none; small: auto once codecs exist, else none")
    p.add_argument("--dir", type=Path, default=DEFAULT_DIR, help=f"scratch folder ({DEFAULT_DIR})")
    p.add_argument("--no-sync", dest="sync", action="store_false",
                   help="large: skip the untimed os.sync() before each figure")
    p.add_argument("--keep", action="store_true", help="keep the stores written (large, small)")
    p.add_argument("--json", type=Path, default=None, help="write every figure and rep to this JSON file")
    args = p.parse_args(argv)
    args.dir.mkdir(parents=True, exist_ok=True)
    names = list(BENCHES) if args.name == "all" else [args.name]
    if args.name == "all" and args.size:
        p.error("--size applies to one benchmark, not all")
    results: dict[str, Any] = {}
    for name in ["small", "large", "find"] if args.name == "all" else names:
        a = argparse.Namespace(**vars(args))
        if a.reps is None:
            a.reps = 200 if name == "find" else 5
        if a.warmup is None:
            a.warmup = 5 if name == "find" else 1
        res = BENCHES[name](a)
        print(res.table(), flush=True)
        print(flush=True)
        results[name] = res.to_dict()
    if args.json:
        doc = results[names[0]] if len(names) == 1 else results
        args.json.write_text(json.dumps(doc, indent=2) + "\n")
        print(f"wrote {args.json}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
