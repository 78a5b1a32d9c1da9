"""HTTP-level tests of the web UI (Starlette TestClient): Range, traversal, XSS, token and CSRF, JSON."""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import artifactstore
from artifactstore import ArtifactStore

pytest.importorskip("starlette")

with warnings.catch_warnings():
    # starlette 1.x warns that its test client prefers httpx2; httpx is what the [dev] extra pins.
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from artifactstore.ui import create_app
from artifactstore.ui.app import parse_range, safe_filename

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:starlette")

TOKEN = "t0ken-for-tests"
XSS = "<script>alert(1)</script>"
BIG = bytes(range(256)) * 4096  # 1 MiB, compressible pattern -> zstd blob


@pytest.fixture
def populated(tmp_path: Path) -> Iterator[ArtifactStore]:
    with artifactstore.open(tmp_path / "store") as s:
        s.put(BIG, artifact_type="trace", name="runs/big.bin", model_id="m1", codec="zstd")
        s.put(b"abcdefghij", artifact_type="log", name="runs/plain.txt", codec="none")
        s.put(b"line one\nline two\n", artifact_type="log", name="logs/run.log", model_id="m1",
              tags=["nightly", XSS], metadata={"note": XSS, XSS: "key"})
        s.put(b"line one\nline 2\n", artifact_type="log", name="logs/run.log", model_id="m1")
        rows = "episode,reward,map\n" + "".join(f"{i},{(i * 37) % 101},map{i % 3}\n" for i in range(500))
        s.put(rows.encode(), artifact_type="episode_data", name="eval/episodes.csv", model_id="m2",
              evaluation_id="ev1")
        s.put(json.dumps({"a": {"b": [1, 2, {"c": XSS}]}}).encode(), artifact_type="report", name="r/report.json")
        s.record_evaluation("ev1", "m2", global_score=0.5, success_rate=0.4)
        s.promote_champion("m2", evaluation_id="ev1", global_score=0.5, success_rate=0.4)
        yield s


def client(store: ArtifactStore, token: str | None = None) -> TestClient:
    return TestClient(create_app(store, token=token), follow_redirects=False)


# --- Range -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["runs/big.bin", "runs/plain.txt"])
def test_range_requests_return_the_exact_bytes(populated: ArtifactStore, name: str) -> None:
    c = client(populated)
    data = BIG if name.endswith(".bin") else b"abcdefghij"
    size = len(data)
    full = c.get(f"/artifacts/{name}/raw")
    assert full.status_code == 200 and full.content == data
    assert full.headers["accept-ranges"] == "bytes"
    for header, (start, end) in {
        "bytes=0-0": (0, 0), "bytes=3-7": (3, 7), f"bytes={size - 4}-": (size - 4, size - 1),
        "bytes=-3": (size - 3, size - 1), f"bytes=2-{size + 100}": (2, size - 1),
    }.items():
        r = c.get(f"/artifacts/{name}/raw", headers={"Range": header})
        assert r.status_code == 206, header
        assert r.content == data[start:end + 1], header
        assert r.headers["content-range"] == f"bytes {start}-{end}/{size}"
        assert int(r.headers["content-length"]) == end - start + 1
    if size > 70000:
        r = c.get(f"/artifacts/{name}/raw", headers={"Range": "bytes=65530-1048000"})
        assert r.content == data[65530:1048001]


@pytest.mark.parametrize("header", ["bytes=10-", "bytes=11-20", "bytes=5-2", "bytes=abc", "bytes=-0", "bytes=-",
                                    "bytes=1-x"])
def test_bad_ranges_answer_416(populated: ArtifactStore, header: str) -> None:
    r = client(populated).get("/artifacts/runs/plain.txt/raw", headers={"Range": header})
    assert r.status_code == 416
    assert r.headers["content-range"] == "bytes */10"


def test_parse_range_edges() -> None:
    assert parse_range("bytes=0-1,3-4", 10) is None  # several ranges: the whole body
    assert parse_range("items=0-1", 10) is None
    assert parse_range("bytes=9-9", 10) == (9, 9)
    with pytest.raises(ValueError):
        parse_range("bytes=0-0", 0)


