"""End-to-end tests of the web UI in a real browser: Playwright driving Debian's Chromium.

The server is uvicorn in a thread on a free port; one browser serves the whole module.
Screenshots of each page go to $ARTIFACTSTORE_UI_SCREENSHOTS when it is set.
"""

from __future__ import annotations

import math
import os
import random
import socket
import struct
import threading
import time
import warnings
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import artifactstore
from artifactstore import ArtifactStore

pytest.importorskip("starlette")
pytest.importorskip("playwright")

CHROMIUM = "/usr/bin/chromium"
TOKEN = "browser-test-token"
ROWS = 1_000_000

if not os.path.exists(CHROMIUM):
    if os.environ.get("CI"):
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (scripts/install-test-servers)",
                    pytrace=False)
    pytest.skip(f"{CHROMIUM} is missing: apt-get install chromium", allow_module_level=True)

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _write_csv(path: Path) -> None:
    rng = random.Random(7)
    with open(path, "w", buffering=1 << 20) as f:
        f.write("episode,map,reward,steps\n")
        for start in range(0, ROWS, 10000):
            f.write("".join(f"{i},map{i % 7},{rng.random():.5f},{rng.randint(10, 999)}\n"
                            for i in range(start, start + 10000)))


def _write_wav(path: Path, seconds: int = 60) -> None:
    # No video encoder on these machines: a PCM WAV exercises the same HTML5 media element,
    # byte-range seeking and /raw route a video does.
    rate = 22050
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        for s in range(seconds):
            w.writeframes(b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * (s * rate + i) / rate)))
                                   for i in range(rate)))


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    import uvicorn

    from artifactstore.ui.app import create_app

    root = tmp_path_factory.mktemp("ui-browser")
    csv_path = root / "episodes.csv"
    _write_csv(csv_path)
    wav = root / "clip.wav"
    _write_wav(wav)
    store: ArtifactStore = artifactstore.open(root / "store")
    store.put(csv_path, artifact_type="episode_data", name="eval/big/episodes.csv", model_id="resnet50",
              tags=["big"])
    rng = random.Random(1)
    for model, ev, skill in (("resnet50", "ev-base", 0.0), ("vit-b16", "ev-vit", 0.6)):
        rows = "map_name,seed,reward,success\n" + "".join(
            f"map{m},{e},{rng.gauss(skill + 0.2 * m, 1.0):.4f},{str(rng.random() < 0.5 + skill / 3).lower()}\n"
            for m in range(4) for e in range(25))
        store.put(rows.encode(), artifact_type="episode_data", name=f"eval/{ev}/episodes.csv", model_id=model,
                  evaluation_id=ev)
    store.put(wav, artifact_type="video", name="eval/big/clip.wav", model_id="resnet50")
    store.put(b"step 1 ok\nstep 2 ok\nstep 3 failed\n", artifact_type="log", name="runs/train.log",
              model_id="resnet50", tags=["nightly"], metadata={"note": "<script>alert(1)</script>"})
    store.put(b"step 1 ok\nstep 2 retried\nstep 3 ok\n", artifact_type="log", name="runs/train.log",
              model_id="resnet50", tags=["nightly"])
    for i in range(3):
        store.put(f"config {i}".encode(), artifact_type="configuration", name=f"configs/vit-{i}.yaml",
                  model_id="vit-b16")
    store.record_evaluation("ev-base", "resnet50", global_score=0.5, success_rate=0.5)
    store.promote_champion("resnet50", evaluation_id="ev-base", global_score=0.5, success_rate=0.5)
    store.record_evaluation("ev-vit", "vit-b16", global_score=0.7, success_rate=0.7)
    store.promote_champion("vit-b16", evaluation_id="ev-vit", global_score=0.7, success_rate=0.7)
    seen: list[tuple[str, str, dict[str, str]]] = []
    app = create_app(store, token=TOKEN, log_requests=lambda m, p, h: seen.append((m, p, h)))
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield {"url": f"http://127.0.0.1:{port}", "store": store, "seen": seen}
    finally:
        server.should_exit = True
        thread.join(10)
        store.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        with sync_playwright() as p:
            b = p.chromium.launch(executable_path=CHROMIUM, args=["--autoplay-policy=no-user-gesture-required"])
            yield b
            b.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    pg = ctx.new_page()
    pg.set_default_timeout(15000)
    yield pg
    ctx.close()


def shot(page: Any, name: str) -> None:
    out = os.environ.get("ARTIFACTSTORE_UI_SCREENSHOTS")
    if out:
        Path(out).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(out) / f"{name}.png"), full_page=True)


