"""The HTTP API against a live server on 127.0.0.1, driven by the real `openai` client and raw httpx."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import openai
import pytest

from api import ServerConfig
from tests.live_server import KEY, LiveServer, serve_copy


@pytest.fixture(scope="module")
def served(backend, small_home: Path, tmp_path_factory: pytest.TempPathFactory):
    with serve_copy(small_home, tmp_path_factory.mktemp("api") / "ws", backend) as server:
        yield server


@pytest.fixture(scope="module")
def client(served: LiveServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=served.url + "/v1", api_key=KEY, max_retries=0, timeout=120)


@pytest.fixture(scope="module")
def model_id(served: LiveServer) -> str:
    return served.service.model_id


def http(served: LiveServer) -> httpx.Client:
    return httpx.Client(base_url=served.url, headers={"Authorization": f"Bearer {KEY}"}, timeout=120)


def ask(client, model_id, **kw):
    return client.chat.completions.create(
        model=model_id, messages=[{"role": "user", "content": "What is a volcano?"}], **kw
    )


def test_models_and_plain_completion(served, client, model_id) -> None:
    assert [m.id for m in client.models.list().data] == [model_id]
    resp = ask(client, model_id, max_tokens=40)
    text = resp.choices[0].message.content
    assert text and resp.choices[0].finish_reason in ("stop", "length")
    assert 0 < resp.usage.completion_tokens <= 40 and resp.usage.prompt_tokens > 10
    trace = http(served).get(f"/v1/traces/{resp.id}").json()  # the completion id is the trace id
    assert trace["text"] == text and trace["id"] == resp.id
    assert resp.model_extra["overlay"]["trace_id"] == resp.id
    raw = http(served).post(
        "/v1/chat/completions",
        json={"model": model_id, "messages": [{"role": "user", "content": "What is a volcano?"}], "max_tokens": 40},
    )
    assert raw.status_code == 200 and raw.headers["x-request-id"] == raw.json()["id"]
    assert raw.json()["choices"][0]["message"]["content"] == text  # greedy: the same answer again


def test_streaming_matches_plain_and_carries_usage(served, client, model_id) -> None:
    plain = ask(client, model_id, max_tokens=40)
    chunks = list(ask(client, model_id, max_tokens=40, stream=True, stream_options={"include_usage": True}))
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == plain.choices[0].message.content
    finals = [c for c in chunks if c.choices and c.choices[0].finish_reason]
    assert len(finals) == 1 and finals[0].choices[0].finish_reason == plain.choices[0].finish_reason
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == plain.usage.completion_tokens
    assert len({c.id for c in chunks}) == 1
    trace = http(served).get(f"/v1/traces/{chunks[0].id}").json()  # committed before the stream ended
    assert trace["text"] == text


def test_stop_strings_plain_and_streamed(client, model_id) -> None:
    full = ask(client, model_id, max_tokens=40).choices[0].message.content
    word = full.split()[3]
    for stream in (False, True):
        if stream:
            chunks = list(ask(client, model_id, max_tokens=40, stop=[word, "zzz"], stream=True))
            text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
            finish = next(c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason)
        else:
            resp = ask(client, model_id, max_tokens=40, stop=word)
            text, finish = resp.choices[0].message.content, resp.choices[0].finish_reason
        assert text == full[: full.index(word)] and finish == "stop"


def test_length_is_truthful(client, model_id) -> None:
    resp = ask(client, model_id, max_completion_tokens=5)
    assert resp.choices[0].finish_reason == "length" and resp.usage.completion_tokens <= 5


def test_errors_use_the_openai_envelope(served, client, model_id) -> None:
    with pytest.raises(openai.BadRequestError, match="n > 1"):
        ask(client, model_id, n=2)
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="gpt-9", messages=[{"role": "user", "content": "hi"}])
    with pytest.raises(openai.AuthenticationError):
        bad = openai.OpenAI(base_url=served.url + "/v1", api_key="wrong", max_retries=0)
        ask(bad, model_id)
    with pytest.raises(openai.BadRequestError, match="context"):
        client.chat.completions.create(model=model_id, messages=[{"role": "user", "content": "volcano " * 9000}])
    with pytest.raises(openai.BadRequestError, match="empty prompt|no user message"):
        client.chat.completions.create(model=model_id, messages=[{"role": "user", "content": "  "}])
    h = http(served)
    for body, param in (
        ({"model": model_id}, "messages"),
        ({"model": model_id, "messages": [{"role": "wizard", "content": "x"}]}, "messages.0.role"),
        ({"model": model_id, "messages": [{"role": "user", "content": "x"}], "temperature": 9}, "temperature"),
    ):
        r = h.post("/v1/chat/completions", json=body)
        assert r.status_code == 400, r.text
        err = r.json()["error"]
        assert err["param"] == param and err["type"] == "invalid_request_error" and err["message"]
    r = h.post("/v1/chat/completions", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 400 and "JSON" in r.json()["error"]["message"]
    assert h.get("/v1/nowhere").json()["error"]["type"] == "not_found_error"
    assert h.get("/v1/traces/nope").status_code == 404


def test_concurrent_clients_get_their_own_traces(served, model_id) -> None:
    questions = ["What is a volcano?", "What is the sea?", "Where do ships sail?", "What is a glacier?"]

    def one(i: int) -> tuple[str, dict]:
        with http(served) as h:
            q = questions[i % len(questions)]
            r = h.post(
                "/v1/chat/completions",
                json={"model": model_id, "messages": [{"role": "user", "content": q}], "max_tokens": 12},
            )
            assert r.status_code == 200, r.text
            return q, r.json()

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(one, range(32)))
    ids = {body["id"] for _, body in results}
    assert len(ids) == 32
    with http(served) as h:
        for q, body in results:
            trace = h.get(f"/v1/traces/{body['id']}").json()
            assert trace["text"] == body["choices"][0]["message"]["content"]
            assert trace["prompt"][-1]["content"] == q


def test_a_full_queue_answers_503_with_retry_after(backend, small_home: Path, tmp_path: Path) -> None:
    """One completion held (a stream being read), a queue of one: the next request, plain or streamed, is
    refused at once with 503 + Retry-After in the envelope; once the stream ends it is answered."""
    body = {"model": backend.model_id, "messages": [{"role": "user", "content": "What is a volcano?"}]}
    with (
        serve_copy(small_home, tmp_path / "ws", backend, server=ServerConfig(queue=1)) as server,
        httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {KEY}"}, timeout=120) as h,
    ):
        with h.stream("POST", "/v1/chat/completions", json=body | {"stream": True, "max_tokens": 40}) as held:
            lines = held.iter_lines()
            assert next(lines).startswith("data: ")  # answering: the one place is taken
            for extra in ({}, {"stream": True}):
                r = h.post("/v1/chat/completions", json=body | extra | {"max_tokens": 5})
                assert r.status_code == 503, r.text
                assert r.json()["error"]["code"] == "overloaded" and int(r.headers["retry-after"]) >= 1
            assert h.get("/v1/graph/stats").status_code == 200  # other routes are not queued behind it
            assert h.get("/health").json()["queue"] == {"held": 1, "limit": 1}
            assert [line for line in lines if line][-1] == "data: [DONE]"
        r = h.post("/v1/chat/completions", json=body | {"max_tokens": 5})
        assert r.status_code == 200 and h.get(f"/v1/traces/{r.json()['id']}").status_code == 200
        assert server.service.admission.held == 0


def test_a_stream_the_client_leaves_is_cancelled_and_its_trace_kept(backend, small_home: Path, tmp_path: Path) -> None:
    """A client that goes away mid-stream frees the model at the next word: the answer is committed with
    finish_reason "cancelled" (its trace is kept) instead of being written on for nobody."""
    body = {"model": backend.model_id, "messages": [{"role": "user", "content": "What is a volcano?"}]}
    with (
        serve_copy(small_home, tmp_path / "ws", backend, server=ServerConfig(queue=1)) as server,
        httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {KEY}"}, timeout=120) as h,
    ):
        with h.stream("POST", "/v1/chat/completions", json=body | {"stream": True, "max_tokens": 200}) as r:
            trace_id = r.headers["x-request-id"]
            assert next(r.iter_lines()).startswith("data: ")
        deadline = time.monotonic() + 60
        while server.service.admission.held and time.monotonic() < deadline:
            time.sleep(0.1)
        trace = h.get(f"/v1/traces/{trace_id}").json()
        assert trace["finish_reason"] == "cancelled" and len(trace["steps"]) < 200, trace["text"]
        assert h.post("/v1/chat/completions", json=body | {"max_tokens": 5}).status_code == 200  # the place is free


def test_graph_reads(served) -> None:
    h = http(served)
    stats = h.get("/v1/graph/stats").json()
    assert stats["counts"]["edges"]["next"] > 0 and stats["snapshot_version"] >= 1
    node = h.get("/v1/graph/nodes/volcano").json()
    assert node["key"] == "volcano" and node["degree"]["next"] > 0
    nb = h.get("/v1/graph/nodes/volcanic/neighbors", params={"rel": "next", "top": 3}).json()
    assert nb["neighbors"][0]["word"] == "ash" and nb["neighbors"][0]["passages"]
    assert h.get("/v1/graph/nodes/qwzx").status_code == 404
    assert h.get("/v1/graph/nodes/volcano/neighbors", params={"rel": "bogus"}).status_code == 400


def test_trace_pages(served, client, model_id) -> None:
    resp = ask(client, model_id, max_tokens=20)
    h = http(served)
    page = h.get(f"/traces/{resp.id}")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert 'id="trace-data"' in page.text and "http" not in page.text.split("<script")[0].lower().replace(
        "http-equiv", ""
    )
    assert resp.id[:12] in h.get("/traces").text


def test_without_key_reads_are_open_and_writes_refused(backend, small_home: Path, tmp_path: Path) -> None:
    with serve_copy(small_home, tmp_path / "ws", backend, None) as server, httpx.Client(base_url=server.url) as h:
        assert h.get("/v1/models").status_code == 200
        r = h.post("/v1/graph/edges", json={"rel": "link", "src": "volcano", "dst": "sea"})
        assert r.status_code == 403 and "OVERLAY_API_KEY" in r.json()["error"]["message"]


def test_edge_writes_need_the_key_and_land_in_the_edit_log(served) -> None:
    edge = {"rel": "link", "src": "volcano", "dst": "glacier", "weight": 2.0}
    with httpx.Client(base_url=served.url) as anon:
        assert anon.post("/v1/graph/edges", json=edge).status_code == 401
    h = http(served)
    r = h.post("/v1/graph/edges", json=edge)
    assert r.status_code == 200, r.text
    assert h.patch("/v1/graph/edges", json=edge | {"weight": 3.0}).status_code == 200
    assert h.post("/v1/graph/edges/remove", json=edge).status_code == 200
    bad = h.post("/v1/graph/edges/remove", json=edge)  # already gone: a clear 4xx, not a 500
    assert bad.status_code in (400, 404) and bad.json()["error"]["message"]
    from graph_store import connect, edit_log

    con = connect(served.service.workspace.graph_db)
    try:
        assert [e.op for e in edit_log(con)][:3] == ["edge_remove", "edge_reweight", "edge_add"]
    finally:
        con.close()


def test_feedback_over_http_lands_in_the_edit_log(served, client, model_id) -> None:
    resp = ask(client, model_id, max_tokens=10)
    h = http(served)
    r = h.post(f"/v1/traces/{resp.id}/feedback", json={"rating": 1, "note": "right", "steps": [0, 1]})
    assert r.status_code == 200 and r.json()["paths"] == 2, r.text
    assert h.post(f"/v1/traces/{resp.id}/feedback", json={"rating": 5}).status_code == 400
    assert h.post(f"/v1/traces/{resp.id}/feedback", json={"rating": -1, "steps": [999]}).status_code == 400
    assert h.post("/v1/traces/nope/feedback", json={"rating": 1}).status_code == 404
