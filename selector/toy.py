"""A toy backend: a tiny tokenizer and a deterministic "model", built from nothing, for fast loop tests.

The runtime's invariants (the output is a candidate, runs repeat exactly, speculative copying changes
nothing, stop strings and budgets hold) do not depend on what the model knows, only on how a backend
behaves: log-probs that are a fixed function of the context, a cache that grows and is cropped, subwords
that split some words and not others. This backend has all of that and answers in milliseconds, with no
model folder, no torch and no files.

The tokenizer knows a few hundred common English words as single pieces (bare, after a space, and
capitalised) and spells everything else greedily with the longest known pieces (a space and a letter, an
ASCII character, else UTF-8 bytes), so any text round-trips, some words are one subword and others several,
and words share first subwords (" rivers" starts with " river", " volcano" with " v"), as with a real BPE.
The model's next-token logits are a seeded row per last token plus seeded noise keyed by a rolling hash of
the whole context: the same context always gives the same row, a different one (a stale cache entry, a
crop in the wrong place) a different row.
"""

from __future__ import annotations

import contextlib
import hashlib
import string
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .errors import SelectorError
from .interface import Session, chat_prompt_ids, check_prompt

SPECIALS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")
BYTES = len(SPECIALS)  # byte b is token BYTES + b
WORDS = tuple(
    """
    a about above after again against all also an and any are around as at away back be because been
    before being below between big both but by called can city come could country day did do does down
    during each early earth east end even every far few first for found from get give go good great had
    has have he her here high him his how i if in into is it its just keep king know land large last
    later life light like little long made make man many may me more most much must my name near never
    new next no north not now of off old on once one only or other our out over own part people place
    play point right river rock run said same say sea see she ship should side small so some south start
    state still such sun take than that the their them then there these they thing think this those
    three through time to too two under up us use very was water way we well went were west what when
    where which while who why will with word work world would year you your air animal ash boat body
    cold deep fire fish flow flows form ice island lake moon mountain planet rain sail sky snow star
    stone tree weight wind wood
    """.split()
)
CHAT_TEMPLATE = "<|im_start|>{role}\n{content}<|im_end|>\n"  # ChatML, as SmolLM2's template writes it


class ToyTokenizer:
    """The slice of a Hugging Face tokenizer that the runtime, WordTable and the evals call."""

    eos_token = SPECIALS[0]
    eos_token_id = 0
    pad_token_id = None
    bos_token_id = None
    unk_token_id = None  # never needed: unknown text is spelled in bytes
    chat_template = CHAT_TEMPLATE

    def __init__(self, words: Sequence[str] = WORDS) -> None:
        spelled = (f"{space}{cased}" for w in words for cased in (w, w.capitalize()) for space in ("", " "))
        pieces = dict.fromkeys(p for p in spelled if len(p) > 1)  # one character is already a byte token
        pieces.update(dict.fromkeys(" " + c for c in string.ascii_letters + string.digits))  # " volcano": " v"…
        self.pieces: list[str] = [*SPECIALS, *(bytes([b]).decode("latin-1") for b in range(256)), *pieces]
        self._text_ids = {p: i for i, p in enumerate(self.pieces) if i < BYTES or i >= BYTES + 256}
        for b in range(128):  # an ASCII character is its byte token
            self._text_ids.setdefault(chr(b), BYTES + b)
        self._longest = max(map(len, self._text_ids))

    def __len__(self) -> int:
        return len(self.pieces)

    @property
    def vocab_size(self) -> int:
        return len(self.pieces)

    @property
    def all_special_ids(self) -> list[int]:
        return list(range(BYTES))

    def get_vocab(self) -> dict[str, int]:
        return {p: i for i, p in enumerate(self.pieces)}

    def encode(self, text: str, add_special_tokens: bool = True) -> list[int]:
        """Greedy longest match over the known pieces (special tokens included); other characters as UTF-8
        bytes. There is no BOS token, so `add_special_tokens` changes nothing."""
        ids: list[int] = []
        i = 0
        while i < len(text):
            for n in range(min(self._longest, len(text) - i), 0, -1):
                tid = self._text_ids.get(text[i : i + n])
                if tid is not None:
                    ids.append(tid)
                    i += n
                    break
            else:
                ids.extend(BYTES + b for b in text[i].encode("utf-8"))
                i += 1
        return ids

    def __call__(self, text: str | Sequence[str], add_special_tokens: bool = True) -> dict[str, Any]:
        """`tokenizer(texts)["input_ids"]`, one list per text (or one list for a single text)."""
        if isinstance(text, str):
            return {"input_ids": self.encode(text, add_special_tokens)}
        return {"input_ids": [self.encode(t, add_special_tokens) for t in text]}

    def decode(self, ids: Sequence[int], skip_special_tokens: bool = False) -> str:
        out = bytearray()
        for tid in ids:
            tid = int(tid)
            if tid < BYTES:
                out += b"" if skip_special_tokens else SPECIALS[tid].encode()
            elif tid < BYTES + 256:
                out.append(tid - BYTES)
            else:
                out += self.pieces[tid].encode()
        return out.decode("utf-8", errors="replace")

    def convert_tokens_to_ids(self, token: str) -> int | None:
        return self._text_ids.get(token)

    def apply_chat_template(
        self, messages: list[dict[str, str]], add_generation_prompt: bool = False, tokenize: bool = True
    ) -> list[int] | str:
        text = "".join(CHAT_TEMPLATE.format(role=m["role"], content=m["content"]) for m in messages)
        if add_generation_prompt:
            text += "<|im_start|>assistant\n"
        return self.encode(text) if tokenize else text