def test_download_sets_a_sanitised_file_name(populated: ArtifactStore) -> None:
    populated.put(b"x", artifact_type="log", name='odd/na"me; x=1 é.txt')
    r = client(populated).get("/artifacts/odd/na%22me;%20x=1%20%C3%A9.txt/raw")
    assert r.status_code == 200 and r.content == b"x"
    assert r.headers["content-disposition"] == 'attachment; filename="na_me__x_1__.txt"'
    r = client(populated).get("/artifacts/runs/plain.txt/raw")
    assert r.headers["content-disposition"] == 'attachment; filename="plain.txt"'
    assert safe_filename('a/b/"evil";\r\nSet-Cookie: x.txt') == "_evil____Set-Cookie__x.txt"
    assert safe_filename("../..") == "artifact"


# --- traversal and refs -----------------------------------------------------------------------


@pytest.mark.parametrize("path", [
    "/artifacts/..%2F..%2Fetc%2Fpasswd", "/artifacts/../../etc/passwd", "/artifacts/%2e%2e/%2e%2e/etc/passwd",
    "/artifacts/runs/..%2F..%2Fetc%2Fpasswd/raw", "/artifacts/%252e%252e%252fetc%252fpasswd",
    "/artifacts/..%5C..%5Cwindows/raw", "/artifacts/%2Fetc%2Fpasswd/raw", "/artifacts/runs%00/raw",
    "/artifacts/logs/run.log@v0", "/artifacts/logs/run.log:..",
])
def test_traversal_attempts_are_refused(populated: ArtifactStore, path: str) -> None:
    r = client(populated).get(path)
    assert r.status_code in (400, 404)
    assert b"root:" not in r.content


def test_refs_by_id_version_alias_and_latest(populated: ArtifactStore) -> None:
    c = client(populated)
    v1 = populated.resolve("logs/run.log@v1")
    populated.set_alias(v1, "stable")
    for ref, version in [("logs/run.log", 2), ("logs/run.log@v1", 1), ("logs/run.log:stable", 1), (v1.id, 1)]:
        d = c.get(f"/artifacts/{ref}", headers={"Accept": "application/json"}).json()
        assert d["artifact"]["version"] == version, ref
    assert c.get("/artifacts/nope/missing.txt").status_code == 404


# --- escaping -----------------------------------------------------------------------------------


def test_user_strings_are_escaped_everywhere(populated: ArtifactStore) -> None:
    c = client(populated, TOKEN)
    for url in ["/", "/artifacts", "/artifacts/logs/run.log@v1", "/search?q=nightly", f"/search?q={XSS}",
                "/artifacts/r/report.json", f"/artifacts?model={XSS}", f"/compare?a=logs/run.log@v1&b={XSS}"]:
        r = c.get(url)
        assert "<script>alert" not in r.text, url
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in c.get("/artifacts/logs/run.log@v1").text
    assert "csp" not in c.get("/").headers.get("content-security-policy", "csp").lower()


def test_svg_is_sandboxed_and_html_not_served_as_html(populated: ArtifactStore) -> None:
    populated.put(b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>", artifact_type="plot",
                  name="p/evil.svg")
    populated.put(b"<html><script>alert(1)</script></html>", artifact_type="report", name="p/evil.html")
    c = client(populated)
    svg = c.get("/artifacts/p/evil.svg/raw")
    assert svg.headers["content-security-policy"] == "sandbox"
    html = c.get("/artifacts/p/evil.html/raw")
    assert not html.headers["content-type"].startswith("text/html")
    assert html.headers["content-disposition"].startswith("attachment")


# --- JSON variants --------------------------------------------------------------------------------


