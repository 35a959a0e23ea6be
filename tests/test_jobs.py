"""Jobs over HTTP: ingest an uploaded file, publish, and the new knowledge is served; restarts fail jobs."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import httpx
import pytest

from api.jobs import Job, Jobs
from tests.helpers import fingerprint
from tests.live_server import KEY, LiveServer, serve_copy


def wait(h: httpx.Client, job: dict, timeout: float = 300) -> dict:
    deadline = time.monotonic() + timeout
    while job["status"] in ("queued", "running"):
        assert time.monotonic() < deadline, job
        time.sleep(0.2)
        job = h.get(f"/v1/jobs/{job['id']}").json()
    return job


@pytest.fixture
def server(backend, small_home: Path, tmp_path: Path):
    with serve_copy(small_home, tmp_path / "ws", backend) as live:
        yield live


def test_upload_ingest_publish_then_answer(server: LiveServer) -> None:
    h = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {KEY}"}, timeout=120)
    fact = b"Zorblax is a red volcano on Mars. Zorblax erupted in the year of the comet.\n"
    r = h.post("/v1/jobs", data={"kind": "ingest"}, files={"file": ("zorblax.txt", fact, "text/plain")})
    assert r.status_code == 202, r.text
    job = wait(h, r.json())
    assert job["status"] == "done" and job["result"]["documents"] == 1, job
    assert h.get("/v1/graph/nodes/zorblax").status_code == 404  # not live before the publish
    job = wait(h, h.post("/v1/graph/publish").json())
    assert job["status"] == "done" and job["result"]["version"] == 2, job
    assert h.get("/v1/graph/stats").json()["snapshot_version"] == 2
    assert h.get("/v1/graph/nodes/zorblax").json()["key"] == "zorblax"
    model = server.service.model_id
    r = h.post(
        "/v1/chat/completions",
        json={"model": model, "messages": [{"role": "user", "content": "What is Zorblax?"}], "max_tokens": 30},
    )
    body = r.json()
    assert "Mars" in body["choices"][0]["message"]["content"] and body["overlay"]["snapshot_version"] == 2
    assert [j["kind"] for j in h.get("/v1/jobs").json()["data"]] == ["publish", "ingest"]


def test_bad_uploads_are_refused_or_fail_cleanly(server: LiveServer) -> None:
    h = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {KEY}"}, timeout=60)
    r = h.post("/v1/jobs", data={"kind": "ingest"}, files={"file": ("x.exe", b"MZ", "application/octet-stream")})
    assert r.status_code == 400 and r.json()["error"]["param"] == "file"
    assert h.post("/v1/jobs", json={"kind": "ingest"}).status_code == 400
    assert h.post("/v1/jobs", json={"kind": "explode"}).status_code == 400
    assert h.post("/v1/jobs", content=b"{", headers={"content-type": "application/json"}).status_code == 400
    before = fingerprint(server.service.workspace.graph_db)
    bad = b'{"text": "fine"}\n{"text": broken\n'
    job = wait(h, h.post("/v1/jobs", data={"kind": "ingest"}, files={"file": ("bad.jsonl", bad)}).json())
    assert job["status"] == "failed" and "bad.jsonl:2" in job["error"]
    assert fingerprint(server.service.workspace.graph_db) == before  # a failed ingest changes nothing
    assert h.get("/v1/jobs/" + "0" * 32).status_code == 404
    assert h.get("/v1/jobs/../../etc").status_code == 404


def test_jobs_running_at_a_restart_become_failed(tmp_path: Path) -> None:
    folder = tmp_path / "jobs"
    folder.mkdir()
    stuck = Job("a" * 32, "publish", status="running")
    (folder / f"{stuck.id}.json").write_text(json.dumps(stuck.to_dict()))
    jobs = Jobs(folder, {"publish": lambda job, progress: {"ok": True}})
    try:
        again = jobs.get(stuck.id)
        assert again.status == "failed" and "interrupted" in again.error
        fresh = jobs.submit("publish")
        deadline = time.monotonic() + 10
        while jobs.get(fresh.id).status != "done":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert jobs.get(fresh.id).result == {"ok": True}
    finally:
        jobs.close()


def test_cli_writes_stop_while_a_server_owns_the_workspace(cli, home: Path, small_home: Path) -> None:
    from overlay.workspace import Workspace, serving

    shutil.copytree(small_home, home, symlinks=True)
    doc = home / "fact.txt"
    doc.write_text("Quux is a moon.\n")
    with serving(Workspace(home=home), "http://127.0.0.1:9"):
        r = cli("graph", "ingest", doc, expect=2)
        assert "busy" in r.output and "http://127.0.0.1:9" in r.output
        cli("graph", "publish", expect=2)
        cli("graph", "edge", "add", "moon", "Quux", expect=2)
        cli("graph", "stats")  # reads still work
    cli("graph", "ingest", doc)  # the server is gone: writes work again


def test_a_fact_is_live_in_seconds(server: LiveServer) -> None:
    h = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {KEY}"}, timeout=120)
    r = h.post("/v1/graph/facts", json={"text": "Plimbo is a blue moon of Saturn. Plimbo has icy geysers."})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["delta"]["passages"] == 1 and body["snapshot_version"] == 1
    ask = {"model": server.service.model_id, "messages": [{"role": "user", "content": "What is Plimbo?"}]}
    answer = h.post("/v1/chat/completions", json=ask | {"max_tokens": 20}).json()
    assert "Saturn" in answer["choices"][0]["message"]["content"]
    assert h.get("/v1/graph/nodes/plimbo").json()["key"] == "plimbo"
    assert h.post("/v1/graph/facts", json={"text": ""}).status_code == 400