class ToyBackend:
    """A `Backend` over `ToyTokenizer` and a seeded next-token function: exact, fast, file-free.

    `strict` checks the caller's side of the contract, which a real backend takes on trust: every `crop`
    is handed the log-probs at the length it crops to, and `keep` rows ascend and end at the last fed token.
    """

    adapter = None  # no LoRA adapters (callers such as the API read `backend.adapter`)
    adapter_label: str | None = None
    path: Path | None = None

    def __init__(
        self,
        seed: int = 0,
        words: Sequence[str] = WORDS,
        eos_bias: float = -2.0,
        noise: float = 0.5,
        max_context: int = 2048,
        strict: bool = True,
    ) -> None:
        self.tokenizer = ToyTokenizer(words)
        self.seed, self.eos_bias, self.noise, self.max_context, self.strict = seed, eos_bias, noise, max_context, strict
        self.eos_ids = frozenset({self.tokenizer.eos_token_id, SPECIALS.index("<|im_end|>")})
        self.model_id = "toy"
        recipe = f"toy\n{seed}\n{eos_bias}\n{noise}\n" + "\n".join(self.tokenizer.pieces)
        self.checksum = hashlib.sha256(recipe.encode()).hexdigest()
        self._rows: dict[int, np.ndarray] = {}
        self._bias = np.zeros(len(self.tokenizer), np.float32)
        self._bias[sorted(self.eos_ids)] = eos_bias  # answers that are not over before they start
        self._bias[SPECIALS.index("<|im_start|>")] = -20.0

    @classmethod
    def load(cls, model: str | Path | None = None, adapter: Any = None, config: Any = None) -> ToyBackend:
        """The registry's constructor: the toy has no model folder and takes no adapter."""
        if model is not None:
            raise SelectorError(f"the toy backend loads no model folder (got {model}); leave the model unset")
        if adapter is not None:
            raise SelectorError("the toy backend takes no adapter; answer without one (adapter `none`)")
        return cls()

    @contextlib.contextmanager
    def base_only(self) -> Iterator[None]:
        yield

    def prompt_ids(self, prompt: str | list[dict[str, str]], chat: bool) -> list[int]:
        return chat_prompt_ids(self.tokenizer, prompt, chat)

    # -- the model -----------------------------------------------------------------------------------
    @staticmethod
    def _hash(prev: int, token: int) -> int:
        return (prev * 1_000_003 + token + 1) & 0xFFFF_FFFF_FFFF_FFFF

    def _row(self, token: int) -> np.ndarray:
        """The seeded logits row of a last token (the "bigram table", built lazily)."""
        row = self._rows.get(token)
        if row is None:
            rng = np.random.default_rng([self.seed, token])
            row = self._rows[token] = rng.standard_normal(len(self.tokenizer)).astype(np.float32) + self._bias
        return row

    def _logprobs(self, token: int, context_hash: int) -> np.ndarray:
        """log P(next | context): a function of the last token and of the hash of the whole context."""
        logits = self._row(token)
        if self.noise:
            rng = np.random.default_rng([self.seed + 1, context_hash])
            logits = logits + np.float32(self.noise) * rng.standard_normal(len(logits), dtype=np.float32)
        top = logits.max()
        return (logits - top - np.log(np.exp(logits - top).sum())).astype(np.float32)

    def _extend(self, session: Session, ids: list[int]) -> None:
        h = session.cache[-1] if session.cache else 0
        for tid in ids:
            if not 0 <= tid < len(self.tokenizer):
                raise SelectorError(f"token id {tid} is outside the toy vocabulary ({len(self.tokenizer)})")
            h = self._hash(h, tid)
            session.cache.append(h)
        session.ids.extend(ids)

    # -- the Backend interface ----------------------------------------------------------------------
    def start(self, ids: list[int]) -> Session:
        check_prompt(ids, self.max_context)
        session = Session([], np.empty(0, np.float32), [])
        self._extend(session, list(ids))
        session.logprobs = self._logprobs(session.ids[-1], session.cache[-1])
        return session

    def feed(self, session: Session, ids: list[int], keep: list[int] | None = None) -> np.ndarray:
        """Log-probs after each fed token, or only after the `keep` positions (ascending, ending at the last
        fed token), shape (len(keep or ids), vocab)."""
        if not ids:
            raise SelectorError("nothing to feed")
        rows = list(range(len(ids))) if keep is None else list(keep)
        if self.strict and (rows != sorted(set(rows)) or not rows or rows[-1] != len(ids) - 1 or rows[0] < 0):
            raise SelectorError(f"keep {rows} must ascend and end at the last fed token ({len(ids) - 1})")
        base = len(session.ids)
        self._extend(session, list(ids))
        out = np.stack([self._logprobs(session.ids[base + j], session.cache[base + j]) for j in rows])
        session.logprobs = out[-1]
        return out

    def crop(self, session: Session, length: int, logprobs: np.ndarray) -> None:
        """Drop fed tokens past `length`; `logprobs` must be those at `length` (checked when strict)."""
        if not 0 < length <= len(session.ids):
            raise SelectorError(f"cannot crop a context of {len(session.ids)} tokens to {length}")
        del session.ids[length:], session.cache[length:]
        if self.strict and not np.array_equal(logprobs, self._logprobs(session.ids[-1], session.cache[-1])):
            raise SelectorError(f"crop to {length} was handed log-probs of another position")
        session.logprobs = logprobs

    def generate(self, ids: list[int], max_new_tokens: int, stop_ids: frozenset[int] | None = None) -> list[int]:
        """Greedy decoding, the plain-LLM baseline of evals and benches."""
        stop = stop_ids or self.eos_ids
        session, out = self.start(ids), []
        for _ in range(max_new_tokens):
            tok = int(np.argmax(session.logprobs))
            out.append(tok)
            if tok in stop:
                break
            self.feed(session, [tok])
        return out