@pytest.mark.parametrize("path,key", [
    ("/", "stats"), ("/artifacts", "artifacts"), ("/artifacts/logs/run.log", "artifact"), ("/evaluations", "evaluations"),
    ("/evaluations/ev1", "evaluation"), ("/champions", "champions"), ("/search?q=line", "artifacts"),
    ("/compare?a=logs/run.log@v1&b=logs/run.log@v2", "diff"), ("/artifacts/eval/episodes.csv/preview", "table"),
])
def test_every_page_is_also_json(populated: ArtifactStore, path: str, key: str) -> None:
    c = client(populated)
    by_accept = c.get(path, headers={"Accept": "application/json"})
    assert by_accept.headers["content-type"].startswith("application/json"), path
    assert key in by_accept.json()
    base, _, query = path.partition("?")
    suffixed = (base.rstrip("/") or "/index") + ".json" + ("?" + query if query else "")
    by_suffix = c.get(suffixed)
    assert by_suffix.headers["content-type"].startswith("application/json"), suffixed
    assert key in by_suffix.json()
    html = c.get(path)
    assert html.headers["content-type"].startswith("text/html")


def test_a_name_ending_in_json_is_an_artifact_not_a_suffix(populated: ArtifactStore) -> None:
    c = client(populated)
    page = c.get("/artifacts/r/report.json")
    assert page.headers["content-type"].startswith("text/html") and "<details" in page.text
    assert c.get("/artifacts/r/report.json.json").json()["artifact"]["name"] == "r/report.json"


def test_json_has_no_blob_key_nor_credentials(tmp_path: Path) -> None:
    with artifactstore.open(tmp_path / "s") as s:
        s.put(b"x", artifact_type="log", name="a.txt")
        data = client(s).get("/index.json").json()
        assert "store" in data
        assert "blob_key" not in json.dumps(client(s).get("/artifacts.json").json())


# --- list, filters, paging, previews --------------------------------------------------------------


def test_artifact_list_filters_and_pages(populated: ArtifactStore) -> None:
    populated.put_many([{"source": f"n{i}".encode(), "artifact_type": "plot", "name": f"many/p{i}.txt"}
                        for i in range(120)])
    c = client(populated)
    d = c.get("/artifacts.json?type=plot").json()
    assert d["total"] == 120 and len(d["artifacts"]) == 50 and d["next"]
    d2 = c.get(d["next"], headers={"Accept": "application/json"}).json()
    assert {a["id"] for a in d["artifacts"]}.isdisjoint(a["id"] for a in d2["artifacts"])
    assert c.get("/artifacts.json?model=m2").json()["total"] == 1
    assert c.get("/artifacts.json?tag=nightly").json()["total"] == 1
    assert c.get("/artifacts.json?evaluation=ev1").json()["artifacts"][0]["name"] == "eval/episodes.csv"
    assert c.get("/artifacts.json?after=2000-01-01").json()["total"] == populated.count()
    assert c.get("/artifacts.json?before=2000-01-01").json()["total"] == 0
    assert c.get("/artifacts.json?after=notadate").status_code == 400
    q = c.get("/artifacts.json?q=nightly").json()
    assert [a["name"] for a in q["artifacts"]] == ["logs/run.log"]
    assert c.get('/search.json?q=%22NEAR(%27;%20--').status_code in (200, 400)


def test_table_preview_pages_sorts_and_filters(populated: ArtifactStore) -> None:
    c = client(populated)
    url = "/artifacts/eval/episodes.csv/preview.json"
    first = c.get(url).json()["table"]
    assert first["columns"] == ["episode", "reward", "map"] and len(first["rows"]) == 50 and first["next"]
    assert [r[0] for r in first["rows"]] == list(range(50))
    page3 = c.get(url + "?offset=100").json()["table"]
    assert [r[0] for r in page3["rows"]] == list(range(100, 150))
    rewards = sorted(((i * 37) % 101, i) for i in range(500))
    top = c.get(url + "?sort=reward&desc=1").json()["table"]
    assert [r[1] for r in top["rows"]] == [r for r, _ in sorted(rewards, reverse=True)][:50]
    asc = c.get(url + "?sort=reward&offset=50").json()["table"]
    assert [r[1] for r in asc["rows"]] == [r for r, _ in rewards][50:100]
    filt = c.get(url + "?fcol=map&fq=MAP2").json()["table"]
    assert all(r[2] == "map2" for r in filt["rows"]) and filt["rows"][0][0] == 2
    last = c.get(url + "?fcol=map&fq=map2&offset=150").json()["table"]
    assert last["matched"] == len([i for i in range(500) if i % 3 == 2]) and not last["next"]