def test_overview_search_filter_and_open(served: dict[str, Any], page: Any) -> None:
    url = served["url"]
    page.goto(url + "/")
    assert page.locator(".card b").first.inner_text() == "9"
    assert page.locator("svg.chart circle").count() == 2
    shot(page, "overview")
    page.fill("nav input[name=q]", "vit* configuration")
    page.click("nav form.search button")
    page.wait_for_url("**/search?q=vit*")
    assert page.locator("table.list tbody tr").count() == 3
    shot(page, "search")
    page.fill("nav input[name=q]", "resnet50 nightly")
    page.click("nav form.search button")
    assert page.locator("table.list tbody tr").count() == 2
    page.goto(url + "/artifacts")
    page.select_option("select[name=type]", "log")
    page.click("form.filters button")
    page.wait_for_url("**type=log**")
    rows = page.locator("table.list tbody tr")
    assert rows.count() == 2 and "runs/train.log@v2" in rows.first.inner_text()  # every version, newest first
    shot(page, "artifacts")
    rows.first.locator("a").first.click()
    page.wait_for_selector("h1:has-text('runs/train.log')")
    assert "step 2 retried" in page.locator("pre.text").inner_text()
    assert page.locator("table.list tbody tr").count() == 2  # two versions
    shot(page, "artifact")
    page.goto(url + "/artifacts/runs/train.log@v1")
    assert page.locator("text=<script>alert(1)</script>").count() == 1  # shown as text, not run
    page.goto(url + "/champions")
    shot(page, "champions")
    page.goto(url + "/evaluations")
    page.click("text=ev-base")
    page.wait_for_selector("h1:has-text('ev-base')")
    board = page.locator("h3:has-text('Leaderboard') + table tbody tr")
    assert board.count() == 2 and "vit-b16" in board.first.inner_text()  # report vs the champion, with CIs
    assert page.locator(".figures svg").count() >= 1
    shot(page, "evaluation")


def test_page_a_million_row_csv(served: dict[str, Any], page: Any) -> None:
    page.goto(served["url"] + "/artifacts/eval/big/episodes.csv")
    first = page.locator("table.data tbody tr")
    assert first.count() == 50 and first.first.locator("td").nth(1).inner_text() == "0"
    shot(page, "csv-preview")
    page.click("a.next")
    page.wait_for_url("**offset=50**")
    assert page.locator("table.data tbody tr").first.locator("td").nth(1).inner_text() == "50"
    page.goto(served["url"] + "/artifacts/eval/big/episodes.csv/preview?offset=999950")
    rows = page.locator("table.data tbody tr")
    assert rows.count() == 50 and rows.last.locator("td").nth(1).inner_text() == str(ROWS - 1)
    assert page.locator("a.next").count() == 0
    page.goto(served["url"] + "/artifacts/eval/big/episodes.csv")
    page.click("th a:has-text('reward')")
    page.click("th a:has-text('reward')")  # second click: descending
    page.wait_for_url("**desc=1**")
    top = [float(x) for x in page.locator("table.data tbody tr td:nth-child(4)").all_inner_texts()]
    assert top == sorted(top, reverse=True) and top[0] > 0.999
    page.select_option("select[name=fcol]", "map")
    page.fill("input[name=fq]", "map3")
    page.click("form.tfilter button")
    page.wait_for_url("**fq=map3**")
    maps = page.locator("table.data tbody tr td:nth-child(3)").all_inner_texts()
    assert maps and set(maps) == {"map3"}
    shot(page, "csv-sorted-filtered")


def test_seek_media_through_range_requests(served: dict[str, Any], page: Any) -> None:
    served["seen"].clear()
    page.goto(served["url"] + "/artifacts/eval/big/clip.wav")
    media = page.locator("audio.preview, video.preview")
    page.wait_for_function("document.querySelector('.preview').readyState >= 1")
    duration = page.evaluate("document.querySelector('.preview').duration")
    assert 59 < duration < 61
    page.evaluate("""() => new Promise((resolve) => {
        const m = document.querySelector('.preview');
        m.addEventListener('seeked', () => resolve(m.currentTime), {once: true});
        m.currentTime = 50;
    })""")
    page.wait_for_function("document.querySelector('.preview').readyState >= 2")
    assert abs(page.evaluate("document.querySelector('.preview').currentTime") - 50) < 1
    ranges = [h.get("range") for m, p, h in served["seen"] if p.endswith("/raw") and h.get("range")]
    assert ranges, "the media element asked for byte ranges"
    assert media.count() == 1
    shot(page, "media")


def test_compare_two_versions(served: dict[str, Any], page: Any) -> None:
    page.goto(served["url"] + "/artifacts/runs/train.log")
    page.click("a.compare")
    page.wait_for_url("**/compare?**")
    assert page.locator("pre.diff .del").all_inner_texts() == ["-step 2 ok", "-step 3 failed"]
    assert page.locator("pre.diff .add").all_inner_texts() == ["+step 2 retried", "+step 3 ok"]
    shot(page, "compare")


def test_write_refused_without_token_and_accepted_with_it(served: dict[str, Any], page: Any) -> None:
    url = served["url"]
    page.goto(url + "/artifacts/runs/train.log")
    assert page.locator("form[action$='/alias']").count() == 0  # read-only view: no write forms
    status = page.evaluate("""async (u) => (await fetch(u, {method: 'POST',
        body: new URLSearchParams({alias: 'sneaky'})})).status""", url + "/artifacts/runs/train.log/alias")
    assert status == 403
    assert served["store"].aliases("runs/train.log") == []
    page.goto(url + "/login?token=wrong")
    assert "wrong token" in page.inner_text("main")
    page.goto(url + f"/login?token={TOKEN}")
    page.goto(url + "/artifacts/runs/train.log")
    page.fill("form[action$='/alias'] input[name=alias]", "reviewed")
    page.click("form[action$='/alias'] button")
    page.wait_for_selector("h1 .alias:has-text('reviewed')")
    assert served["store"].resolve("runs/train.log:reviewed").version == 2
    shot(page, "artifact-write")
    page.goto(url + "/upload")
    shot(page, "upload")
