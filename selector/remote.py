"""The selector on a serving engine: an OpenAI-compatible completions server that returns top log-probs
(llama.cpp's server, `python -m llama_cpp.server`, vLLM on GPUs), shared by many runtimes.

A server answers "the top N next tokens and their log-probs", not the whole distribution. Each row the
runtime asks for is one request (`max_tokens` 1, greedy, `logprobs` N) on the context so far, sent as text
(the server tokenizes it again, with special tokens parsed). The rest of the vocabulary is scored by a
floor: the probability mass the top N leave over, spread evenly over the other tokens, so a graph
candidate outside the top N is still ranked below every candidate inside it and the graph's evidence
decides among those. The trace names this in the model id (`…@http://host:port/v1:top20`: the server's top
20, the rest floored).

Top log-probs come back keyed by token text; they map back to ids through the local tokenizer (of the
same model: `--model` names its GGUF or HF folder, default the bundled SmolLM2), the lowest id winning
where two tokens decode alike. Nothing here is exact: the server may batch requests together or reuse
cached prompts, so replay on this backend is checked like any other but is not promised bit-exact.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from .config import SelectorConfig
from .errors import ModelLoadError, SelectorError, SelectorUnavailable
from .interface import Session, chat_prompt_ids, check_prompt, end_ids
from .llamacpp import GGUFTokenizer, gguf_path, open_llama


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

    def __init__(self, url: str, tokenizer: Any, config: SelectorConfig | None = None) -> None:
        import httpx

        cfg = config or SelectorConfig()
        self.url = url.rstrip("/")
        self.top_n = cfg.top_logprobs
        self.tokenizer = tokenizer
        self.eos_ids = end_ids(tokenizer)
        self.vocab = len(tokenizer)
        self._http = httpx.Client(base_url=self.url, timeout=cfg.remote_timeout)
        self.served = self._served_model()
        self.max_context = cfg.context_length
        self.model_id = f"{Path(self.served).name}@{self.url}:top{self.top_n}"  # top N, the rest floored
        self.checksum = hashlib.sha256(f"remote\n{self.url}\n{self.served}\n{self.top_n}".encode()).hexdigest()
        self._piece_id = self._pieces()
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

    def _post(self, path: str, body: dict | None = None) -> dict:
        import httpx

        try:
            reply = self._http.post(path, json=body) if body is not None else self._http.get(path)
        except httpx.HTTPError as exc:
            raise SelectorUnavailable(f"remote selector {self.url}: {type(exc).__name__}: {exc}") from None
        if reply.status_code >= 400:
            raise SelectorUnavailable(f"remote selector {self.url}{path}: HTTP {reply.status_code}: {reply.text[:300]}")
        return reply.json()

    def _served_model(self) -> str:
        data = self._post("/models").get("data") or []
        if not data:
            raise SelectorUnavailable(f"remote selector {self.url} serves no model")
        return str(data[0]["id"])

    def _pieces(self) -> dict[str, int]:
        """Token text → id, as the server spells tokens in its top log-probs (lowest id on a tie)."""
        out: dict[str, int] = {}
        for tid in range(self.vocab):
            text = self.tokenizer.decode([tid])
            if text and "\ufffd" not in text:
                out.setdefault(text, tid)
        return out

    def _row(self, ids: list[int]) -> np.ndarray:
        """log P(next | ids): the server's top N, the rest at the floor of the mass they leave."""
        body = {
            "model": self.served,
            "prompt": self.tokenizer.decode(ids),
            "max_tokens": 1,
            "temperature": 0.0,
            "logprobs": self.top_n,
        }
        choice = self._post("/completions", body)["choices"][0]
        self.requests += 1
        top = ((choice.get("logprobs") or {}).get("top_logprobs") or [None])[0] or {}
        known = {self._piece_id[t]: float(lp) for t, lp in top.items() if t in self._piece_id}
        if not known:
            raise SelectorUnavailable(f"remote selector {self.url} returned no log-probs (does it serve them?)")
        left = max(1.0 - float(np.exp(list(known.values())).sum()), 1e-9)
        row = np.full(self.vocab, np.log(left / max(self.vocab - len(known), 1)), dtype=np.float32)
        row[list(known)] = list(known.values())
        return row

    @contextlib.contextmanager
    def base_only(self) -> Iterator[None]:
        yield

    def prompt_ids(self, prompt: str | list[dict[str, str]], chat: bool) -> list[int]:
        return chat_prompt_ids(self.tokenizer, prompt, chat)

    def start(self, ids: list[int]) -> Session:
        check_prompt(ids, self.max_context)
        return Session(list(ids), self._row(list(ids)))

    def feed(self, session: Session, ids: list[int], keep: list[int] | None = None) -> np.ndarray:
        """One request per kept row (the server keeps the shared prefix in its own cache)."""
        if not ids:
            raise SelectorError("nothing to feed")
        check_prompt(session.ids + ids, self.max_context)
        rows = list(range(len(ids))) if keep is None else list(keep)
        base = list(session.ids)
        out = np.stack([self._row(base + ids[: j + 1]) for j in rows])
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
            "prompt": self.tokenizer.decode(ids),
            "max_tokens": max_new_tokens,
            "temperature": 0.0,
        }
        text = self._post("/completions", body)["choices"][0]["text"]
        return list(self.tokenizer.encode(text, add_special_tokens=False))
