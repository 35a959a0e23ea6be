"""The remote backend's rows from a server that takes token ids and names them in its log-probs (llama-server's
format), checked against a fake server over the toy model (an httpx transport, no network): a copied draft that
the server's greedy words follow comes back in one request, and every row equals the row asked alone."""

from __future__ import annotations

import json

import httpx
import numpy as np
import pytest

from selector import SelectorConfig
from selector.remote import RemoteBackend
from selector.toy import ToyBackend

TOP = 5


class FakeLlamaServer:
    """`/models` and greedy `/completions` in llama-server's OpenAI format, over the toy model."""

    def __init__(self, toy: ToyBackend, takes_ids: bool = True) -> None:
        self.toy, self.takes_ids, self.requests = toy, takes_ids, 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/models"):
            return httpx.Response(200, json={"data": [{"id": "toy.gguf"}]})
        body = json.loads(request.content)
        if isinstance(body["prompt"], list) != self.takes_ids:
            return httpx.Response(422, json={"error": {"message": "not this kind of prompt"}})
        self.requests += 1
        if not self.takes_ids:  # llama-cpp-python's server: text in, top log-probs keyed by token text
            row = self.toy.start(self.toy.tokenizer.encode(body["prompt"])).logprobs
            top = {self.toy.tokenizer.decode([int(t)]): float(row[t]) for t in np.argsort(-row)[: body["logprobs"]]}
            return httpx.Response(200, json={"choices": [{"text": "", "logprobs": {"top_logprobs": [top]}}]})
        session = self.toy.start(list(body["prompt"]))
        content = []
        for _ in range(body["max_tokens"]):
            row = session.logprobs
            top = np.argsort(-row)[: body.get("logprobs") or 1]
            tops = [{"id": int(t), "token": "?", "logprob": float(row[t])} for t in top]
            content.append({"id": int(top[0]), "token": "?", "logprob": float(row[top[0]]), "top_logprobs": tops})
            if int(top[0]) in self.toy.eos_ids:
                break
            self.toy.feed(session, [int(top[0])])
        if body.get("stream"):  # one event per written token, as llama-server streams them
            events = [{"choices": [{"text": "", "logprobs": {"content": [c]}}]} for c in content]
            text = "".join(f"data: {json.dumps(e)}\n\n" for e in events) + "data: [DONE]\n\n"
            return httpx.Response(200, text=text, headers={"content-type": "text/event-stream"})
        return httpx.Response(200, json={"choices": [{"text": "", "logprobs": {"content": content}}]})


@pytest.fixture
def toy() -> ToyBackend:
    return ToyBackend(strict=False)


def _remote(toy: ToyBackend, server: FakeLlamaServer) -> RemoteBackend:
    cfg = SelectorConfig(backend="remote", selector_url="http://fake/v1", top_logprobs=TOP)
    return RemoteBackend("http://fake/v1", toy.tokenizer, cfg, transport=httpx.MockTransport(server))


def _alone(toy: ToyBackend, remote: RemoteBackend, ids: list[int]) -> np.ndarray:
    """The row the server gives for `ids` asked on their own: its top N, floored."""
    row = toy.start(ids).logprobs
    top = np.argsort(-row)[:TOP]
    return remote._floored({int(t): float(row[t]) for t in top})


def _greedy(toy: ToyBackend, ids: list[int], n: int) -> list[int]:
    session, out = toy.start(ids), []
    for _ in range(n):
        out.append(int(np.argmax(session.logprobs)))
        toy.feed(session, [out[-1]])
    return out


def test_a_draft_the_server_would_write_costs_one_request(toy: ToyBackend) -> None:
    server = FakeLlamaServer(toy)
    remote = _remote(toy, server)
    assert remote.token_prompts
    base = toy.prompt_ids("the river flows to the sea", chat=True)
    first = _greedy(toy, base, 1)
    draft = first + _greedy(toy, base + first, 5)
    session = remote.start(base)
    before = server.requests
    rows = remote.feed(session, draft, keep=[0, 2, 5])
    assert server.requests - before == 1
    for row, j in zip(rows, [0, 2, 5], strict=True):
        np.testing.assert_allclose(row, _alone(toy, remote, base + draft[: j + 1]), atol=1e-5)


def test_rows_past_a_difference_are_asked_again(toy: ToyBackend) -> None:
    server = FakeLlamaServer(toy)
    remote = _remote(toy, server)
    base = toy.prompt_ids("a king of the north", chat=True)
    greedy = _greedy(toy, base, 4)
    draft = greedy[:3] + [t for t in range(10, 40) if t != greedy[3]][:1]  # not the server's word at 3
    draft += _greedy(toy, base + draft, 2)  # and its words again after that
    session = remote.start(base)
    before = server.requests
    rows = remote.feed(session, draft, keep=list(range(len(draft))))
    assert server.requests - before == 2  # rows 0..2, then 3..5 from the draft's own word at 3
    for j, row in enumerate(rows):
        np.testing.assert_allclose(row, _alone(toy, remote, base + draft[: j + 1]), atol=1e-5)
    assert session.ids == base + draft


def test_a_server_that_takes_only_text_is_asked_in_text(toy: ToyBackend) -> None:
    server = FakeLlamaServer(toy, takes_ids=False)
    remote = _remote(toy, server)
    assert not remote.token_prompts
    base = toy.prompt_ids("the river flows to the sea", chat=True)
    draft = _greedy(toy, base, 3)
    rows = remote.feed(remote.start(base), draft, keep=[0, 2])
    assert server.requests == 3  # the start, then one per row
    np.testing.assert_allclose(rows[1], _alone(toy, remote, base + draft), atol=1e-5)
