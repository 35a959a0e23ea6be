"""LLM backends behind one small interface: start a context, feed tokens, read next-token log-probs.

The runtime never asks a backend to write text; it asks for log-probabilities of continuations and feeds
back what the graph's candidate won. `generate` exists only for the plain-LLM baselines in evals/benches.
The registry at the end names them: `hf` (torch, in-process: the one probes, adapters and distillation
use), `llamacpp` (a GGUF in-process, selector/llamacpp.py), `remote` (an OpenAI-compatible completions server
returning top log-probs, selector/remote.py) and `toy` (tests). docs/architecture.md has the table.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from .assets import LoadedModel, load_model
from .config import SelectorConfig
from .errors import SelectorError
from .interface import Backend, Session, chat_prompt_ids, check_prompt, end_ids
from .llamacpp import LlamaCppBackend
from .lora import AdapterRef, attach_adapter
from .remote import RemoteBackend
from .toy import ToyBackend


class HFBackend:
    """In-process transformers model (CPU, float32) with a KV cache kept across steps."""

    def __init__(self, loaded: LoadedModel, adapter: AdapterRef | None = None) -> None:
        import torch

        self.torch = torch
        if adapter is not None:
            if adapter.base_checksum not in (None, loaded.checksum):
                raise SelectorError(
                    f"adapter {adapter.name!r} was trained on other base weights than {loaded.model_id}; "
                    "use it with its own base model, or answer without it (adapter `none`)"
                )
            loaded = attach_adapter(loaded, adapter.folder, adapter.name)
        self.adapter = adapter
        self._adapter_on = adapter is not None
        self.model, self.tokenizer = loaded.model, loaded.tokenizer
        self.model_id, self.checksum, self.path = loaded.model_id, loaded.checksum, loaded.path
        self.eos_ids = end_ids(self.tokenizer)
        self.max_context = int(getattr(self.model.config, "max_position_embeddings", 2048))

    @classmethod
    def load(
        cls, model: str | Path | None = None, adapter: AdapterRef | None = None, config: SelectorConfig | None = None
    ) -> HFBackend:
        """Over a model folder (None: the bundled SmolLM2), with an optional LoRA adapter attached."""
        return cls(load_model(model), adapter)

    @property
    def adapter_label(self) -> str | None:
        """The adapter shaping the current answers (None with none attached, or while it is switched off)."""
        return self.adapter.label if self.adapter is not None and self._adapter_on else None

    @contextlib.contextmanager
    def base_only(self) -> Iterator[None]:
        """Answer with the adapter switched off (peft's switch; the weights stay loaded)."""
        if self.adapter is None:
            yield
            return
        self._adapter_on = False
        try:
            with self.model.disable_adapter():
                yield
        finally:
            self._adapter_on = True

    def prompt_ids(self, prompt: str | list[dict[str, str]], chat: bool) -> list[int]:
        return chat_prompt_ids(self.tokenizer, prompt, chat)

    def _forward(self, ids: list[int], cache: Any, keep: list[int] | None) -> np.ndarray:
        """Log-probs after the `keep` positions only: the vocabulary projection is most of a small model's
        per-token cost, and a prompt of hundreds of tokens needs just its last row."""
        torch = self.torch
        rows = 0 if keep is None else torch.tensor(keep)
        with torch.inference_mode():  # transformers 5 names the KV cache `cache` (`past_key_values` is deprecated)
            out = self.model(input_ids=torch.tensor([ids]), cache=cache, use_cache=True, logits_to_keep=rows)
            return torch.log_softmax(out.logits[0].float(), dim=-1).numpy()

    def start(self, ids: list[int]) -> Session:
        from transformers import DynamicCache

        check_prompt(ids, self.max_context)
        cache = DynamicCache(config=self.model.config)
        logprobs = self._forward(ids, cache, [len(ids) - 1])
        return Session(list(ids), logprobs[-1], cache)

    def feed(self, session: Session, ids: list[int], keep: list[int] | None = None) -> np.ndarray:
        """Append tokens in one forward pass; log-probs after each fed token (or only the `keep` positions,
        ascending, the last of which must be the final token), shape (len(keep or ids), vocab)."""
        logprobs = self._forward(ids, session.cache, keep)
        session.ids.extend(ids)
        session.logprobs = logprobs[-1]
        return logprobs

    def crop(self, session: Session, length: int, logprobs: np.ndarray) -> None:
        """Drop fed tokens past `length` (a rejected speculative tail); `logprobs` are those at `length`."""
        extra = len(session.ids) - length
        if extra > 0:
            session.cache.crop(-extra)  # transformers 5: a negative count removes that many tokens
            del session.ids[length:]
        session.logprobs = logprobs

    def generate(
        self, ids: list[int], max_new_tokens: int, stop_ids: frozenset[int] | None = None, lookup: int = 0
    ) -> list[int]:
        """Plain greedy decoding with the KV cache (the baseline the overlay is measured against); with
        `lookup`, prompt-lookup decoding drafting that many tokens from the prompt (greedy, so exact)."""
        torch = self.torch
        extra = {"prompt_lookup_num_tokens": lookup} if lookup else {}
        with torch.inference_mode():
            out = self.model.generate(
                torch.tensor([ids]),
                attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                max_new_tokens=max_new_tokens,
                do_sample=False,
                eos_token_id=sorted(stop_ids or self.eos_ids),
                pad_token_id=self.tokenizer.pad_token_id or self.tokenizer.eos_token_id,
                **extra,
            )
        return out[0, len(ids) :].tolist()


# name -> backend class; `load_backend` builds one with `cls.load(model, adapter, config)`
BACKENDS: dict[str, type] = {"hf": HFBackend, "llamacpp": LlamaCppBackend, "remote": RemoteBackend, "toy": ToyBackend}


def load_backend(
    model: str | Path | None = None, adapter: AdapterRef | None = None, config: SelectorConfig | None = None
) -> Backend:
    """The backend `config.backend` names (default: `OVERLAY_BACKEND`, else hf) over a model (None: the
    bundled SmolLM2, as an HF folder or its GGUF), with an optional LoRA adapter attached (hf only)."""
    cfg = config or SelectorConfig()
    return BACKENDS[cfg.backend].load(model, adapter, cfg)
