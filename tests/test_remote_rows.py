"""The remote backend's rows, checked against a fake server over the toy model (an httpx transport, no network;
the real-server tests are in test_remote.py): from a server that takes token ids (llama-server's format, or the
OpenAI one as vLLM writes it), a copied draft that the server's greedy words follow comes back in one request,
and every row equals the row asked alone; what the server cannot answer is a clear `SelectorUnavailable`."""

from __future__ import annotations

import json

import httpx
import numpy as np
import pytest

from selector import SelectorConfig, SelectorError, SelectorUnavailable
from selector.interface import Session
from selector.remote import RemoteBackend
from selector.toy import ToyBackend

TOP = 5


class FakeServer:
    """`/models` and greedy `/completions` over the toy model, in one of three forms: `llama` (llama-server:
    id prompts, ids in its log-probs), `openai` (id prompts, the OpenAI format: written tokens and top
    log-probs as text, as vLLM answers), `text` (llama-cpp-python's server: text prompts only). Its greedy
    words obey `logit_bias`, its reported log-probs are the model's own, as llama-server's are."""

    def __init__(self, toy: ToyBackend, form: str = "llama") -> None:
        self.toy, self.form, self.requests, self.bodies = toy, form, 0, []
        self.status = 200  # what /completions answers with, where a test sets an error

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/models"):
            return httpx.Response(200, json={"data": [{"id": "toy.gguf"}]})
        body = json.loads(request.content)
        if self.status != 200:
            return httpx.Response(self.status, json={"error": {"message": "busy"}})
        if isinstance(body["prompt"], list) != (self.form != "text"):
            return httpx.Response(422, json={"error": {"message": "not this kind of prompt"}})
        self.requests += 1
        self.bodies.append(body)
        tok = self.toy.tokenizer
        ids = list(body["prompt"]) if self.form != "text" else tok.encode(body["prompt"])
        session, bias = self.toy.start(ids), np.zeros(len(tok), np.float32)
        for t, b in (body.get("logit_bias") or {}).items():
            bias[int(t)] = b
        positions = []
        for _ in range(body["max_tokens"]):
            row = session.logprobs
            top = [int(t) for t in np.argsort(-row)[: body.get("logprobs") or 1]]
            positions.append((int(np.argmax(row + bias)), {t: float(row[t]) for t in top}))
            if positions[-1][0] in self.toy.eos_ids:
                break
            self.toy.feed(session, [positions[-1][0]])
        if self.form == "llama":
            chunks = [
                {
                    "id": w,
                    "token": "?",
                    "top_logprobs": [{"id": t, "token": "?", "logprob": lp} for t, lp in top.items()],
                }
                for w, top in positions
            ]
            events = [{"choices": [{"text": "", "logprobs": {"content": [c]}}]} for c in chunks]
            whole = {"choices": [{"text": "", "logprobs": {"content": chunks}}]}
        else:
            parts = [([tok.decode([w])], [{tok.decode([t]): lp for t, lp in top.items()}]) for w, top in positions]
            events = [{"choices": [{"text": "", "logprobs": {"tokens": w, "top_logprobs": t}}]} for w, t in parts]
            whole = {
                "choices": [
                    {
                        "text": "",
                        "logprobs": {
                            "tokens": [w for w, _ in parts for w in w],
                            "top_logprobs": [t for _, t in parts for t in t],
                        },
                    }
                ]
            }
        if body.get("stream"):  # one event per written token
            text = "".join(f"data: {json.dumps(e)}\n\n" for e in events) + "data: [DONE]\n\n"
            return httpx.Response(200, text=text, headers={"content-type": "text/event-stream"})
        return httpx.Response(200, json=whole)


@pytest.fixture
def toy() -> ToyBackend:
    return ToyBackend(strict=False)


def _remote(toy: ToyBackend, server: FakeServer) -> RemoteBackend:
    cfg = SelectorConfig(backend="remote", selector_url="http://fake/v1", top_logprobs=TOP)
    return RemoteBackend("http://fake/v1", toy.tokenizer, cfg, transport=httpx.MockTransport(server))


