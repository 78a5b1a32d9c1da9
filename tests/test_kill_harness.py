"""kill -9 harness: a writer process per operation kind, killed at random and at targeted instants.

For each kind (put, put_many, the seed facade's store_artifact, export_episode_data,
promote_champion, gc, sync, archive import) one store accumulates rounds. A round
forks a writer (``os.fork`` of the test process) that loops over its operation and logs
every ref it was *returned* (fsynced, after the call returned). The writer is killed
either by ``SIGKILL`` from the parent at a random instant, or by itself at the N-th
hit of a named crash point (``ARTIFACTSTORE_CRASH_POINT=name@N``, see
:mod:`artifactstore.faults`: after each journal append, before each commit marker...).
After every kill the store must: open; verify clean; read back every artifact
byte-identical; resolve every logged ref to the same artifact and bytes (a committed
ref never changes meaning, champions keep their numbers); reindex into a fresh
catalog equal to the live one row for row; gc; take a new put and read it back.

CI runs every targeted point of every kind once plus two random rounds per kind.
``ARTIFACTSTORE_KILL_ROUNDS=N`` is the long mode: N rounds in total, spread evenly over
every kind (N/8 each), half of them at a targeted point (every point of the kind in turn,
at its 1st to 4th hit) and half at a random instant; a kind starts a new store every
``STORE_ROUNDS`` rounds so that a round's checks stay the same cost; failures are
counted, not stopped at. ``ARTIFACTSTORE_KILL_REPORT=path`` writes the per-kind
clean/total figures as one JSON object (rewritten after every round, so a long run can
be watched) and prints them as a table at the end of the module::

    ARTIFACTSTORE_KILL_ROUNDS=2000 ARTIFACTSTORE_KILL_REPORT=kill.json \
        nice .venv/bin/pytest tests/test_kill_harness.py -k kill_rounds -p no:cacheprovider
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import math
import os
import random
import signal
import time
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

KINDS = ("put", "put_many", "store_artifact", "export_episode_data", "promote_champion", "gc", "sync", "import")
_PUT_POINTS = ("after-blob-publish", "after-manifest-append", "before-manifest-commit")
_REC_POINTS = ("after-records-append", "before-records-commit")
TARGETS: dict[str, tuple[str, ...]] = {
    "put": _PUT_POINTS,
    "put_many": (*_PUT_POINTS, "pack-before-seal", "pack-after-seal", "pack-after-index"),
    "store_artifact": _PUT_POINTS,
    "export_episode_data": ("after-manifest-append", "before-manifest-commit"),
    "promote_champion": (*_REC_POINTS, "after-manifest-append"),
    "gc": (*_REC_POINTS, "pack-gc-after-unindex", "pack-repack-after-seal", "pack-repack-after-move"),
    "sync": ("sync-after-segments", "after-records-append", "before-records-commit"),
    "import": _PUT_POINTS,
}
#: The long mode's total number of rounds over all kinds (0: the CI plan).
TOTAL_ROUNDS = int(os.environ.get("ARTIFACTSTORE_KILL_ROUNDS", "0") or 0)
EXTRA_ROUNDS = math.ceil(TOTAL_ROUNDS / len(KINDS)) if TOTAL_ROUNDS > 0 else 0
CI_RANDOM_ROUNDS = 2
#: In the long mode, a kind's rounds move to a new store after this many.
STORE_ROUNDS = 40
OPS = 40  # a writer that is never killed stops after this many operations


# --- the writer (a separate process) ---------------------------------------------------------


def _note(log: Any, **kw: Any) -> None:
    log.write(json.dumps(kw) + "\n")
    log.flush()
    os.fsync(log.fileno())


def _ref_note(log: Any, art: Any) -> None:
    _note(log, ref=f"{art.name}@v{art.version}", id=art.id, sha=art.sha256)


def _payload(rnd: random.Random) -> bytes:
    n = rnd.choice((0, 10, 3000, 70_000))
    if rnd.random() < 0.5:
        return (b"line of text %d\n" % rnd.randrange(50)) * (n // 16 + 1)
    return rnd.randbytes(n)


def writer(kind: str, root: str, aux: str, log_path: str, seed: int, ready_fd: int) -> None:
    from artifactstore.store import open_store

    rnd = random.Random(seed)
    store = open_store(root)
    log = open(log_path, "a")  # noqa: SIM115 - kept open until SIGKILL
    names = ("n.txt", "m.bin", "dir/k.json")
    os.write(ready_fd, b"r")
    for i in range(OPS):
        if kind == "put":
            _ref_note(log, store.put(_payload(rnd), name=rnd.choice(names), artifact_type="other",
                                     metadata={"i": i}, tags=[f"t{i % 3}"]))
        elif kind == "put_many":
            items = [{"source": _payload(rnd), "name": rnd.choice(names), "artifact_type": "other",
                      "metadata": {"i": i, "j": j}} for j in range(rnd.randrange(2, 6))]
            for a in store.put_many(items):
                _ref_note(log, a)
        elif kind == "store_artifact":
            from artifactstore.compat.manager import ArtifactManager

            path = Path(aux) / rnd.choice(("model.pt", "trace.json"))
            path.write_bytes(_payload(rnd))
            aid = ArtifactManager(store=store).store_artifact(path, "model", model_id=f"m{i % 2}")
            _ref_note(log, store.resolve(aid))
        elif kind == "export_episode_data":
            from artifactstore.compat.manager import ArtifactManager

            rows = [{"episode_id": k, "reward": rnd.random(), "success": rnd.random() < 0.5} for k in range(30)]
            ids = ArtifactManager(store=store).export_episode_data(rows, "both", model_id="m", evaluation_id=f"e{i % 2}")
            for aid in ids.values():
                _ref_note(log, store.resolve(aid))
        elif kind == "promote_champion":
            art = store.put(_payload(rnd), name="model.pt", artifact_type="model")
            _ref_note(log, art)
            cur = store.champion()
            score = (cur.global_score if cur else 0.0) + 1.0
            ev = f"e{i % 3}"  # re-records evaluations too
            store.record_evaluation(ev, f"m{i}", global_score=score, success_rate=0.5, artifacts=[art])
            champ = store.promote_champion(f"m{i}", evaluation_id=ev, global_score=score, success_rate=0.5,
                                           artifacts=[art])
            if champ is not None:
                _note(log, champion=champ.seq, id=champ.champion_id)
        elif kind == "gc":
            from artifactstore.gc import collect

            a = store.put(_payload(rnd), name=rnd.choice(names), artifact_type="other")
            b = store.put(_payload(rnd), name=rnd.choice(names), artifact_type="other")
            # a pack of three, two of them deleted (a repack) or all three (a dead pack)
            packed = store.put_many([{"source": rnd.randbytes(rnd.choice((10, 3000))), "name": f"p{j}.bin",
                                      "artifact_type": "other"} for j in range(3)])
            gone = [b, *packed[: 3 if rnd.random() < 0.3 else 2]]
            for art in (a, b, *packed):
                _ref_note(log, art)
            for art in gone:
                _note(log, deleted=art.id)  # before: a kill during the delete may or may not delete it
            for art in gone:
                store.delete(art.id)
            collect(store, ["keep_all"], dry_run=False, grace_seconds=0)
        elif kind == "sync":
            from artifactstore.sync import sync

            _ref_note(log, store.put(_payload(rnd), name="n.txt", artifact_type="other"))
            with open_store(aux) as src:
                sync(src, store)
        elif kind == "import":
            from artifactstore.archive import import_archive

            _ref_note(log, store.put(_payload(rnd), name="n.txt", artifact_type="other"))
            import_archive(store, Path(aux) / "in.tar")
    store.close()


# --- the parent ----------------------------------------------------------------------------


def _dump(store: Any) -> dict[str, list[tuple[Any, ...]]]:
    """Every catalog row that reindex rebuilds, sorted (live state such as leases left out)."""
    import sqlalchemy as sa

    from artifactstore.catalog import schema as S

    skip = {"codec_error", "updated_at"}  # the codec failure note and alias timestamps are not journalled
    out: dict[str, list[tuple[Any, ...]]] = {}
    with store.catalog.engine.connect() as conn:
        for t in (S.artifacts, S.names, S.aliases, S.tags, S.metadata_kv, S.evaluations, S.champions):
            cols = [c for c in t.c if c.name not in skip]
            rows = conn.execute(sa.select(*cols)).all()
            out[t.name] = sorted((tuple(round(v, 3) if isinstance(v, float) else v for v in r) for r in rows),
                                 key=repr)
    return out


def _prepare_aux(kind: str, aux: Path, rnd: random.Random) -> None:
    """Source material for the next round: a source store (sync) or an archive (import)."""
    from artifactstore.archive import create_archive
    from artifactstore.store import open_store

    if kind not in ("sync", "import"):
        return
    with open_store(aux / "src") as src:
        for _ in range(rnd.randrange(1, 4)):
            src.put(_payload(rnd), name=rnd.choice(("n.txt", "s.bin")), artifact_type="other",
                    metadata={"from": "src"})
        a = src.put(_payload(rnd), name="model.pt", artifact_type="model")
        cur = src.champion()
        src.promote_champion("src-model", global_score=(cur.global_score if cur else 0) + 1, success_rate=1.0,
                             artifacts=[a])
        if rnd.random() < 0.3:
            src.delete(a.id)
        if kind == "import":
            tar = aux / "in.tar"
            tar.unlink(missing_ok=True)
            create_archive(src, tar)


def _round(kind: str, root: Path, aux: Path, log_path: Path, seed: int, point: str | None) -> bool:
    """Fork a writer (imports already loaded: a round costs the work, not an interpreter start)
    and let it be killed: by itself at ``point``, or by us at a random instant."""
    from artifactstore.faults import ENV

    src_arg = str(aux / "src") if kind == "sync" else str(aux)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the writer
        code = 0
        try:
            os.close(r)
            os.environ.pop(ENV, None)
            if point is not None:
                os.environ[ENV] = point
            writer(kind, str(root), src_arg, str(log_path), seed, w)
        except BaseException:
            traceback.print_exc()
            code = 3
        finally:
            os._exit(code)
    os.close(w)
    try:
        ready = os.read(r, 1)
    finally:
        os.close(r)
    if point is None and ready:
        time.sleep(random.Random(seed).uniform(0.0, 0.6))  # a random instant, not an assertion
        os.kill(pid, signal.SIGKILL)
    _pid, status = os.waitpid(pid, 0)
    if not (os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0) and not (
            os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL):
        raise AssertionError(f"writer {kind} failed (status {status}); its traceback is in the captured stderr")
    return os.WIFSIGNALED(status)


def _check(root: Path, log_path: Path, fresh: Path) -> None:
    from artifactstore.gc import collect
    from artifactstore.store import open_store

    notes = [json.loads(line) for line in log_path.read_text().splitlines() if line.strip()]
    deleted = {n["deleted"] for n in notes if "deleted" in n}
    with open_store(root) as s:
        rep = s.verify()
        assert not rep.corrupt and not rep.missing, rep
        for a in s.catalog.iter_all():
            assert hashlib.sha256(s.read_bytes(a)).hexdigest() == a.sha256
        for n in notes:
            if "ref" in n and n["id"] not in deleted:
                art = s.resolve(n["ref"])
                assert art.id == n["id"], f"{n['ref']} changed meaning: {n['id']} -> {art.id}"
                assert hashlib.sha256(s.read_bytes(art)).hexdigest() == n["sha"]
        history = {c.seq: c.champion_id for c in s.champion_history()}
        for n in notes:
            if "champion" in n:
                assert history.get(n["champion"]) == n["id"], f"champion #{n['champion']} changed"
        live = _dump(s)
    fresh.unlink(missing_ok=True)
    with open_store(root, catalog=fresh) as f:  # a fresh catalog: rebuilt from the journals at open
        rebuilt = _dump(f)
    for table in live:
        assert rebuilt[table] == live[table], f"reindex differs from live in {table}"
    with open_store(root) as s:
        collect(s, ["keep_all"], dry_run=False, grace_seconds=0)
        a = s.put(b"after the kill", name="after.txt", artifact_type="other")
        assert s.read_bytes(a) == b"after the kill"
        with open(log_path, "a") as log:
            _ref_note(log, a)


def _plan(kind: str) -> list[str | None]:
    """CI: every targeted point once (at its 1st to 3rd hit) plus two random rounds. Long mode:
    ``EXTRA_ROUNDS`` rounds, alternating a targeted point (cycling over the kind's points, at
    their 1st to 4th hit) and a random instant."""
    rnd = random.Random(kind)
    if not EXTRA_ROUNDS:
        points: list[str | None] = [f"{p}@{rnd.randrange(1, 4)}" for p in TARGETS[kind]]
        return points + [None] * CI_RANDOM_ROUNDS
    targets = TARGETS[kind]
    return [None if i % 2 else f"{targets[(i // 2) % len(targets)]}@{rnd.randrange(1, 5)}"
            for i in range(EXTRA_ROUNDS)]


def _write_report(path: str, kind: str, entry: dict[str, Any]) -> None:
    """Merge one kind's figures into the JSON report (locked: kinds may run in several processes)."""
    with open(path + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            report = json.loads(Path(path).read_text())
        except (FileNotFoundError, ValueError):
            report = {}
        kinds = report.setdefault("kinds", {})
        kinds[kind] = entry
        report["clean"] = sum(k["clean"] for k in kinds.values())
        report["total"] = sum(k["total"] for k in kinds.values())
        report["rounds_requested"] = TOTAL_ROUNDS
        report["load_average"] = os.getloadavg()
        tmp = path + ".tmp"
        Path(tmp).write_text(json.dumps(report, indent=1, sort_keys=True))
        os.replace(tmp, path)


def report_table(report: dict[str, Any]) -> str:
    """The report as a table: one line per kind, then the total."""
    lines = [f"{'kind':<22}{'clean':>7}{'total':>7}{'killed':>8}  targeted clean/total"]
    for kind, k in sorted(report.get("kinds", {}).items()):
        lines.append(f"{kind:<22}{k['clean']:>7}{k['total']:>7}{k['killed']:>8}  "
                     f"{k['targeted_clean']}/{k['targeted']}")
    lines.append(f"{'all':<22}{report.get('clean', 0):>7}{report.get('total', 0):>7}")
    return "\n".join(lines)


@pytest.fixture(scope="module")
def kill_report(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """The report path (``ARTIFACTSTORE_KILL_REPORT``); the table is printed after the module."""
    path = os.environ.get("ARTIFACTSTORE_KILL_REPORT") or None
    yield path
    if path and Path(path).exists():
        table = report_table(json.loads(Path(path).read_text()))
        capture = request.config.pluginmanager.get_plugin("capturemanager")
        with capture.global_and_fixture_disabled() if capture is not None else contextlib.nullcontext():
            print(f"\nkill harness: clean/total rounds per operation kind (report: {path})\n{table}", flush=True)


@pytest.mark.parametrize("kind", KINDS)
def test_kill_rounds(kind: str, tmp_path: Path, kill_report: str | None) -> None:
    rnd = random.Random(f"aux-{kind}")
    clean = killed = targeted = targeted_clean = 0
    failures: list[str] = []
    started = time.monotonic()
    for i, point in enumerate(_plan(kind)):
        seg = i // STORE_ROUNDS if EXTRA_ROUNDS else 0
        root, aux, log_path = tmp_path / f"store{seg}", tmp_path / f"aux{seg}", tmp_path / f"refs{seg}.jsonl"
        aux.mkdir(exist_ok=True)
        log_path.touch()
        _prepare_aux(kind, aux, rnd)
        killed += _round(kind, root, aux, log_path, seed=1000 * i + len(kind), point=point)
        total = i + 1
        targeted += point is not None
        try:
            _check(root, log_path, tmp_path / "fresh.db")
            clean += 1
            targeted_clean += point is not None
        except AssertionError as exc:
            failures.append(f"round {i} ({point or 'random'}): {exc}")
            if not EXTRA_ROUNDS:
                break
        if kill_report:
            _write_report(kill_report, kind, {
                "clean": clean, "total": total, "killed": killed, "targeted": targeted,
                "targeted_clean": targeted_clean, "seconds": round(time.monotonic() - started, 1),
                "failures": failures[:10]})
    assert not failures, "\n".join(failures[:5])


# --- a cluster opening a fresh PostgreSQL catalog over an existing store ----------------------------


def _cluster_worker(root: str, catalog: str, w: int, go: int, out: str) -> None:
    from artifactstore.store import open_store

    os.read(go, 1)  # everyone starts at once
    with open_store(root, catalog=catalog) as s, open(out, "w") as log:
        for i in range(8):
            a = s.put(f"worker {w} item {i}".encode(), name=f"w{w % 4}.txt", artifact_type="other")
            log.write(f"{a.id} {a.name}@v{a.version}\n")
            if i % 4 == 3:
                s.promote_champion(f"m{w}", global_score=random.random(), success_rate=0.5, artifacts=[a],
                                   only_if_better=False)


def test_16_workers_open_a_fresh_postgresql_catalog_at_once(tmp_path: Path, pg_catalog_url: str) -> None:
    from artifactstore.store import open_store

    root = tmp_path / "store"
    with open_store(root) as s:  # an existing store (SQLite catalog) with history
        for i in range(40):
            s.put(f"old {i}".encode(), name=f"w{i % 4}.txt", artifact_type="other")
        s.promote_champion("old", global_score=0.1, success_rate=0.1)
    r, w = os.pipe()
    pids = []
    for n in range(16):
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                os.close(w)
                _cluster_worker(str(root), pg_catalog_url, n, r, str(tmp_path / f"w{n}.log"))
            except BaseException:
                traceback.print_exc()
                code = 3
            finally:
                os._exit(code)
        pids.append(pid)
    os.close(r)
    os.write(w, b"g" * 16)
    os.close(w)
    statuses = [os.waitpid(p, 0)[1] for p in pids]
    assert all(os.WIFEXITED(st) and os.WEXITSTATUS(st) == 0 for st in statuses), statuses
    returned = [line.split() for n in range(16) for line in (tmp_path / f"w{n}.log").read_text().splitlines()]
    assert len(returned) == 16 * 8
    with open_store(root, catalog=pg_catalog_url) as s:
        for aid, ref in returned:  # nothing put returned is missing, every ref means what it said
            assert s.resolve(ref).id == aid
        assert s.count() == 40 + 16 * 8
        seqs = [c.seq for c in s.champion_history()]
        assert sorted(seqs) == list(range(1, 1 + 1 + 16 * 2))
        live = _dump(s)
    with open_store(root, catalog=tmp_path / "fresh.db") as f:
        rebuilt = _dump(f)
    for table in live:
        assert rebuilt[table] == live[table], f"reindex differs from live in {table}"


# --- damaged storage ---------------------------------------------------------------------------------


@pytest.mark.parametrize("damage", ["missing", "truncated"])
def test_a_put_of_the_same_bytes_heals_a_missing_or_truncated_blob(tmp_path: Path, damage: str) -> None:
    from artifactstore.store import open_store

    data = b"precious evaluation bytes\n" * 4000
    with open_store(tmp_path / "s") as s:
        first = s.put(data, name="e.txt", artifact_type="other")
        path = s.backend.local_path(first.blob_key)
        assert path is not None
        if damage == "missing":
            path.unlink()
        else:
            path.write_bytes(path.read_bytes()[:-7])
        assert s.verify().missing or s.verify().corrupt
        second = s.put(data, name="e.txt", artifact_type="other")
        assert second.blob_key == first.blob_key
        assert s.read_bytes(first) == data and s.read_bytes(second) == data
        rep = s.verify()
        assert not rep.missing and not rep.corrupt
