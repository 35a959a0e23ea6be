"""The explanation page in a real headless Chromium (Debian's; Playwright drives it, no browser download)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from overlay import RuntimeConfig, TraceStore
from tests.live_server import KEY, serve_copy

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (make setup installs it)")


def test_clicking_a_word_shows_the_candidates_it_beat(backend, small_home: Path, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    with serve_copy(small_home, tmp_path / "ws", backend) as server:
        answer = server.service.runtime.answer("What is a volcano?", RuntimeConfig(max_words=16))
        server.service.traces.save(answer)
        step = answer.steps[2]
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            try:
                page = browser.new_page(viewport={"width": 1200, "height": 900})
                requests: list[str] = []
                page.on("request", lambda r: requests.append(r.url))
                page.goto(f"{server.url}/traces/{answer.id}?key={KEY}")
                page.click(f'.w[data-step="{step.index}"]')
                rows = page.locator("#candidates tbody tr.cand")
                shown = [rows.nth(i).get_attribute("data-text") for i in range(rows.count())]
                assert shown == [c.text for c in step.candidates]
                assert page.locator("#candidates tr.win").get_attribute("data-text") == step.winner.text
                assert page.locator("#hood text").count() > 0
                shot = tmp_path / "trace_page.png"  # bench/results/trace_page.png is a copy of one of these
                page.screenshot(path=str(shot), full_page=True)
                assert shot.stat().st_size > 10_000
                assert all(u.startswith(server.url) for u in requests)  # offline: nothing from a CDN
            finally:
                browser.close()


def test_explain_html_writes_the_same_page(cli, home: Path, small_home: Path, backend, tmp_path: Path) -> None:
    shutil.copytree(small_home, home, symlinks=True)
    from graph_store import Snapshot
    from overlay import Runtime

    runtime = Runtime(Snapshot.open(home / "snapshots"), backend)
    answer = runtime.answer("What is the sea?", RuntimeConfig(max_words=8))
    store = TraceStore(home / "traces.duckdb")
    store.save(answer)
    store.close()
    out = tmp_path / "page.html"
    cli("explain", answer.id, "--html", out)
    page = out.read_text(encoding="utf-8")
    assert answer.id in page and 'id="trace-data"' in page and "<script src" not in page