def _alone(toy: ToyBackend, remote: RemoteBackend, ids: list[int], form: str = "llama") -> np.ndarray:
    """The row the server gives for `ids` asked on their own: its top N (as text, where the server names
    tokens by their text), floored."""
    row = toy.start(ids).logprobs
    top = [int(t) for t in np.argsort(-row)[:TOP]]
    if form != "llama":
        texts = {toy.tokenizer.decode([t]): t for t in top}
        return remote._floored({remote._piece_id[x]: float(row[t]) for x, t in texts.items() if x in remote._piece_id})
    return remote._floored({t: float(row[t]) for t in top})


def _greedy(toy: ToyBackend, ids: list[int], n: int) -> list[int]:
    """The server's greedy words: never a token that is part of a character."""
    session, out = toy.start(ids), []
    whole = np.array(["\ufffd" not in toy.tokenizer.decode([t]) for t in range(len(toy.tokenizer))])
    for _ in range(n):
        out.append(int(np.argmax(np.where(whole, session.logprobs, -np.inf))))
        toy.feed(session, [out[-1]])
    return out


@pytest.mark.parametrize("form", ["llama", "openai"])
def test_a_draft_the_server_would_write_costs_one_request(toy: ToyBackend, form: str) -> None:
    server = FakeServer(toy, form)
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
        np.testing.assert_allclose(row, _alone(toy, remote, base + draft[: j + 1], form), atol=1e-5)


@pytest.mark.parametrize("form", ["llama", "openai"])
def test_rows_past_a_difference_are_asked_again(toy: ToyBackend, form: str) -> None:
    server = FakeServer(toy, form)
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
        np.testing.assert_allclose(row, _alone(toy, remote, base + draft[: j + 1], form), atol=1e-5)
    assert session.ids == base + draft


def test_a_server_that_takes_only_text_is_asked_in_text(toy: ToyBackend) -> None:
    server = FakeServer(toy, "text")
    remote = _remote(toy, server)
    assert not remote.token_prompts
    base = toy.prompt_ids("the river flows to the sea", chat=True)
    draft = _greedy(toy, base, 3)
    rows = remote.feed(remote.start(base), draft, keep=[0, 2])
    assert server.requests == 3  # the start, then one per row
    np.testing.assert_allclose(rows[1], _alone(toy, remote, base + draft, "text"), atol=1e-5)


def test_the_server_is_kept_from_writing_part_of_a_character(toy: ToyBackend) -> None:
    """llama-server leaves out a token that is not whole UTF-8 (no event, no position): were it written,
    the next position would be taken for its row. Every such token is biased away; rows keep the model's."""
    server = FakeServer(toy)
    remote = _remote(toy, server)
    partial = {t for t in range(len(toy.tokenizer)) if "\ufffd" in toy.tokenizer.decode([t])}
    assert partial and {int(t) for t in remote._partial} == partial
    remote.start(toy.prompt_ids("the sea", chat=True))
    assert all(int(t) in partial and b <= -100 for t, b in server.bodies[-1]["logit_bias"].items())


def test_what_the_server_cannot_answer_is_unavailable_not_a_crash(toy: ToyBackend) -> None:
    server = FakeServer(toy)
    server.status = 503  # busy at connect: an error, not a silent fall back to text prompts
    with pytest.raises(SelectorUnavailable, match="HTTP 503"):
        _remote(toy, server)
    server.status = 200
    remote = _remote(toy, server)
    base = toy.prompt_ids("the sea", chat=True)
    remote.vocab = 10  # a server whose ids the local tokenizer does not know (another model)
    with pytest.raises(SelectorUnavailable, match="tokenizer"):
        remote.start(base)
    with pytest.raises(SelectorError, match="ascend"):
        _remote(toy, server).feed(Session(list(base), np.zeros(len(toy.tokenizer))), [5, 6, 7], keep=[2, 0])
