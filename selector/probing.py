"""Model-side hooks for probes: read the residual stream and attention of every layer, apply the logit lens,
and patch hidden states from one run into another.

A decoder-only transformer is an embedding, a stack of layers that each add to a residual stream, a final
norm and an unembedding. Hooks on those parts (found by their usual names, so Llama, Qwen, Mistral and
GPT-2 style models all work) give the "hidden state at index h": h = 0 is the embedding output, h = i + 1
is layer i's output, before the final norm. The lens at index h is unembed(final_norm(hidden[h])), so at
the last index it is exactly the model's own logits. Attention weights need eager attention, which the
probe switches on for its own model copy (never the runtime's).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from selector.assets import LoadedModel
from selector.errors import ContextLengthError, SelectorError

AttentionHook = Callable[[int, Any], None]  # (layer index, weights (heads, T, T)) -> None


@dataclass
class Forward:
    """One run of a text: the residual stream at every index, and the output logits."""

    ids: list[int]
    hidden: Any  # torch.Tensor (layers + 1, T, d), float32
    logits: Any  # torch.Tensor (T, vocab)


def _first_attr(obj: Any, names: tuple[str, ...]) -> Any:
    for name in names:
        if (found := getattr(obj, name, None)) is not None:
            return found
    return None


def _tensor(output: Any) -> Any:
    return output[0] if isinstance(output, tuple) else output


class ProbeModel:
    """A causal LM opened for inspection: forward with hooks, logit lens, activation patching."""

    def __init__(self, loaded: LoadedModel, adapter: str | None = None) -> None:
        import torch

        self.torch = torch
        self.loaded, self.adapter = loaded, adapter
        self.model, self.tokenizer = loaded.model, loaded.tokenizer
        if hasattr(self.model, "set_attn_implementation"):
            self.model.set_attn_implementation("eager")  # sdpa/flash never return attention weights
        inner = self.model.get_base_model() if hasattr(self.model, "get_base_model") else self.model
        decoder = inner.get_decoder() if hasattr(inner, "get_decoder") else _first_attr(inner, ("model", "transformer"))
        self.layers = _first_attr(decoder, ("layers", "h", "blocks"))
        self.norm = _first_attr(decoder, ("norm", "final_layernorm", "ln_f"))
        self.embed = inner.get_input_embeddings()
        self.unembed = inner.get_output_embeddings()
        if self.layers is None or self.norm is None or self.unembed is None:
            raise SelectorError(f"{loaded.model_id}: cannot find the layers, final norm and unembedding to probe")
        self.attn = [_first_attr(layer, ("self_attn", "attn", "attention")) for layer in self.layers]
        config = inner.config
        self.n_layers = len(self.layers)
        self.n_heads = int(getattr(config, "num_attention_heads", 0) or getattr(config, "n_head", 0))
        self.hidden_size = int(getattr(config, "hidden_size", 0) or getattr(config, "n_embd", 0))
        self.max_context = int(getattr(config, "max_position_embeddings", 0) or getattr(config, "n_positions", 2048))
        self.model_id = loaded.model_id if adapter is None else f"{loaded.model_id}+{adapter}"

    def encode(self, text: str) -> tuple[list[int], list[tuple[int, int]]]:
        """Token ids with the model's usual special prefix, and each token's character span in `text`."""
        enc = self.tokenizer(text, return_offsets_mapping=True)
        return list(enc["input_ids"]), [tuple(span) for span in enc["offset_mapping"]]

    def token_text(self, ids: list[int]) -> list[str]:
        return [self.tokenizer.decode([i]) for i in ids]

    @contextmanager
    def adapter_disabled(self) -> Iterator[None]:
        """Run as the base model (peft's switch); a model without an adapter is unchanged."""
        if self.adapter is not None and hasattr(self.model, "disable_adapter"):
            with self.model.disable_adapter():
                yield
        else:
            yield

    @contextmanager
    def _hooks(self, pairs: list[tuple[Any, Callable]]) -> Iterator[None]:
        handles = [module.register_forward_hook(fn) for module, fn in pairs]
        try:
            yield
        finally:
            for handle in handles:
                handle.remove()

    def _stream_modules(self) -> list[Any]:
        """The module whose output is hidden index h: the embedding, then each layer."""
        return [self.embed, *self.layers]

    def forward(self, ids: list[int], on_attention: AttentionHook | None = None) -> Forward:
        """One pass over `ids`: the residual stream at every index and the logits. `on_attention` sees each
        layer's attention weights as they are made, so long texts never hold all of them at once."""
        torch = self.torch
        if len(ids) > self.max_context:
            raise ContextLengthError(f"{len(ids)} tokens exceed the model's context ({self.max_context})")
        stream: list[Any] = [None] * (self.n_layers + 1)

        def keep(index: int) -> Callable:
            def hook(_module: Any, _args: Any, output: Any) -> None:
                stream[index] = _tensor(output)[0].detach().float()

            return hook

        def attend(index: int) -> Callable:
            def hook(_module: Any, _args: Any, output: Any) -> None:
                weights = output[1] if isinstance(output, tuple) and len(output) > 1 else None
                if weights is None:
                    raise SelectorError("the model returned no attention weights (eager attention is needed)")
                on_attention(index, weights[0].detach().float())

            return hook

        pairs = [(module, keep(h)) for h, module in enumerate(self._stream_modules())]
        if on_attention is not None:
            pairs += [(module, attend(i)) for i, module in enumerate(self.attn) if module is not None]
        with torch.inference_mode(), self._hooks(pairs):
            out = self.model(input_ids=torch.tensor([ids]), use_cache=False)
        return Forward(list(ids), torch.stack(stream), out.logits[0].float())

    def lens(self, hidden: Any) -> Any:
        """Logits the model would give if it stopped here: final norm, then unembedding. (…, d) -> (…, vocab)."""
        with self.torch.inference_mode():
            return self.unembed(self.norm(hidden)).float()

    def patched_logprobs(self, ids: list[int], plans: list[list[tuple[int, int]]], source: Any, chunk: int = 16) -> Any:
        """Run `ids` once per plan, `chunk` plans per batch so memory stays flat on long texts; plan b overwrites
        hidden index h at position p with `source[h, p]` for each (h, p) in it. Returns log-probs at the last
        position, (len(plans), vocab)."""
        parts = [self._patched_batch(ids, plans[i : i + chunk], source) for i in range(0, len(plans), chunk)]
        return self.torch.cat(parts)

    def _patched_batch(self, ids: list[int], plans: list[list[tuple[int, int]]], source: Any) -> Any:
        torch = self.torch
        by_index: dict[int, list[tuple[int, int]]] = {}
        for row, plan in enumerate(plans):
            for h, p in plan:
                by_index.setdefault(h, []).append((row, p))

        def patch(index: int) -> Callable:
            def hook(_module: Any, _args: Any, output: Any) -> Any:
                tensor = _tensor(output)
                for row, p in by_index[index]:
                    tensor[row, p] = source[index, p].to(tensor.dtype)
                return output

            return hook

        modules = self._stream_modules()
        pairs = [(modules[h], patch(h)) for h in by_index]
        batch = torch.tensor([ids] * len(plans))
        with torch.inference_mode(), self._hooks(pairs):
            logits = self.model(input_ids=batch, use_cache=False).logits[:, -1].float()
        return torch.log_softmax(logits, dim=-1)
