"""Immutable, versioned snapshots of the graph: what serving reads instead of the database.

A version folder holds CSR arrays per relation (rows sorted by weight, so top-k is a slice), the
vocabulary, the passages and a FAISS index, plus `manifest.json` with their checksums. `Snapshot.open`
resolves `current` once and memory-maps the arrays: a reader keeps the version it opened while newer ones
are published (by `publish.py`), and many processes share one copy in the page cache.
"""

from __future__ import annotations

import functools
import json
import mmap
import threading
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

from common import sha256_file

from .db import KEYED
from .embeddings import embed_texts
from .errors import NotFoundError, SnapshotError
from .lexical import FOLDER as LEXICAL
from .lexical import LexicalIndex, passage_text
from .snapshot_format import (
    BOTH,
    CSR_RELS,
    DIRECTION_BITS,
    FIELDS,
    LINK_DIR,
    TITLES,
    VERSION_RE,
    Manifest,
    check_model,
    current_folder,
    load_delta,
    version_name,
)
from .text import fold

_WAYS = {bits: way for way, bits in DIRECTION_BITS.items()}  # a link row's direction bits → its name
_EMPTY_I = np.zeros(0, dtype=np.int32)
_EMPTY_F = np.zeros(0, dtype=np.float32)
_EMPTY_I.setflags(write=False)
_EMPTY_F.setflags(write=False)


@dataclass(frozen=True, slots=True)
class Node:
    id: int
    key: str
    surface: str
    kind: str
    count: int


@dataclass(frozen=True, slots=True)
class Neighbor:
    """One successor; `passages` are up to PROV ids of passages that produced the edge (provenance)."""

    id: int
    key: str
    surface: str
    weight: float
    count: int
    passages: tuple[int, ...]
    direction: str = "out"  # a link: "out" (written from the asked node), "in" (a backlink) or "both"


@dataclass(frozen=True, slots=True)
class Passage:
    id: int
    title: str | None
    doc_id: str | None
    url: str | None
    text: str
    lang: str | None = None  # ISO 639-1, given or detected at ingest (None: published before languages)


@dataclass(frozen=True, slots=True)
class PassageHit:
    id: int
    score: float  # the fused retrieval score (what ranks the hits)
    title: str | None
    text: str
    dense: float | None = None  # cosine to the query, when the dense index ranked it
    lexical: float | None = None  # BM25, when the lexical index ranked it
    coverage: float = 0.0  # idf-weighted share of the question's terms the passage (and its title) holds
    names: float = 0.0  # share of the question's rare name-like words it holds (0 when the question has none)
    doc_id: str | None = None
    dense_searched: bool = True  # False: the embedding model does not know the question's language (words only)
    lang: str | None = None  # the passage's language
    stated: bool = False  # a fact a user stated, on what the question asks: it outranks older evidence
    subject: bool = False  # its document's title is all the question asks ("What is Macaque?": Macaque)


