"""The explanation page in a real headless Chromium (Debian's; Playwright drives it, no browser download)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import httpx
import pytest

from api import trace_link
from api.links import sign, signed
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

browser = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (make setup installs it)")


def test_a_signed_link_names_one_trace() -> None:
    sig = sign(KEY, "abc")
    assert trace_link(KEY, "abc") == f"/traces/abc?sig={sig}" and trace_link(None, "abc") == "/traces/abc"
    assert signed(KEY, "abc", sig)
    tampered = sig[:-1] + ("1" if sig[-1] == "0" else "0")
    for key, trace_id, given in ((KEY, "abd", sig), ("other", "abc", sig), (KEY, "abc", tampered), (KEY, "abc", None)):
        assert not signed(key, trace_id, given)
    assert not signed(KEY, "abc", "é" * len(sig))  # whatever a client sends is refused, never a 500


def _ask(h: httpx.Client, model: str, question: str, **extra) -> httpx.Response:
    body = {"model": model, "messages": [{"role": "user", "content": question}], "max_tokens": 16}
    r = h.post("/v1/chat/completions", json=body | extra)
    assert r.status_code == 200, r.text
    return r


@browser
def test_a_completions_link_opens_its_page_in_a_browser_without_the_key(
    backend, small_home: Path, tmp_path: Path
) -> None:
    """On a keyed server the browser sends no bearer header: the signed link the completion returned opens its
    page (a click shows the candidates the word beat), and that page only."""
    from playwright.sync_api import sync_playwright

    with (
        serve_copy(small_home, tmp_path / "ws", backend) as server,
        httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {KEY}"}, timeout=120) as h,
        httpx.Client(base_url=server.url, timeout=30) as anon,
    ):
        plain = _ask(h, backend.model_id, "What is a volcano?").json()
        link, answer = plain["overlay"]["trace_url"], plain["choices"][0]["message"]["content"]
        trace = h.get(f"/v1/traces/{plain['id']}").json()
        step = trace["steps"][2]
        events = _ask(h, backend.model_id, "What is the sea?", stream=True).text.splitlines()
        final = next(json.loads(e[6:]) for e in events if e.startswith("data: {") and '"overlay"' in e)
        other, other_link = final["id"], final["overlay"]["trace_url"]
        assert link == trace_link(KEY, plain["id"]) and other_link == trace_link(KEY, other)
        sig = link.split("?sig=")[1]
        with sync_playwright() as pw:
            chromium = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            try:
                page = chromium.new_page(viewport={"width": 1200, "height": 900})
                requests: list[str] = []
                page.on("request", lambda r: requests.append(r.url))
                assert page.goto(server.url + link).status == 200
                shown = " ".join(page.locator("#answer").inner_text().replace("∎", "").split())
                assert " ".join(answer.split()) in shown
                page.click(f'.w[data-step="{step["step"]}"]')
                rows = page.locator("#candidates tbody tr.cand")
                shown = [rows.nth(i).get_attribute("data-text") for i in range(rows.count())]
                assert shown == [c["text"] for c in step["candidates"]]
                win = step["candidates"][step["chosen"]]["text"]
                assert page.locator("#candidates tr.win").get_attribute("data-text") == win
                assert page.locator("#hood text").count() > 0
                shot = tmp_path / "trace_page.png"  # bench/results/trace_page.png is a copy of one of these
                page.screenshot(path=str(shot), full_page=True)
                assert shot.stat().st_size > 10_000
                assert all(u.startswith(server.url) for u in requests)  # offline: nothing from a CDN
                assert page.goto(server.url + other_link).status == 200  # a streamed answer's link too
                tampered = sig[:-1] + ("1" if sig[-1] == "0" else "0")
                for refused in (f"/traces/{plain['id']}", f"{link[:-1]}{tampered[-1]}", f"/traces/{other}?sig={sig}"):
                    response = page.goto(server.url + refused)
                    assert response.status == 401 and response.json()["error"]["code"] == "invalid_api_key"
            finally:
                chromium.close()
        # the signature opens that page only: no other read, no write, and the key never goes in a URL
        for method, path in (
            ("GET", f"/v1/traces/{plain['id']}?sig={sig}"),
            ("GET", f"/traces?sig={sig}"),
            ("GET", f"/v1/graph/stats?sig={sig}"),
            ("POST", f"/v1/traces/{plain['id']}/feedback?sig={sig}"),
            ("GET", f"/traces/{plain['id']}?key={KEY}"),
        ):
            r = anon.request(method, path, json={"rating": 1} if method == "POST" else None)
            assert r.status_code == 401 and r.json()["error"]["type"] == "authentication_error", (path, r.text)
        listed = h.get("/traces").text  # the list a keyed client fetches links each page signed
        assert f'href="{link}"' in listed and f'href="{other_link}"' in listed


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
