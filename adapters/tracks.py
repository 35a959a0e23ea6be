"""Tracks: paths through the graph that answers keep taking, with the contexts in which they apply.

Three sources, one model:
- curated (`adapters/data/tracks/*.yaml`): a chain, context templates and fillers, each split into train and held-out;
- traces: word sequences that recur in chosen answers (support = number of distinct answers);
- graph: near-deterministic `next` chains (each step takes at least half of its word's out-weight),
  with the passages that contain them as contexts.
Mined tracks are saved as JSON under `OVERLAY_HOME/tracks/`; curated ones are read where they ship.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, Field, ValidationError

from adapters.errors import AdapterError
from overlay import Workspace

CURATED = Path(__file__).resolve().parent / "data" / "tracks"
SPLITS = ("train", "heldout")
ID = re.compile(r"^[a-z0-9][a-z0-9._-]{0,79}$")
WORD = re.compile(r"\w+(?:['’-]\w+)*")


class Pair(BaseModel):
    """A context and the continuation the track says comes next (both may hold {filler} fields)."""

    context: str
    continuation: str


class Track(BaseModel):
    id: str = Field(description="short slug, unique across sources")
    title: str = ""
    kind: str = Field("pattern", description="reasoning, pattern, trace-path or graph-chain")
    source: str = Field("curated", description="curated, traces or graph")
    chain: list[str] = Field(description="the path of graph tokens the track follows")
    support: int = Field(0, description="answers (traces) or the weakest edge count (graph) behind it")
    templates: dict[str, list[Pair]] = Field(default_factory=dict, description="split -> context templates")
    fillers: dict[str, list[dict[str, str]]] = Field(default_factory=dict, description="split -> filler values")
    examples: dict[str, list[Pair]] = Field(default_factory=dict, description="split -> literal pairs (mined)")
    controls: list[str] = Field(default_factory=list, description="unrelated texts the track must not change")

    def summary(self) -> dict[str, Any]:
        sizes = {s: len(self.templates.get(s, [])) * len(self.fillers.get("train", [])) for s in SPLITS}
        return {
            "id": self.id,
            "title": self.title,
            "kind": self.kind,
            "source": self.source,
            "chain": self.chain,
            "support": self.support,
            "templates": {s: len(v) for s, v in self.templates.items()},
            "fillers": {s: len(v) for s, v in self.fillers.items()},
            "examples": {s: len(v) for s, v in self.examples.items()} or None,
            "pairs": sizes,
        }


def _parse(path: Path) -> Track:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) if path.suffix in (".yaml", ".yml") else None
        if data is None:
            data = json.loads(path.read_text(encoding="utf-8"))
        track = Track.model_validate(data)
    except (OSError, ValueError, yaml.YAMLError, ValidationError) as exc:
        raise AdapterError(f"{path}: not a valid track file ({exc})") from None
    if not ID.match(track.id):
        raise AdapterError(f"{path}: track id {track.id!r} must be a lowercase slug")
    return track


def mined_dir(home: Path) -> Path:
    return Workspace(home=Path(home)).tracks


def load_tracks(home: Path | None = None, extra: Iterable[Path] = ()) -> dict[str, Track]:
    """Curated tracks, then mined ones from the workspace, then any extra files; ids must be unique."""
    files = sorted(CURATED.glob("*.yaml"))
    if home is not None and mined_dir(home).is_dir():
        files += sorted(mined_dir(home).glob("*.json"))
    out: dict[str, Track] = {}
    for path in [*files, *extra]:
        if path.name == "controls.yaml":
            continue
        track = _parse(path)
        if track.id in out:
            raise AdapterError(f"two tracks share the id {track.id!r} ({path})")
        out[track.id] = track
    return out


def get_tracks(ids: Iterable[str], home: Path | None = None, extra: Iterable[Path] = ()) -> list[Track]:
    known = load_tracks(home, extra)
    missing = [i for i in ids if i not in known]
    if missing:
        raise AdapterError(f"unknown track {missing[0]!r}; known: {', '.join(sorted(known)) or 'none'}")
    return [known[i] for i in ids]


def save_mined(home: Path, tracks: list[Track]) -> list[Path]:
    folder = mined_dir(home)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for track in tracks:
        path = folder / f"{track.id}.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(track.model_dump_json(indent=1), encoding="utf-8")
        tmp.replace(path)
        paths.append(path)
    return paths


def _slug(words: list[str]) -> str:
    return re.sub(r"[^a-z0-9]+", "-", " ".join(words).lower()).strip("-")[:60] or "path"


def _split_examples(pairs: list[tuple[str, Pair]]) -> dict[str, list[Pair]]:
    """Every third source key is held out. Keys are the contexts themselves, so a context repeated in many
    answers can never sit on both sides."""
    sources = sorted({s for s, _ in pairs})
    held = {s for i, s in enumerate(sources) if i % 3 == 2}
    return {
        "train": [p for s, p in pairs if s not in held],
        "heldout": [p for s, p in pairs if s in held],
    }


def mine_traces(
    answers: list[tuple[str, str]], min_support: int = 3, min_len: int = 3, max_len: int = 6
) -> list[Track]:
    """Word sequences (min_len..max_len words) chosen in at least `min_support` distinct answers; only the
    longest of overlapping sequences with the same support is kept. `answers` are (id, text)."""
    answers = list({text: (answer_id, text) for answer_id, text in answers}.values())  # repeats count once
    seen: dict[tuple[str, ...], set[str]] = defaultdict(set)
    spans: dict[str, list[tuple[int, int, str]]] = {}
    for answer_id, text in answers:
        words = [(m.group(0).lower(), m.start(), m.end()) for m in WORD.finditer(text)]
        spans[answer_id] = words
        for n in range(min_len, max_len + 1):
            for i in range(len(words) - n + 1):
                seen[tuple(w for w, _, _ in words[i : i + n])].add(answer_id)
    frequent = {k: v for k, v in seen.items() if len(v) >= min_support}
    maximal = [
        k
        for k, v in frequent.items()
        if not any(len(o) > len(k) and len(frequent[o]) == len(v) and _contains(o, k) for o in frequent)
    ]
    texts = dict(answers)
    tracks = []
    for key in sorted(maximal, key=lambda k: (-len(frequent[k]), -len(k), k)):
        pairs: list[tuple[str, Pair]] = []
        for answer_id in sorted(frequent[key]):
            words = spans[answer_id]
            for i in range(len(words) - len(key) + 1):
                if tuple(w for w, _, _ in words[i : i + len(key)]) == key and i > 0:
                    text, cut = texts[answer_id], words[i][1]
                    end = words[i + len(key) - 1][2]
                    context = text[:cut].rstrip()
                    pairs.append((context, Pair(context=context, continuation=" " + text[cut:end])))
                    break
        split = _split_examples(pairs)
        if split["train"] and split["heldout"]:
            tracks.append(
                Track(
                    id=f"trace-{_slug(list(key))}",
                    title=" ".join(key),
                    kind="trace-path",
                    source="traces",
                    chain=list(key),
                    support=len(frequent[key]),
                    examples=split,
                )
            )
    return tracks


def _contains(longer: tuple[str, ...], shorter: tuple[str, ...]) -> bool:
    n = len(shorter)
    return any(longer[i : i + n] == shorter for i in range(len(longer) - n + 1))


def mine_graph(
    snap: Any, min_support: int = 3, starts: int = 2000, min_len: int = 3, max_len: int = 6, share: float = 0.5
) -> list[Track]:
    """Chains that follow each word's dominant `next` edge (≥ `share` of its out-weight, count ≥
    min_support), starting from the most frequent words; contexts are passages that contain the chain."""
    words = [
        (entry[3] if len(entry) > 3 else 0, nid) for nid, entry in enumerate(snap.vocab) if entry and entry[2] == "word"
    ]
    tracks, used = [], set()
    for _, start in sorted(words, reverse=True)[:starts]:
        chain, counts, passages, node = [snap.node(start).surface], [], None, start
        while len(chain) < max_len:
            nexts = snap.next(node, k=8)
            total = sum(n.weight for n in nexts)
            if not nexts or total <= 0 or nexts[0].weight / total < share or nexts[0].count < min_support:
                break
            best = nexts[0]
            chain.append(best.surface)
            counts.append(best.count)
            passages = set(best.passages) | (passages or set())  # provenance is capped per edge: union, then match
            node = best.id
        key = tuple(w.lower() for w in chain)
        if len(chain) < min_len or key in used or not passages:
            continue
        used.add(key)
        phrase = re.compile(r"\b" + r"\W+".join(map(re.escape, chain)) + r"\b", re.IGNORECASE)
        pairs = []
        for pid in sorted(passages):
            text = snap.passage(pid).text
            for found in phrase.finditer(text):  # every occurrence is a context
                cut = found.start() + len(chain[0])  # the context ends with the chain's first word
                if found.start() > 0:
                    pairs.append((text[:cut], Pair(context=text[:cut], continuation=text[cut : found.end()])))
        split = _split_examples(pairs)
        if split["train"] and split["heldout"]:
            tracks.append(
                Track(
                    id=f"graph-{_slug(chain)}",
                    title=" ".join(chain),
                    kind="graph-chain",
                    source="graph",
                    chain=chain,
                    support=min(counts),
                    examples=split,
                )
            )
    return tracks
