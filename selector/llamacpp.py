"""The selector on llama.cpp: a GGUF model in-process, through llama-cpp-python's low-level API.

One llama.cpp context holds the KV cache of the session being answered; `feed` decodes a batch asking
logits only for the kept rows (the vocabulary projection is most of a small model's cost per token), `crop`
removes positions from the cache. The tokenizer is the GGUF's own, so graph words map to this engine's
subwords exactly as they do for an HF model.

Determinism: llama.cpp on the CPU gives the same logits for the same sequence of batches with the same
thread count. Each `start` decodes its prompt from an empty cache (no prompt caching across answers, the
nondeterminism llama.cpp's server documents), and a replay repeats the same feeds and crops, so replay is
exact. The thread count is part of the model id (`SmolLM2-135M-Instruct.Q4_1@llama.cpp:2t`), and with the
batch size part of the checksum, which the trace records: a replay with other settings is refused by name
instead of differing silently.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import hashlib
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from common import sha256_file

from .assets import find_gguf
from .config import SelectorConfig
from .errors import ModelLoadError, SelectorError
from .interface import Session, chat_prompt_ids, check_prompt, end_ids

BATCH = 512  # tokens per llama_decode call (and per micro-batch): fixed, since it shapes the arithmetic


def gguf_path(model: str | Path | None) -> Path:
    """The GGUF file to load: a path given, else the bundled SmolLM2."""
    if model is None:
        return find_gguf()
    path = Path(model).expanduser()
    if not path.is_file() or path.suffix.lower() != ".gguf":
        raise ModelLoadError(f"{path}: the llamacpp backend loads a .gguf file (an HF folder needs backend hf)")
    return path


@functools.cache
def amx_guarded() -> bool:
    """Whether llama.cpp was built with AMX for this CPU (Sapphire Rapids and later). Its AMX weight buffers
    crash the first decode of more than one token (ggml-org/llama.cpp#20824; seen here on every prompt of
    the bundled Q4_1 GGUF), so there weights stay in plain CPU buffers ("extra buffer types" off: no AMX,
    no repacking), and the checksum says so."""
    import llama_cpp

    return "AMX_INT8 = 1" in llama_cpp.llama_print_system_info().decode(errors="replace")


def guard_amx() -> None:
    """Make every llama.cpp model loaded in this process from now on skip the AMX weight buffers where
    `amx_guarded` (llama-cpp-python's `Llama` has no option for it: its default model params are wrapped)."""
    import llama_cpp.llama_cpp as lib

    if getattr(lib.llama_model_default_params, "amx_guarded", False) or not amx_guarded():
        return
    default = lib.llama_model_default_params

    def params() -> Any:
        out = default()
        out.use_extra_bufts = False
        return out

    params.amx_guarded = True  # type: ignore[attr-defined]
    lib.llama_model_default_params = params


def open_llama(path: Path, threads: int, context_length: int, vocab_only: bool = False) -> Any:
    """A llama-cpp-python `Llama` over a GGUF file, quiet, with logits computed only where asked for."""
    try:
        from llama_cpp import Llama
    except ImportError as exc:  # pragma: no cover - a dependency of the project
        raise ModelLoadError("llama-cpp-python is not installed; run `make setup`") from exc
    guard_amx()
    try:
        return Llama(
            model_path=str(path),
            n_ctx=context_length,
            n_batch=BATCH,
            n_ubatch=BATCH,
            n_threads=threads,
            n_threads_batch=threads,
            logits_all=False,
            vocab_only=vocab_only,
            verbose=False,
            seed=0,
        )
    except (ValueError, RuntimeError, OSError) as exc:
        raise ModelLoadError(f"{path}: llama.cpp could not load it ({exc})") from None


class GGUFTokenizer:
    """The slice of a Hugging Face tokenizer that the runtime, `WordTable` and the evals call, over the
    vocabulary and chat template stored in the GGUF (llama.cpp's tokenizer)."""

    pad_token_id = None

    def __init__(self, llm: Any) -> None:
        self._llm = llm
        meta = llm.metadata
        unk = meta.get("tokenizer.ggml.unknown_token_id")
        self.unk_token_id = int(unk) if unk is not None else None
        self.eos_token_id = int(llm.token_eos())
        bos = int(llm.token_bos())
        self.bos_token_id = bos if bos >= 0 else None
        self.eos_token = self.decode([self.eos_token_id])
        self.bos_token = self.decode([bos]) if bos >= 0 else ""
        self._add_bos = meta.get("tokenizer.ggml.add_bos_token") == "true"
        self.chat_template = meta.get("tokenizer.chat_template")

    def __len__(self) -> int:
        return int(self._llm.n_vocab())

    @property
    def vocab_size(self) -> int:
        return len(self)

    def encode(self, text: str, add_special_tokens: bool = True) -> list[int]:
        """Special tokens written in the text are parsed as such, as an HF tokenizer does."""
        if not text:
            return []
        return list(
            self._llm.tokenize(text.encode("utf-8"), add_bos=add_special_tokens and self._add_bos, special=True)
        )

    def __call__(self, text: str | Sequence[str], add_special_tokens: bool = True) -> dict[str, Any]:
        if isinstance(text, str):
            return {"input_ids": self.encode(text, add_special_tokens)}
        return {"input_ids": [self.encode(t, add_special_tokens) for t in text]}

    def decode(self, ids: Sequence[int], skip_special_tokens: bool = False) -> str:
        data = self._llm.detokenize([int(i) for i in ids], special=not skip_special_tokens)
        return data.decode("utf-8", errors="replace")

    def convert_tokens_to_ids(self, token: str) -> int | None:
        ids = self._llm.tokenize(token.encode("utf-8"), add_bos=False, special=True)
        return int(ids[0]) if len(ids) == 1 else None

    def apply_chat_template(
        self, messages: list[dict[str, str]], add_generation_prompt: bool = False, tokenize: bool = True
    ) -> list[int] | str:
        """The GGUF's Jinja chat template, rendered as transformers renders it (same environment flags)."""
        if not self.chat_template:
            raise SelectorError("this GGUF has no chat template; ask with chat off (plain continuation)")
        from jinja2.sandbox import ImmutableSandboxedEnvironment

        def raise_exception(message: str) -> None:
            raise SelectorError(f"chat template: {message}")

        env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
        env.globals["raise_exception"] = raise_exception
        text = env.from_string(self.chat_template).render(
            messages=messages,
            add_generation_prompt=add_generation_prompt,
            bos_token=self.bos_token,
            eos_token=self.eos_token,
        )
        return self.encode(text, add_special_tokens=False) if tokenize else text


def log_softmax(logits: np.ndarray) -> np.ndarray:
    top = logits.max(axis=-1, keepdims=True)
    shifted = logits - top
    return (shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))).astype(np.float32)


