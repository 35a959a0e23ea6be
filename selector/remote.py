"""The selector on a serving engine: an OpenAI-compatible completions server that returns top log-probs
(llama.cpp's `llama-server`, `python -m llama_cpp.server`, vLLM on GPUs), shared by many runtimes.

A server answers "the top N next tokens and their log-probs", not the whole distribution. The rest of the
vocabulary is scored by a floor: the probability mass the top N leave over, spread evenly over the other
tokens, so a graph candidate outside the top N is still ranked below every candidate inside it and the
graph's evidence decides among those. The trace names this in the model id (`…@http://host:port/v1:top20`:
the server's top 20, the rest floored).

Requests are greedy completions (`temperature` 0, `logprobs` N) on the context so far. Where the server takes
token ids as the prompt (llama-server, vLLM; found by one request at connect), the context goes as the
runtime's own ids, and the rows of a speculative copy come back from one request: the server streams its
greedy continuation with each position's top N, and every row is kept while the server's own tokens are
the copied ones. A row past the first difference conditions on other words, so the runtime closes the stream
there (the server stops writing) and asks the rest again from that point. The server is kept from writing a
token that is only part of a character (a bias on those tokens; the reported log-probs are the model's own),
since llama-server reports no position for one. A server that takes only text (llama-cpp-python's) gets the
context decoded and one request per row.

Top log-probs come back with token ids (llama-server) or keyed by token text (the OpenAI format, with the
written tokens as text too); text maps back to ids through the local tokenizer (of the same model: `--model`
names its GGUF or HF folder, default the bundled SmolLM2), the lowest id winning where two tokens decode alike.
Nothing here is exact: the server may batch requests together or reuse cached prompts, so replay on this
backend is checked like any other but is not promised bit-exact.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .config import SelectorConfig
from .errors import ModelLoadError, SelectorError, SelectorUnavailable
from .interface import Session, chat_prompt_ids, check_prompt, end_ids
from .llamacpp import GGUFTokenizer, gguf_path, open_llama

if TYPE_CHECKING:
    import httpx


def local_tokenizer(model: str | Path | None) -> Any:
    """The tokenizer of the served model, held locally: a GGUF's own vocabulary, or an HF folder's."""
    if model is not None and Path(model).expanduser().is_dir():
        from transformers import AutoTokenizer

        try:
            return AutoTokenizer.from_pretrained(str(Path(model).expanduser()))
        except (OSError, ValueError) as exc:
            raise ModelLoadError(f"{model}: no tokenizer there ({exc})") from None
    return GGUFTokenizer(open_llama(gguf_path(model), 1, 256, vocab_only=True))


class RemoteBackend:
    """A `Backend` whose forward passes are requests to a completions server."""

    adapter = None
    adapter_label: str | None = None
    path: Path | None = None

    def __init__(
        self,
        url: str,
        tokenizer: Any,
        config: SelectorConfig | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        """`transport` (an httpx transport) stands in for the network in unit tests of this class alone."""
        import httpx

        cfg = config or SelectorConfig()
        self.url = url.rstrip("/")
        self.top_n = cfg.top_logprobs
        self.tokenizer = tokenizer
        self.eos_ids = end_ids(tokenizer)
        self.vocab = len(tokenizer)
        self._http = httpx.Client(base_url=self.url, timeout=cfg.remote_timeout, transport=transport)
        self.served = self._served_model()
        self.max_context = cfg.context_length
        self.model_id = f"{Path(self.served).name}@{self.url}:top{self.top_n}"  # top N, the rest floored
        self.checksum = hashlib.sha256(f"remote\n{self.url}\n{self.served}\n{self.top_n}".encode()).hexdigest()
        self._piece_id, self._partial = self._pieces()
        self.token_prompts = self._takes_ids()
        self.requests = 0  # completions requested (the bench divides its time by them)

    @classmethod
    def load(
        cls, model: str | Path | None = None, adapter: Any = None, config: SelectorConfig | None = None
    ) -> RemoteBackend:
        cfg = config or SelectorConfig()
        if adapter is not None:
            raise SelectorError("adapters need the hf backend; answer without the adapter (adapter `none`)")
        if not cfg.selector_url:
            raise SelectorError("the remote backend needs selector_url (the server's base URL, e.g. …/v1)")
        return cls(cfg.selector_url, local_tokenizer(model), cfg)

    def _unavailable(self, exc: Exception, path: str = "") -> SelectorUnavailable:
        return SelectorUnavailable(f"remote selector {self.url}{path}: {type(exc).__name__}: {exc}")

    def _post(self, path: str, body: dict | None = None, refusable: bool = False) -> dict | None:
        """One request; `refusable`: a reply saying the request's form was refused (400, 422, or the 500 that
        llama-cpp-python's server gives for a failed validation) returns None."""
        import httpx

        try:
            reply = self._http.post(path, json=body) if body is not None else self._http.get(path)
            if refusable and reply.status_code in (400, 422, 500):
                return None
            if reply.status_code >= 400:
                raise SelectorUnavailable(
                    f"remote selector {self.url}{path}: HTTP {reply.status_code}: {reply.text[:300]}"
                )
            return reply.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise self._unavailable(exc, path) from None

    def _served_model(self) -> str:
        data = self._post("/models").get("data") or []
        if not data:
            raise SelectorUnavailable(f"remote selector {self.url} serves no model")
        return str(data[0]["id"])

    def _pieces(self) -> tuple[dict[str, int], dict[str, float]]:
        """Token text → id, as the server spells tokens in its top log-probs (lowest id on a tie); and the
        bias that keeps the server from writing a token that is not whole UTF-8 on its own (a piece of a
        character): llama-server neither streams such a token nor reports its position, so the next
        position would be taken for it. Top log-probs are the model's, before any bias, so rows keep them."""
        out: dict[str, int] = {}
        partial: dict[str, float] = {}
        for tid in range(self.vocab):
            text = self.tokenizer.decode([tid])
            if "\ufffd" in text:
                partial[str(tid)] = -100.0
            elif text:
                out.setdefault(text, tid)
        return out, partial

    def _takes_ids(self) -> bool:
        """Whether the server reads a prompt of token ids (llama-server and vLLM do; llama-cpp-python's refuses
        it). A busy, missing or guarded server (429, 503, 404, 401) is an error, not taken for a text-only one."""
        body = {"model": self.served, "prompt": sorted(self.eos_ids)[:1] or [0], "max_tokens": 1}
        return self._post("/completions", body, refusable=True) is not None

    def _prompt(self, ids: list[int]) -> list[int] | str:
        return ids if self.token_prompts else self.tokenizer.decode(ids)

    def _complete(self, ids: list[int], max_tokens: int) -> Iterator[tuple[int | None, np.ndarray]]:
        """One greedy completion: per written position, the token the server wrote (its id, where it says) and
        log P(next | context so far): the server's top N, the rest at the floor of the mass they leave. More
        than one position streams, so a caller that stops reading (the server left the copy) ends the request
        and the server stops writing."""
        body = {
            "model": self.served,
            "prompt": self._prompt(ids),
            "max_tokens": max_tokens,
            "temperature": 0.0,
            "logprobs": self.top_n,
        }
        if self.token_prompts:
            body["logit_bias"] = self._partial
        self.requests += 1
        written = 0
        if max_tokens == 1:
            for position in self._positions(self._post("/completions", body)):
                written += 1
                yield position
        else:
            with contextlib.closing(self._events("/completions", body)) as chunks:
                for chunk in chunks:
                    for position in self._positions(chunk):
                        written += 1
                        yield position
        if not written:
            raise SelectorUnavailable(f"remote selector {self.url} returned no log-probs (does it serve them?)")

    def _events(self, path: str, body: dict) -> Iterator[dict]:
        """The chunks of a streamed completion (server-sent events), until `[DONE]` or the caller stops."""
        import httpx

        try:
            with self._http.stream("POST", path, json={**body, "stream": True}) as reply:
                if reply.status_code >= 400:
                    text = reply.read().decode(errors="replace")
                    raise SelectorUnavailable(
                        f"remote selector {self.url}{path}: HTTP {reply.status_code}: {text[:300]}"
                    )
                for line in reply.iter_lines():
                    if line.startswith("data:") and (data := line[5:].strip()) != "[DONE]":
                        yield json.loads(data)
        except (httpx.HTTPError, ValueError) as exc:
            raise self._unavailable(exc, path) from None

    def _positions(self, reply: dict) -> list[tuple[int | None, np.ndarray]]:
        """Each position's written token and its row, from either format: llama-server's (ids with every
        token) or the OpenAI one (the written tokens and the top log-probs as text, mapped to ids)."""
        try:
            if "error" in reply:
                raise SelectorUnavailable(f"remote selector {self.url}: {reply['error']}")
            logprobs = (reply["choices"][0].get("logprobs")) or {}
            if logprobs.get("content"):
                tops = [
                    (int(p["id"]), {int(t["id"]): float(t["logprob"]) for t in p.get("top_logprobs") or []})
                    for p in logprobs["content"]
                ]
            else:
                texts = logprobs.get("tokens") or []
                tops = [
                    (
                        self._piece_id.get(texts[i]) if i < len(texts) else None,
                        {self._piece_id[t]: float(lp) for t, lp in (top or {}).items() if t in self._piece_id},
                    )
                    for i, top in enumerate(logprobs.get("top_logprobs") or [])
                ]
            if any(not known or not all(0 <= t < self.vocab for t in known) for _, known in tops):
                raise ValueError("a position without log-probs, or with ids beyond the local tokenizer's vocabulary")
            return [(tid, self._floored(known)) for tid, known in tops]
        except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
            raise SelectorUnavailable(
                f"remote selector {self.url} sent log-probs this backend cannot read (is --model its tokenizer?): {exc}"
            ) from None

    def _floored(self, known: dict[int, float]) -> np.ndarray:
        """The whole row from the top N: the mass they leave, spread evenly over the rest, ranks a candidate
        outside them below every one inside and keeps the row a distribution."""
        left = max(1.0 - float(np.exp(list(known.values())).sum()), 1e-9)
        row = np.full(self.vocab, np.log(left / max(self.vocab - len(known), 1)), dtype=np.float32)
        row[list(known)] = list(known.values())
        return row

    def _rows(self, base: list[int], ids: list[int], wanted: list[int]) -> dict[int, np.ndarray]:
        """The rows after `base + ids[: j + 1]` for each wanted j. With id prompts, a request asks from the first
        missing row for as many positions as remain, and keeps each row while the server wrote `ids` so far."""
        if wanted != sorted(set(wanted)) or not 0 <= wanted[0] <= wanted[-1] < len(ids):
            raise SelectorError(f"keep must ascend within the {len(ids)} fed tokens, got {wanted}")
        got: dict[int, np.ndarray] = {}
        while missing := [j for j in wanted if j not in got]:
            start = missing[0]
            span = missing[-1] - start + 1 if self.token_prompts else 1
            with contextlib.closing(self._complete(base + ids[: start + 1], span)) as written:
                for i, (tid, row) in enumerate(written):
                    got[start + i] = row
                    if tid is None or start + i + 1 >= len(ids) or tid != ids[start + i + 1]:
                        break  # closing the stream: the server stops writing
        return {j: got[j] for j in wanted}

    @contextlib.contextmanager
    def base_only(self) -> Iterator[None]:
        yield

    def prompt_ids(self, prompt: str | list[dict[str, str]], chat: bool) -> list[int]:
        return chat_prompt_ids(self.tokenizer, prompt, chat)

    def start(self, ids: list[int]) -> Session:
        check_prompt(ids, self.max_context)
        return Session(list(ids), next(self._complete(list(ids), 1))[1])

    def feed(self, session: Session, ids: list[int], keep: list[int] | None = None) -> np.ndarray:
        """The kept rows, from as few requests as the server's greedy words allow (it keeps the shared prefix in
        its own cache)."""
        if not ids:
            raise SelectorError("nothing to feed")
        check_prompt(session.ids + ids, self.max_context)
        wanted = list(range(len(ids))) if keep is None else list(keep)
        out = np.stack(list(self._rows(list(session.ids), list(ids), wanted).values()))
        session.ids.extend(ids)
        session.logprobs = out[-1]
        return out

    def crop(self, session: Session, length: int, logprobs: np.ndarray) -> None:
        if not 0 < length <= len(session.ids):
            raise SelectorError(f"cannot crop a context of {len(session.ids)} tokens to {length}")
        del session.ids[length:]
        session.logprobs = logprobs

    def generate(self, ids: list[int], max_new_tokens: int, stop_ids: frozenset[int] | None = None) -> list[int]:
        """The server's own greedy completion (one request), re-tokenized locally."""
        body = {
            "model": self.served,
            "prompt": self._prompt(ids),
            "max_tokens": max_new_tokens,
            "temperature": 0.0,
        }
        text = self._post("/completions", body)["choices"][0]["text"]
        return list(self.tokenizer.encode(text, add_special_tokens=False))
