"""The one interface every LLM backend implements: start a context, feed tokens, read next-token log-probs,
crop back. The runtime never asks a backend to write text; `generate` exists only for the baselines."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from .errors import ContextLengthError, SelectorError

END_TOKENS = ("<|im_end|>", "<|eot_id|>", "<|endoftext|>", "<|end|>")  # chat formats' end-of-turn markers


@dataclass
class Session:
    """One growing context: the backend's cache plus the log-probs of the next token."""

    ids: list[int]
    logprobs: np.ndarray  # (vocab,) float32: log P(next token | ids)
    cache: Any = field(repr=False, default=None)


class Backend(Protocol):
    model_id: str
    checksum: str
    tokenizer: Any
    eos_ids: frozenset[int]
    adapter_label: str | None

    def base_only(self) -> contextlib.AbstractContextManager[None]: ...

    def prompt_ids(self, prompt: str | list[dict[str, str]], chat: bool) -> list[int]: ...

    def start(self, ids: list[int]) -> Session: ...

    def feed(self, session: Session, ids: list[int], keep: list[int] | None = None) -> np.ndarray: ...

    def crop(self, session: Session, length: int, logprobs: np.ndarray) -> None: ...

    def generate(self, ids: list[int], max_new_tokens: int, stop_ids: frozenset[int] | None = None) -> list[int]: ...


def chat_prompt_ids(tokenizer: Any, prompt: str | list[dict[str, str]], chat: bool) -> list[int]:
    """A backend's `prompt_ids`: chat messages through the tokenizer's chat template (joined by lines
    without one), plain text as a continuation. Every tokenizer here has the HF slice this calls."""
    if chat:
        messages = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else prompt
        if getattr(tokenizer, "chat_template", None):
            out = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
            return list(out["input_ids"] if hasattr(out, "keys") else out)
        prompt = "\n".join(m["content"] for m in messages) + "\n"
    return list(tokenizer.encode(prompt, add_special_tokens=False))


def end_ids(tokenizer: Any) -> frozenset[int]:
    """End-of-turn tokens: the tokenizer's EOS and the chat formats' end markers it knows."""
    ids = {tokenizer.eos_token_id}
    for name in END_TOKENS:
        tid = tokenizer.convert_tokens_to_ids(name)
        if isinstance(tid, int) and tid != tokenizer.unk_token_id:
            ids.add(tid)
    return frozenset(i for i in ids if i is not None)


def check_prompt(ids: list[int], max_context: int) -> None:
    """What every backend refuses before its first forward: an empty prompt, or one its context cannot hold."""
    if not ids:
        raise SelectorError("empty prompt")
    if len(ids) >= max_context:
        raise ContextLengthError(f"prompt of {len(ids)} tokens does not fit the model's context ({max_context})")