def test_text_and_json_previews(populated: ArtifactStore) -> None:
    big = b"".join(b"%08d some log text\n" % i for i in range(10000))  # ~250 KB
    populated.put(big, artifact_type="log", name="logs/big.log")
    c = client(populated)
    d = c.get("/artifacts/logs/big.log/preview.json").json()["preview"]
    assert d["more"] and d["end"] <= 64 * 1024 and big[:d["end"]].decode() == d["text"]
    d2 = c.get(f"/artifacts/logs/big.log/preview.json?offset={d['end']}").json()["preview"]
    assert big[d["end"]:d2["end"]].decode() == d2["text"]
    page = c.get("/artifacts/logs/big.log")
    assert "more →" in page.text and len(page.content) < 120_000
    huge = json.dumps({"k": [{"i": i, "v": [i] * 3} for i in range(20000)]}).encode()
    populated.put(huge, artifact_type="report", name="r/huge.json")
    jp = c.get("/artifacts/r/huge.json")
    assert "<details" in jp.text and len(jp.content) < 400_000 and "Only the first" in jp.text


def test_compare_versions_text_and_tables(populated: ArtifactStore) -> None:
    c = client(populated)
    d = c.get("/compare.json?a=logs/run.log@v1&b=logs/run.log@v2").json()
    assert "-line two" in d["diff"]["lines"] and "+line 2" in d["diff"]["lines"]
    populated.put(b"episode,reward\n1,5\n2,7\n", artifact_type="episode_data", name="eval/episodes.csv")
    t = c.get("/compare.json?a=eval/episodes.csv@v1&b=eval/episodes.csv@v2").json()["tables"]
    assert t["b"]["columns"]["reward"]["mean"] == 6.0 and t["a"]["rows"] == 500
    assert "map" in t["columns"] and "map" not in t["b"]["columns"]


def test_evaluation_page_shows_report_or_why_not(populated: ArtifactStore) -> None:
    d = client(populated).get("/evaluations/ev1.json").json()
    assert d["evaluation"]["model_id"] == "m2"
    assert d["report"] or d["report_error"]


# --- token, session, CSRF ---------------------------------------------------------------------------


def test_writes_are_refused_without_a_token(populated: ArtifactStore) -> None:
    ro = client(populated)
    assert ro.post("/artifacts/logs/run.log/alias", data={"alias": "x"}).status_code == 403
    rw = client(populated, TOKEN)
    assert rw.post("/artifacts/logs/run.log/alias", data={"alias": "x"}).status_code == 403
    assert rw.post("/artifacts/logs/run.log/delete", headers={"Authorization": "Bearer wrong"}).status_code == 403
    assert rw.post("/upload", files={"file": ("a.txt", b"x")}).status_code == 403
    assert rw.get("/login?token=wrong").status_code == 403
    assert populated.aliases("logs/run.log") == [] and populated.count() == 6


def test_bearer_token_allows_writes(populated: ArtifactStore) -> None:
    c = client(populated, TOKEN)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    r = c.post("/artifacts/logs/run.log/alias", data={"alias": "best"}, headers=auth)
    assert r.status_code == 200 and populated.resolve("logs/run.log:best").version == 2
    r = c.post("/artifacts/logs/run.log/tags", data={"tags": "a, b"}, headers=auth)
    assert r.json()["artifact"]["tags"] == ["a", "b"] and populated.resolve("logs/run.log").version == 2
    assert list(populated.resolve("logs/run.log").tags) == ["a", "b"]  # edited in place, no new version
    r = c.post("/artifacts/logs/run.log/unalias", data={"alias": "best"}, headers=auth)
    assert r.status_code == 200 and populated.aliases("logs/run.log") == []
    r = c.post("/upload", files={"file": ("up.txt", b"uploaded")}, data={"type": "log", "name": "u/up.txt"},
               headers=auth)
    assert r.status_code == 200 and populated.read_bytes("u/up.txt") == b"uploaded"
    r = c.post("/artifacts/u/up.txt/delete", headers=auth)
    assert r.status_code == 200 and populated.count(name="u/up.txt") == 0