class LlamaCppBackend:
    """A `Backend` over one llama.cpp context (one answer at a time, as the runtime and the API use it)."""

    adapter = None
    adapter_label: str | None = None

    def __init__(self, path: Path, config: SelectorConfig | None = None) -> None:
        cfg = config or SelectorConfig()
        self.path = path
        self.threads = cfg.threads or os.cpu_count() or 1
        self.llm = open_llama(path, self.threads, cfg.context_length)
        import llama_cpp

        self._lib = llama_cpp
        self._ctx = self.llm._ctx.ctx
        self._memory = llama_cpp.llama_get_memory(self._ctx)
        self._batch = llama_cpp.llama_batch_init(BATCH, 0, 1)
        self.vocab = int(self.llm.n_vocab())
        self.max_context = int(self.llm.n_ctx())
        self.tokenizer = GGUFTokenizer(self.llm)
        self.eos_ids = end_ids(self.tokenizer)
        self.model_id = f"{path.stem}@llama.cpp:{self.threads}t"  # the API's id; the threads shape the arithmetic
        recipe = f"llamacpp\n{sha256_file(path)}\nthreads={self.threads}\nbatch={BATCH}"
        recipe += "\nextra_buffers=off" if amx_guarded() else ""  # other weight layout, other arithmetic
        self.checksum = hashlib.sha256(recipe.encode()).hexdigest()
        self._holder: object | None = None  # the session whose tokens the context's KV cache holds
        self._held = 0  # how many of them

    @classmethod
    def load(
        cls, model: str | Path | None = None, adapter: Any = None, config: SelectorConfig | None = None
    ) -> LlamaCppBackend:
        if adapter is not None:
            raise SelectorError(
                "adapters need the hf backend (LoRA weights are trained and attached in torch); "
                "answer with backend hf, or without the adapter (adapter `none`)"
            )
        return cls(gguf_path(model), config)

    def __del__(self) -> None:
        batch, self._batch = getattr(self, "_batch", None), None
        if batch is not None:
            with contextlib.suppress(Exception):
                self._lib.llama_batch_free(batch)

    @contextlib.contextmanager
    def base_only(self) -> Iterator[None]:
        yield

    def prompt_ids(self, prompt: str | list[dict[str, str]], chat: bool) -> list[int]:
        return chat_prompt_ids(self.tokenizer, prompt, chat)

    # -- the engine ---------------------------------------------------------------------------------
    def _decode(self, ids: list[int], start: int, keep: list[int], raw: bool = False) -> np.ndarray:
        """Decode `ids` at positions `start`…, in fixed batches; the logits rows of the `keep` offsets
        (log-probs unless `raw`), shape (len(keep), vocab)."""
        lib, batch = self._lib, self._batch
        wanted = set(keep)
        rows: list[np.ndarray] = []
        for lo in range(0, len(ids), BATCH):
            chunk = ids[lo : lo + BATCH]
            batch.n_tokens = len(chunk)
            out = []
            for i, tid in enumerate(chunk):
                if not 0 <= tid < self.vocab:
                    raise SelectorError(f"token id {tid} is outside the model's vocabulary ({self.vocab})")
                batch.token[i] = tid
                batch.pos[i] = start + lo + i
                batch.n_seq_id[i] = 1
                batch.seq_id[i][0] = 0
                batch.logits[i] = keep_row = (lo + i) in wanted
                if keep_row:
                    out.append(i)
            code = lib.llama_decode(self._ctx, batch)
            if code != 0:
                raise SelectorError(f"llama.cpp could not decode the batch (llama_decode returned {code})")
            for i in out:
                ptr = lib.llama_get_logits_ith(self._ctx, i)
                rows.append(
                    np.ctypeslib.as_array(ctypes.cast(ptr, ctypes.POINTER(ctypes.c_float)), (self.vocab,)).copy()
                )
        if not rows:
            return np.empty((0, self.vocab), np.float32)
        logits = np.stack(rows)
        return logits if raw else log_softmax(logits)

    def _clear(self) -> None:
        """An empty KV cache, held for no session."""
        self._lib.llama_memory_seq_rm(self._memory, 0, 0, -1)
        self._holder, self._held = None, 0

    def _hold(self, session: Session) -> None:
        """Make the context hold `session`'s tokens (re-decoding them if another session was fed since)."""
        if self._holder is session.cache and self._held == len(session.ids):
            return
        self._clear()
        self._decode(session.ids, 0, [])
        self._holder, self._held = session.cache, len(session.ids)

    # -- the Backend interface ----------------------------------------------------------------------
    def start(self, ids: list[int]) -> Session:
        check_prompt(ids, self.max_context)
        self._clear()  # no prompt caching across answers
        logprobs = self._decode(list(ids), 0, [len(ids) - 1])
        session = Session(list(ids), logprobs[-1], object())
        self._holder, self._held = session.cache, len(ids)
        return session

    def feed(self, session: Session, ids: list[int], keep: list[int] | None = None) -> np.ndarray:
        """Append tokens; log-probs after each fed token (or only the `keep` positions, ascending, the last
        the final token), shape (len(keep or ids), vocab)."""
        if not ids:
            raise SelectorError("nothing to feed")
        check_prompt(session.ids + ids, self.max_context)
        self._hold(session)
        rows = list(range(len(ids))) if keep is None else list(keep)
        logprobs = self._decode(list(ids), len(session.ids), rows)
        session.ids.extend(ids)
        self._held = len(session.ids)
        session.logprobs = logprobs[-1]
        return logprobs

    def crop(self, session: Session, length: int, logprobs: np.ndarray) -> None:
        """Drop fed tokens past `length` (a rejected speculative tail) from the cache."""
        if not 0 < length <= len(session.ids):
            raise SelectorError(f"cannot crop a context of {len(session.ids)} tokens to {length}")
        if self._holder is session.cache:
            self._lib.llama_memory_seq_rm(self._memory, 0, length, -1)
            self._held = length
        del session.ids[length:]
        session.logprobs = logprobs

    def generate(self, ids: list[int], max_new_tokens: int, stop_ids: frozenset[int] | None = None) -> list[int]:
        """Plain greedy decoding on llama.cpp (the `llamacpp_generate` baseline): one token per decode,
        the argmax of its raw logits."""
        check_prompt(ids, self.max_context)
        stop = stop_ids or self.eos_ids
        self._clear()
        logits = self._decode(list(ids), 0, [len(ids) - 1], raw=True)[-1]
        out: list[int] = []
        pos = len(ids)
        for _ in range(max_new_tokens):
            tok = int(np.argmax(logits))
            out.append(tok)
            if tok in stop or pos + 1 >= self.max_context:
                break
            logits = self._decode([tok], pos, [0], raw=True)[-1]
            pos += 1
        return out
