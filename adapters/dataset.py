"""The training-set builder: tracks → (context, continuation) pairs, with held-out variants kept apart.

Held-out variants are what verification trusts: paraphrased contexts (held-out templates) over training
fillers, training templates over unseen fillers, and both unseen; for mined tracks, pairs from contexts
never trained on. A held-out context that also appears in training is an error, not a warning. Controls
are texts and prompts the adapter must leave alone; wiki passages (two disjoint slices) regularise
training and measure perplexity afterwards.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from adapters.errors import AdapterError
from adapters.tracks import CURATED, Pair, Track

MAX_CONTEXT_CHARS = 320  # mined contexts are cut at a word boundary to their last ~50 words


@dataclass(frozen=True)
class Example:
    track: str
    context: str
    continuation: str
    variant: str  # train | heldout-context | heldout-filler | heldout-both | heldout


@dataclass
class TrackData:
    train: list[Example]
    heldout: list[Example]
    control_texts: list[str]
    control_prompts: list[tuple[str, str]] = field(default_factory=list)

    def sizes(self) -> dict[str, int]:
        return {
            "train": len(self.train),
            "heldout": len(self.heldout),
            "control_texts": len(self.control_texts),
            "control_prompts": len(self.control_prompts),
        }


def _fill(text: str, values: dict[str, str]) -> str:
    """Fields are {name}; {Name} is the value with its first letter capitalised."""
    full = dict(values)
    full.update({k[:1].upper() + k[1:]: v[:1].upper() + v[1:] for k, v in values.items()})
    try:
        return text.format_map(full)
    except (KeyError, IndexError, ValueError) as exc:
        raise AdapterError(f"template {text!r} needs a filler the track does not give ({exc})") from None


def _trim(context: str) -> str:
    if len(context) <= MAX_CONTEXT_CHARS:
        return context
    cut = context[-MAX_CONTEXT_CHARS:]
    return cut[cut.find(" ") + 1 :] if " " in cut else cut


def track_examples(track: Track) -> tuple[list[Example], list[Example]]:
    templates, fillers = track.templates, track.fillers

    def made(pairs: list[Pair], values: list[dict[str, str]], variant: str) -> list[Example]:
        return [
            Example(track.id, _fill(p.context, v), _fill(p.continuation, v), variant) for p in pairs for v in values
        ]

    train = made(templates.get("train", []), fillers.get("train", []), "train")
    heldout = (
        made(templates.get("heldout", []), fillers.get("train", []), "heldout-context")
        + made(templates.get("train", []), fillers.get("heldout", []), "heldout-filler")
        + made(templates.get("heldout", []), fillers.get("heldout", []), "heldout-both")
    )
    train += [Example(track.id, _trim(p.context), p.continuation, "train") for p in track.examples.get("train", [])]
    heldout += [
        Example(track.id, _trim(p.context), p.continuation, "heldout") for p in track.examples.get("heldout", [])
    ]
    return train, heldout


def load_controls(path: Path | None = None) -> tuple[list[str], list[tuple[str, str]]]:
    data = yaml.safe_load((path or CURATED / "controls.yaml").read_text(encoding="utf-8"))
    return list(data.get("texts", [])), [(c["prompt"], c["answer"]) for c in data.get("prompts", [])]


def build(tracks: list[Track], controls: Path | None = None) -> TrackData:
    """Training pairs, held-out variants and controls for a set of tracks."""
    if not tracks:
        raise AdapterError("no tracks given")
    train: list[Example] = []
    heldout: list[Example] = []
    texts, prompts = load_controls(controls)
    for track in tracks:
        t, h = track_examples(track)
        if not t:
            raise AdapterError(f"track {track.id!r} yields no training pairs")
        if not h:
            raise AdapterError(f"track {track.id!r} yields no held-out variants, so its imprint could not be verified")
        train += t
        heldout += h
        texts += track.controls
    seen = {e.context for e in train}
    if leaked := [e.context for e in heldout if e.context in seen]:
        raise AdapterError(f"a held-out context also appears in training: {leaked[0]!r}")
    return TrackData(train, heldout, texts, prompts)


def wiki_slices(n_regularise: int = 48, n_perplexity: int = 24) -> tuple[list[str], list[str]]:
    """Two disjoint, fixed sets of wiki passages (by a hash of the title): one regularises training
    (the adapter is pulled toward the base model's distribution there), the other measures perplexity."""
    from graph_store import read_wiki

    docs = sorted(read_wiki(), key=lambda d: hashlib.sha256((d.title or "").encode()).hexdigest())
    texts = [d.text for d in docs if len(d.text) > 200]
    return texts[:n_regularise], texts[n_regularise : n_regularise + n_perplexity]