def test_cookie_session_needs_the_csrf_token(populated: ArtifactStore) -> None:
    c = client(populated, TOKEN)
    login = c.get(f"/login?token={TOKEN}")
    assert login.status_code == 303
    cookie = login.headers["set-cookie"]
    assert "httponly" in cookie.lower() and "samesite=strict" in cookie.lower() and TOKEN not in cookie
    page = c.get("/artifacts/logs/run.log").text
    csrf = re.search(r'name="csrf" value="([0-9a-f]{64})"', page)
    assert csrf, "the write forms carry the session's CSRF token"
    assert c.post("/artifacts/logs/run.log/alias", data={"alias": "a1"}).status_code == 403
    assert c.post("/artifacts/logs/run.log/alias", data={"alias": "a1", "csrf": "0" * 64}).status_code == 403
    ok = c.post("/artifacts/logs/run.log/alias", data={"alias": "a1", "csrf": csrf.group(1)})
    assert ok.status_code == 303 and populated.resolve("logs/run.log:a1").version == 2
    other = client(populated, TOKEN)  # another app (another secret): the old cookie is worthless
    other.cookies.set("artifactstore_session", c.cookies["artifactstore_session"])
    assert other.post("/artifacts/logs/run.log/alias", data={"alias": "a2", "csrf": csrf.group(1)}).status_code == 403


def test_token_never_appears_in_pages_or_headers(populated: ArtifactStore) -> None:
    c = client(populated, TOKEN)
    c.get(f"/login?token={TOKEN}")
    for url in ["/", "/artifacts", "/artifacts/logs/run.log", "/upload", "/index.json"]:
        r = c.get(url)
        assert TOKEN not in r.text and TOKEN not in json.dumps(dict(r.headers)), url


def test_store_credentials_are_redacted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with artifactstore.open(tmp_path / "s") as s:
        monkeypatch.setattr(type(s), "url", property(lambda _self: "s3://AKIASECRET:hunter2@bucket/p?token=zzz"))
        text = client(s).get("/").text + json.dumps(client(s).get("/index.json").json())
        assert "hunter2" not in text and "zzz" not in text and "AKIASECRET" not in text


# --- the CLI command --------------------------------------------------------------------------------


def test_cli_refuses_non_loopback_without_token(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from artifactstore.cli.commands_ui import is_loopback
    from artifactstore.cli.main import cli

    monkeypatch.delenv("ARTIFACTSTORE_UI_TOKEN", raising=False)
    for host in ("0.0.0.0", "192.168.1.5", "::", "example.com"):
        r = CliRunner().invoke(cli, ["--store", str(tmp_path / "s"), "ui", "--host", host])
        assert r.exit_code == 1 and "without --token" in r.output, host
    r = CliRunner().invoke(cli, ["--store", str(tmp_path / "s"), "ui", "--host", "0.0.0.0", "--token", "short"])
    assert r.exit_code == 1 and "at least 8" in r.output
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost") and is_loopback("127.1.2.3")
    assert not is_loopback("0.0.0.0") and not is_loopback("10.0.0.1")


def test_cli_serves_with_uvicorn(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    from artifactstore.cli.main import cli

    artifactstore.open(tmp_path / "s").close()
    seen: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: seen.update(app=app, **kw))
    monkeypatch.setenv("ARTIFACTSTORE_UI_TOKEN", TOKEN)
    r = CliRunner().invoke(cli, ["--store", str(tmp_path / "s"), "ui", "--host", "0.0.0.0", "--port", "9999"])
    assert r.exit_code == 0, r.output
    assert seen["host"] == "0.0.0.0" and seen["port"] == 9999 and seen["access_log"] is False
    with TestClient(seen["app"]) as c:
        assert c.get("/index.json").json()["stats"]["total_artifacts"] == 0


def test_importing_artifactstore_and_cli_does_not_import_starlette() -> None:
    import subprocess
    import sys

    code = ("import sys, artifactstore, artifactstore.cli.main, artifactstore.ui; "
            "assert 'starlette' not in sys.modules and 'jinja2' not in sys.modules, 'heavy import'")
    subprocess.run([sys.executable, "-c", code], check=True)