class Snapshot:
    """Read-only lookups on one published version; unknown words give empty results, not errors."""

    def __init__(self, folder: Path, manifest: Manifest) -> None:
        self.path, self.manifest, self.version = folder, manifest, manifest.version
        load = lambda name: np.load(folder / f"{name}.npy", mmap_mode="r")  # noqa: E731
        self._csr = {rel: {f: load(f"{rel}.{f}") for f in ("indptr", *FIELDS)} for rel in CSR_RELS}
        # which way each link row was written (snapshots before backlinks: unknown, taken as both)
        self._link_dir = np.load(folder / LINK_DIR, mmap_mode="r") if (folder / LINK_DIR).exists() else None
        self._keys: dict[str, np.ndarray] = {}
        for rel in KEYED:  # snapshots published before a keyed relation existed simply have none of it
            if (folder / f"{rel}.keys.npy").exists():
                self._csr[rel] = {f: load(f"{rel}.{f}") for f in ("indptr", *FIELDS)}
                self._keys[rel] = load(f"{rel}.keys")
        # node rows of the published version (a delta's words come after): its vocabulary's length, read
        # from the CSR index, so a reader that needs no words (a delta's publish) decodes none
        self.base_size = len(self._csr[CSR_RELS[0]]["indptr"]) - 1
        self._pids = load("passages.ids")
        self._offsets = load("passages.offsets")
        with open(folder / "passages.bin", "rb") as f:
            self._pbin = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) if self._offsets[-1] else b""
        self._faiss = None
        self._index_lock = threading.Lock()
        self._lexical: LexicalIndex | None = None
        self._delta_passages: dict[int, Passage] = {}
        self._delta_ids = np.zeros(0, dtype=np.int64)
        self._delta_vectors = np.zeros((0, 0), dtype=np.float32)
        self._removed: frozenset[int] = frozenset()  # published passages a delta replaced: never retrieved
        self.delta_passages = 0

    @classmethod
    def open(
        cls, path: Path | str, version: int | str | None = None, verify: bool = True, with_delta: bool = True
    ) -> Snapshot:
        """Open a version folder, or `version` / `current` of a snapshots folder (resolved once, here).

        Opened from a snapshots folder, the live delta over that version (small edits) is layered on top.
        """
        path = Path(path)
        snapshots_dir = None if (path / "manifest.json").exists() or VERSION_RE.match(path.name) else path
        if version is not None:
            folder = path / version_name(version)
            if not folder.is_dir():
                raise NotFoundError(f"{folder}: no such snapshot version")
        elif (path / "manifest.json").exists() or VERSION_RE.match(path.name):
            folder = path
        else:
            folder = current_folder(path)
        manifest = Manifest.load(folder)
        for name, digest in manifest.files.items():
            if not (folder / name).is_file():
                raise SnapshotError(f"{folder / name}: missing from snapshot {manifest.name}")
            if verify and sha256_file(folder / name) != digest:
                raise SnapshotError(f"{folder / name}: checksum mismatch (corrupt snapshot {manifest.name})")
        snap = cls(folder, manifest)
        if with_delta and snapshots_dir is not None and (delta := load_delta(snapshots_dir, manifest.version)):
            snap._layer(*delta)
        return snap

    @functools.cached_property
    def vocab(self) -> list[list | None]:
        """Per node id: [key, surface, kind, count] (None: no node), the published version's then a delta's."""
        return json.loads((self.path / "vocab.json").read_text(encoding="utf-8"))

    @functools.cached_property
    def _names(self) -> tuple[dict[str, int], dict[str, int]]:
        """(word key → node, concept key → node), aliases included."""
        words: dict[str, int] = {}
        concepts: dict[str, int] = {}
        for nid, entry in enumerate(self.vocab):
            if entry is not None:
                (concepts if entry[2] == "concept" else words).setdefault(entry[0], nid)
        for key, kind, nid in json.loads((self.path / "aliases.json").read_text(encoding="utf-8")):
            (concepts if kind == "concept" else words).setdefault(key, nid)
        return words, concepts

    @property
    def _words(self) -> dict[str, int]:
        return self._names[0]

    @property
    def _concepts(self) -> dict[str, int]:
        return self._names[1]

    @functools.cached_property
    def _titles(self) -> dict[str, int]:
        """A document's title → its first passage (snapshots published before titles: none)."""
        titles = self.path / TITLES
        return dict(json.loads(titles.read_text(encoding="utf-8"))) if titles.exists() else {}

    def _layer(self, doc: dict, vectors: np.ndarray) -> None:
        """Add a delta's words, passages and vectors (ids continue the base's, so nothing else moves) and
        hide the published passages it replaced."""
        check_model(self.manifest, doc.get("embedding_model", self.manifest.embedding_model), "its live delta")
        self._removed = frozenset(int(i) for i in doc.get("removed", ()))
        words, concepts = self._names  # the published version's names (and aliases) first
        self.vocab = list(self.vocab)
        for nid, key, surface, kind, count in doc["vocab"]:
            self.vocab.extend([None] * (nid + 1 - len(self.vocab)))
            self.vocab[nid] = [key, surface, kind, count]
            (concepts if kind == "concept" else words).setdefault(key, nid)
        self._delta_passages = {p["id"]: Passage(**p) for p in doc["passages"]}
        self._titles = {k: v for k, v in self._titles.items() if v not in self._removed}
        for p in sorted(self._delta_passages.values(), key=lambda p: p.id):
            if p.title:
                self._titles.setdefault(fold(p.title), p.id)
        self.__dict__.pop("_qualified", None)  # derived from the titles just changed
        self._delta_ids = np.array([p["id"] for p in doc["passages"]], dtype=np.int64)
        self._delta_vectors = vectors
        self.delta_passages = len(doc["passages"])

    def replaced(self, passage_id: int) -> bool:
        """A published passage the live delta replaced (a newer version of its document): never retrieved,
        still readable (edges name it as provenance until the next publish)."""
        return passage_id in self._removed

    def passage_ids(self) -> np.ndarray:
        """Ids of the published version's passages, ascending (a delta's are not among them)."""
        return self._pids

    def max_passage_id(self) -> int:
        base = int(self._pids[-1]) if len(self._pids) else 0
        return max(base, int(self._delta_ids.max())) if len(self._delta_ids) else base

    # -------------------------------------------------------------- vocabulary
    def word_id(self, word: str) -> int | None:
        return self._words.get(fold(word.strip()))

    def concept_id(self, title: str) -> int | None:
        return self._concepts.get(fold(title.strip()))

    def node(self, node_id: int) -> Node:
        entry = self.vocab[node_id] if 0 <= node_id < len(self.vocab) else None
        if entry is None:
            raise NotFoundError(f"no node {node_id} in snapshot {self.manifest.name}")
        return Node(node_id, *entry)

    def _id(self, word_or_id: str | int) -> int | None:
        if isinstance(word_or_id, str):
            return self.word_id(word_or_id)
        nid = int(word_or_id)
        return nid if 0 <= nid < len(self.vocab) and self.vocab[nid] is not None else None

    # -------------------------------------------------------------- relations
    def _row(self, rel: str, node_id: int | None, ctx: int | None = None) -> tuple[int, int]:
        if node_id is None:
            return 0, 0
        arrays = self._csr.get(rel)
        if arrays is None:
            return 0, 0
        if rel in KEYED:
            keys = self._keys[rel]
            if ctx is None:
                return 0, 0
            key = ctx * 2**32 + node_id
            i = int(np.searchsorted(keys, key))
            if i == len(keys) or keys[i] != key:
                return 0, 0
            node_id = i
        if not 0 <= node_id < len(arrays["indptr"]) - 1:
            return 0, 0
        return int(arrays["indptr"][node_id]), int(arrays["indptr"][node_id + 1])

    def successor_arrays(self, rel: str, node_id: int, ctx: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(dst ids, weights) of a row as read-only views, strongest first; `ctx` keys next2 and verdict."""
        if rel not in (*CSR_RELS, *KEYED):
            raise ValueError(f"unknown relation {rel!r}; expected one of {', '.join((*CSR_RELS, *KEYED))}")
        lo, hi = self._row(rel, node_id, ctx)
        if lo == hi:
            return _EMPTY_I, _EMPTY_F
        return self._csr[rel]["indices"][lo:hi], self._csr[rel]["weight"][lo:hi]

    def neighbors(self, word_or_id: str | int, rel: str, k: int = 10, direction: str = "both") -> list[Neighbor]:
        """Strongest neighbours over `rel`. A link can be asked by `direction`: "out" (what the note links
        to), "in" (what links to it: backlinks) or "both"; other relations are stored one way, as read
        ("both" and "out" give it; assoc is symmetric, a sequence's predecessors are not stored)."""
        if rel not in CSR_RELS:
            raise ValueError(f"unknown relation {rel!r}; expected one of {', '.join(CSR_RELS)} (or use next2)")
        if direction not in DIRECTION_BITS:
            raise ValueError(f"unknown direction {direction!r}; expected one of {', '.join(DIRECTION_BITS)}")
        lo, hi = self._row(rel, self._id(word_or_id))
        if rel != "link" and direction == "in":
            raise ValueError(f"a snapshot stores {rel} edges one way: direction 'in' is for links")
        if rel != "link" or DIRECTION_BITS[direction] == BOTH:
            return self._neighbors(rel, lo, hi, k)
        if self._link_dir is None:
            raise ValueError(f"snapshot {self.manifest.name} does not record link directions: publish again")
        rows = np.flatnonzero(np.asarray(self._link_dir[lo:hi]) & DIRECTION_BITS[direction]) + lo
        return [n for r in rows[: max(k, 0)].tolist() for n in self._neighbors(rel, r, r + 1, 1)]

    def next(self, word_or_id: str | int, k: int = 10) -> list[Neighbor]:
        return self.neighbors(word_or_id, "next", k)

    def assoc(self, word_or_id: str | int, k: int = 10) -> list[Neighbor]:
        return self.neighbors(word_or_id, "assoc", k)

    def links(self, word_or_id: str | int, k: int = 10) -> list[Neighbor]:
        """Linked nodes in either direction (a link is symmetric to a reader)."""
        return self.neighbors(word_or_id, "link", k)

    def next2(self, prev: str | int, word: str | int, k: int = 10) -> list[Neighbor]:
        """Successors of the word pair (prev, word): the order-2 transition."""
        ctx, src = self._id(prev), self._id(word)
        return self._neighbors("next2", *self._row("next2", src, ctx), k)

    def edge(self, rel: str, src: int, dst: int, ctx: int | None = None) -> Neighbor | None:
        """The one edge src → dst of `rel` (`ctx` keys next2 and verdict), wherever it ranks in its row: the
        trace names the edge behind a candidate without reading the whole row."""
        lo, hi = self._row(rel, src, ctx)
        at = np.flatnonzero(np.asarray(self._csr[rel]["indices"][lo:hi]) == dst) if hi > lo else ()
        return self._neighbors(rel, lo + int(at[0]), lo + int(at[0]) + 1, 1)[0] if len(at) else None

    def _neighbors(self, rel: str, lo: int, hi: int, k: int) -> list[Neighbor]:
        a = self._csr[rel]
        hi = min(hi, lo + max(k, 0))
        if rel != "link":
            ways = ["out"] * (hi - lo)
        elif self._link_dir is None:  # published before directions were recorded
            ways = ["both"] * (hi - lo)
        else:
            ways = [_WAYS[int(bits)] for bits in self._link_dir[lo:hi]]
        out = []
        for dst, w, c, prov, way in zip(
            a["indices"][lo:hi].tolist(),
            a["weight"][lo:hi].tolist(),
            a["count"][lo:hi].tolist(),
            a["prov"][lo:hi].tolist(),
            ways,
            strict=True,
        ):
            key, surface = (self.vocab[dst] or ["", ""])[:2]
            out.append(Neighbor(dst, key, surface, w, c, tuple(p for p in prov if p >= 0), way))
        return out

    # -------------------------------------------------------------- passages
    def passage(self, passage_id: int) -> Passage:
        if passage_id in self._delta_passages:
            return self._delta_passages[passage_id]
        i = int(np.searchsorted(self._pids, passage_id))
        if i == len(self._pids) or self._pids[i] != passage_id:
            raise NotFoundError(f"no passage {passage_id} in snapshot {self.manifest.name}")
        return Passage(**json.loads(self._pbin[int(self._offsets[i]) : int(self._offsets[i + 1])]))

    def titled(self, title: str) -> int | None:
        """The first passage of the document titled `title` (case-folded), or where none is, of the first
        whose title qualifies it in parentheses ("Western Front (World War I)" for "Western Front"), if any."""
        key = fold(title.strip())
        found = self._titles.get(key)
        return found if found is not None else self._qualified.get(key)

    @functools.cached_property
    def _qualified(self) -> dict[str, int]:
        """A title's form without its parenthesised qualifier → the first such document's first passage."""
        bases: dict[str, int] = {}
        for key, pid in sorted(self._titles.items()):
            if key.endswith(")") and " (" in key:
                bases.setdefault(key[: key.rindex(" (")].strip(), pid)
        return bases

    def nearest(self, text: str, k: int = 5) -> list[tuple[float, int]]:
        """(cosine, passage id) of the k passages nearest in meaning to `text`, best first (the published
        version's FAISS index plus the live delta's few vectors), the question embedded by the model that
        made the snapshot's vectors; the policy on top is `retrieval.search`."""
        if k <= 0 or len(self._pids) + len(self._delta_ids) == 0:
            return []
        query = embed_texts([text], progress=False, model=self.manifest.embedding_model)
        k_all = k + len(self._removed)  # replaced passages are dropped after the search
        nearest: list[tuple[float, int]] = []
        if len(self._pids):
            with self._index_lock:
                if self._faiss is None:
                    self._faiss = faiss.read_index(str(self.path / "passages.faiss"))
            scores, rows = self._faiss.search(query, k_all)
            nearest += [
                (s, int(self._pids[r]))
                for s, r in zip(scores[0].tolist(), rows[0].tolist(), strict=True)
                if r >= 0 and int(self._pids[r]) not in self._removed
            ]
        if len(self._delta_ids):  # a live delta: a handful of vectors, compared directly
            scores = self._delta_vectors @ query[0]
            nearest += [(float(scores[i]), int(self._delta_ids[i])) for i in np.argsort(-scores)[:k]]
        nearest.sort(key=lambda x: -x[0])
        return nearest[:k]

    def lexical_index(self) -> LexicalIndex | None:
        """The BM25 index of this version with the live delta's passages (None: published before it existed)."""
        if not (self.path / LEXICAL).is_dir():
            return None
        with self._index_lock:
            if self._lexical is None:
                index = LexicalIndex(self.path / LEXICAL)
                index.add_delta([(p.id, passage_text(p.title, p.text), p.lang) for p in self._delta_passages.values()])
                self._lexical = index
        return self._lexical

    def language_of(self, text: str) -> str | None:
        """`text`'s language, told among the graph's (None: a snapshot published before languages)."""
        index = self.lexical_index()
        return index.language(text) if index is not None else None

    def dense_covers(self, text: str) -> bool:
        """Whether the snapshot's embedding model is trained for `text`'s language (told among the graph's
        languages): an English-only model's vectors of a Russian question are noise."""
        covered = self.manifest.embedding_languages
        language = self.language_of(text) if covered is not None else None
        return language is None or language in covered

    def lexical_nearest(self, text: str, k: int = 5) -> list[tuple[float, int]]:
        """(BM25, passage id) of the k passages sharing the most telling words with `text`, best first."""
        index = self.lexical_index()
        if index is None or k <= 0:
            return []
        rows, delta = index.search(text, k + len(self._removed))
        found = [(s, int(self._pids[r])) for s, r in rows if int(self._pids[r]) not in self._removed] + delta
        found.sort(key=lambda x: -x[0])
        return found[:k]
