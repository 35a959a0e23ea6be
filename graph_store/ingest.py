"""Ingest: documents → passages → tokens → recounted edges, in one DuckDB transaction.

Everything is parsed before anything is written; the write is a single transaction, so a bad input or a
kill -9 leaves the graph exactly as it was. A document with a stable identity (`Document.key`: a file by
its path, a JSONL line by its id, a note by its vault-relative path) is replaced by its new version, in
the same transaction (its curated edits are kept: they are replayed on the recount); one without is
known by its content hash. Either way, ingesting the same input twice changes nothing.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import duckdb
import numpy as np
from rich.console import Console
from rich.progress import Progress

from common import progress_bar

from . import text as textmod
from .counting import recount as recount_edges
from .curation import replay
from .db import END_ID, connect, set_stale, transaction
from .errors import IngestError
from .language import detect
from .readers import READERS, Document, read_lines, read_wiki, reader_for

TAG_PREFIX = "#"  # a note's tag is the concept "#tag", linked from the note
PASSAGE_WORDS = 100  # a passage is whole sentences, cut after about this many words
_SENTENCE_BREAK = re.compile(r"(?<=[.!?。！？])\s+|\n\s*\n")


@dataclass
class IngestSummary:
    documents: int
    skipped: int
    passages: int
    words: int
    new_nodes: int
    new_edges: int
    seconds: float
    phases: dict[str, float] = field(default_factory=dict)  # where the time went: read, tokenize+write, count, commit
    replaced: int = 0  # documents that were there in an older version (same key), now replaced by this one

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class _Source:
    name: str
    kind: str
    location: str
    docs: list[Document]


def chunk_passages(text: str, max_words: int = PASSAGE_WORDS) -> list[str]:
    """Group whole sentences into passages of about `max_words` words (retrieval and provenance units)."""
    passages: list[str] = []
    current: list[str] = []
    words = 0
    for sentence in _SENTENCE_BREAK.split(text):
        sentence = sentence.strip()
        if not sentence:
            continue
        n = max(len(sentence.split()), len(sentence) // 4 if not sentence.isascii() else 0)
        if current and words + n > max_words:
            passages.append(" ".join(current))
            current, words = [], 0
        current.append(sentence)
        words += n
    if current:
        passages.append(" ".join(current))
    return passages


def read_sources(
    paths: Sequence[Path | str],
    wiki: bool = False,
    exclude_titles: Path | None = None,
    source_name: str | None = None,
) -> list[_Source]:
    """Parse every input up front; any error here happens before the graph is touched."""
    excluded: list[str] = []
    if exclude_titles is not None:
        excluded = read_lines(Path(exclude_titles))
    skip = {t.casefold() for t in excluded}
    sources = []
    for raw in paths:
        path = Path(raw)
        kind = reader_for(path)
        docs = [d for d in READERS[kind](path) if (d.title or "").casefold() not in skip]
        sources.append(_Source(source_name or path.name, kind, str(path.resolve()), docs))
    if wiki:
        sources.append(_Source(source_name or "wiki", "wiki", "bundled:summaries_en-us", read_wiki(excluded)))
    if not sources:
        raise IngestError("ingest", "nothing to ingest: give paths, or the bundled wiki (setting `wiki`)")
    return sources


def _doc_hash(doc: Document) -> str:
    """Content address: title and text, and a note's aliases and tags when it has any (so editing only its
    front matter is a new version too)."""
    meta = f"\0{doc.aliases}\0{doc.tags}" if doc.aliases or doc.tags else ""
    return hashlib.sha256(f"{doc.title or ''}\0{doc.text}{meta}".encode()).hexdigest()


_PASSAGE_COLUMNS = (
    "id",
    "source_id",
    "doc_id",
    "title",
    "url",
    "ord",
    "text",
    "hash",
    "doc_hash",
    "n_tokens",
    "lang",
    "doc_key",
)


def _insert(con: duckdb.DuckDBPyConnection, table: str, columns: Sequence[str], rows: list[tuple]) -> None:
    """Bulk insert through a dict of numpy columns (DuckDB scans it directly; executemany is slow)."""
    if not rows:
        return
    frame = {}
    for name, col in zip(columns, zip(*rows, strict=True), strict=True):
        arr = np.array(col)
        frame[name] = arr if arr.dtype.kind in "iuf" else np.array(col, dtype=object)
    names = ", ".join(columns)
    con.execute(f"INSERT INTO {table} ({names}) SELECT {names} FROM frame")


class _Vocab:
    """Key → node id for this ingest, honouring merges (aliases) made by curation."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.ids = {(k, kind): i for i, k, kind in con.execute("SELECT id, key, kind FROM nodes").fetchall()}
        self.ids.update(
            {(k, kind): i for k, kind, i in con.execute("SELECT key, kind, node_id FROM aliases").fetchall()}
        )
        self.next_id = (con.execute("SELECT max(id) FROM nodes").fetchone()[0] or 0) + 1
        self.new: list[tuple[int, str, str, str]] = []

    def id(self, key: str, surface: str, kind: str) -> int:
        node = self.ids.get((key, kind))
        if node is None:
            node = self.ids[(key, kind)] = self.next_id
            self.next_id += 1
            self.new.append((node, key, surface, kind))
        return node


class _Known:
    """What the graph holds already: keyed documents by key (→ content hash), keyless ones by content."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.keys = dict(
            con.execute("SELECT DISTINCT doc_key, doc_hash FROM passages WHERE doc_key IS NOT NULL").fetchall()
        )
        self.keyless = {
            h for (h,) in con.execute("SELECT DISTINCT doc_hash FROM passages WHERE doc_key IS NULL").fetchall()
        }
        self.keyed_hashes = set(self.keys.values())

    def verdict(self, doc: Document, h: str) -> str:
        """What to do with a document: "skip" (held already), "replace" (held in another version) or "add"."""
        if doc.key is not None:
            return "add" if doc.key not in self.keys else "skip" if self.keys[doc.key] == h else "replace"
        return "skip" if h in self.keyless or h in self.keyed_hashes else "add"

    def hold(self, doc: Document, h: str) -> None:
        if doc.key is not None:
            self.keys[doc.key] = h
            self.keyed_hashes.add(h)
        else:
            self.keyless.add(h)


def _remove(con: duckdb.DuckDBPyConnection, keys: list[str], surfaces: defaultdict) -> None:
    """Delete the documents under `keys` (passages, tokens, links, front-matter aliases).

    Their written forms are counted back out of `surfaces`; their edges go at the recount that follows."""
    if not keys:
        return
    rows = con.execute(
        "SELECT id, text FROM passages WHERE doc_key IN (SELECT unnest(?::VARCHAR[]))", [keys]
    ).fetchall()
    ids = [pid for pid, _ in rows]
    forms = {(k, kind): i for i, k, kind in con.execute("SELECT id, key, kind FROM nodes").fetchall()}
    for _, chunk in rows:  # as `_write` counted them in
        toks = textmod.split(chunk)
        sents = textmod.sentences(toks)
        for pos, tok in enumerate(toks):
            if (node := forms.get((tok.key, tok.kind))) is not None:
                _tally(surfaces, node, tok.surface, _inside(sents, pos), -1)
    for table, col in (("tokens", "passage_id"), ("links", "passage_id"), ("passages", "id")):
        con.execute(f"DELETE FROM {table} WHERE {col} IN (SELECT unnest(?::INTEGER[]))", [ids])
    con.execute("DELETE FROM aliases WHERE doc_key IN (SELECT unnest(?::VARCHAR[]))", [keys])


def _inside(sents: list[int], pos: int) -> bool:
    """Not the first word of its sentence (a display form should not be a sentence-initial capital)."""
    return pos > 0 and sents[pos - 1] == sents[pos]


def _tally(surfaces: defaultdict, node: int, surface: str, inside: bool, step: int = 1) -> None:
    """Count a written form in (step 1) or back out (-1): [count, count inside a sentence]."""
    seen = surfaces[(node, surface)]
    seen[0] += step
    seen[1] += step * inside


def _detect_missing(con: duckdb.DuckDBPyConnection) -> None:
    """Documents ingested before languages were recorded get theirs (detected from their passages)."""
    rows = con.execute(
        "SELECT doc_hash, string_agg(text, ' ' ORDER BY id) FROM passages WHERE lang IS NULL GROUP BY doc_hash"
    ).fetchall()
    if not rows:
        return
    found = {"doc_hash": np.array([h for h, _ in rows], dtype=object)}
    found["lang"] = np.array([detect(text) for _, text in rows], dtype=object)
    con.register("_languages", found)
    try:
        con.execute(
            "UPDATE passages SET lang = l.lang FROM _languages l WHERE passages.doc_hash = l.doc_hash "
            "AND passages.lang IS NULL"
        )
    finally:
        con.unregister("_languages")


def _write(con: duckdb.DuckDBPyConnection, sources: list[_Source], progress: Progress | None) -> dict[str, int]:
    _detect_missing(con)
    known = _Known(con)
    passages, links, aliases = [], [], []
    surfaces: defaultdict[tuple[int, str], list[int]] = defaultdict(lambda: [0, 0])  # → [count, inside]
    tokens: list[tuple[int, int, int, int]] = []
    n = dict.fromkeys(("documents", "skipped", "replaced", "words"), 0)
    plan: list[tuple[_Source, list[tuple[Document, str]]]] = []
    replaced: list[str] = []
    last = {doc.key: id(doc) for src in sources for doc in src.docs if doc.key is not None}
    for src in sources:
        fresh = []
        for doc in src.docs:
            if doc.key is not None and last[doc.key] != id(doc):  # a later version comes in this same ingest
                n["skipped"] += 1
                continue
            h = _doc_hash(doc)
            verdict = known.verdict(doc, h)
            if verdict == "skip":
                n["skipped"] += 1
                continue
            if verdict == "replace":
                replaced.append(doc.key)
            known.hold(doc, h)
            fresh.append((doc, h))
        plan.append((src, fresh))
    n["replaced"] = len(replaced)
    pid = (con.execute("SELECT max(id) FROM passages").fetchone()[0] or 0) + 1  # ids are never reused
    # a short text ("The capital of Kenya is Cairo." reads as Kikuyu) leans to the graph's languages, so a
    # fact is stemmed as the questions about it will be
    held = {lang for (lang,) in con.execute("SELECT DISTINCT lang FROM passages WHERE lang IS NOT NULL").fetchall()}
    _remove(con, replaced, surfaces)
    vocab = _Vocab(con)  # after the removal: an alias the new version dropped no longer names the note
    for _, fresh in plan:  # titles and aliases first, so a link to a note's alias finds the note
        for doc, _ in fresh:
            if doc.title and (doc.links or doc.aliases or doc.tags):
                me = vocab.id(textmod.fold(doc.title), doc.title, "concept")
                for alias in doc.aliases:
                    vocab.ids.setdefault((textmod.fold(alias), "concept"), me)
                    aliases.append((textmod.fold(alias), "concept", me, doc.key))
    task = progress.add_task("tokenizing", total=sum(len(s.docs) for s in sources)) if progress else None
    for src, fresh in plan:
        if progress:
            progress.advance(task, len(src.docs) - len(fresh))
        if not fresh:
            continue
        sid = (con.execute("SELECT max(id) FROM sources").fetchone()[0] or 0) + 1
        con.execute(
            "INSERT INTO sources (id, name, kind, location) VALUES (?, ?, ?, ?)",
            [sid, src.name, src.kind, src.location],
        )
        for doc, h in fresh:
            n["documents"] += 1
            first_pid = pid
            lang = doc.lang or detect(doc.text, prefer=held)
            for ord_, chunk in enumerate(chunk_passages(doc.text)):
                toks = textmod.split(chunk)
                sents = textmod.sentences(toks)
                for pos, (tok, sent) in enumerate(zip(toks, sents, strict=True)):
                    node = vocab.id(tok.key, tok.surface, tok.kind)
                    _tally(surfaces, node, tok.surface, _inside(sents, pos))
                    tokens.append((pid, pos, node, sent))
                tokens.append((pid, len(toks), END_ID, sents[-1] if sents else 0))
                n["words"] += sum(t.is_word for t in toks)
                chash = hashlib.sha256(chunk.encode()).hexdigest()
                passages.append(
                    (pid, sid, doc.doc_id, doc.title, doc.url, ord_, chunk, chash, h, len(toks), lang, doc.key)
                )
                pid += 1
            if doc.title and (doc.links or doc.tags) and first_pid < pid:
                me = vocab.id(textmod.fold(doc.title), doc.title, "concept")
                targets = [*doc.links, *(TAG_PREFIX + tag for tag in doc.tags)]
                links.extend((first_pid, me, vocab.id(textmod.fold(t), t, "concept")) for t in targets)
            if progress:
                progress.advance(task)
    if progress:
        progress.update(task, description="writing")
    _insert(con, "passages", _PASSAGE_COLUMNS, passages)
    _insert(con, "tokens", ("passage_id", "pos", "node_id", "sent"), tokens)
    _insert(con, "nodes", ("id", "key", "surface", "kind"), vocab.new)
    _insert(
        con,
        "surfaces",
        ("node_id", "surface", "count", "inside"),
        [(n, s, c, inside) for (n, s), (c, inside) in surfaces.items()],
    )
    _insert(con, "links", ("passage_id", "src", "dst"), links)
    _insert(con, "aliases", ("key", "kind", "node_id", "doc_key"), aliases)
    return n | {"passages": len(passages), "new_nodes": len(vocab.new)}


def ingest_paths(
    db_path: Path | str,
    paths: Iterable[Path | str] = (),
    *,
    wiki: bool = False,
    exclude_titles: Path | None = None,
    source_name: str | None = None,
    progress: bool = True,
    recount: bool = True,
) -> IngestSummary:
    """Ingest files, note folders and/or the bundled wiki into the graph at `db_path`, all or nothing.

    `recount=False` (a small edit going live as a delta) leaves the edges for the next full publish.
    """
    start = time.perf_counter()
    sources = read_sources(list(paths), wiki, exclude_titles, source_name)
    phases = {"read": time.perf_counter() - start}
    con = connect(db_path)
    try:
        edges_before = con.execute("SELECT count(*) FROM edges").fetchone()[0]
        console = Console(stderr=True, quiet=not progress)
        with progress_bar(progress) as bar:
            with transaction(con):
                console.print(f"ingest: tokenizing {sum(len(s.docs) for s in sources)} documents")
                t = time.perf_counter()
                n = _write(con, sources, bar)
                phases["tokenize_write"] = time.perf_counter() - t
                changed = n["documents"] or n["replaced"]
                if changed and not recount:
                    set_stale(con, True)
                elif changed:
                    console.print(f"ingest: counting edges over {n['passages']} new passages")
                    bar.add_task("counting edges", total=None)
                    t = time.perf_counter()
                    recount_edges(con)
                    replay(con)
                    set_stale(con, False)
                    phases["count"] = time.perf_counter() - t
                t = time.perf_counter()
            phases["commit"] = time.perf_counter() - t
        edges_after = con.execute("SELECT count(*) FROM edges").fetchone()[0]
    finally:
        con.close()
    return IngestSummary(
        n["documents"],
        n["skipped"],
        n["passages"],
        n["words"],
        n["new_nodes"],
        edges_after - edges_before,
        round(time.perf_counter() - start, 3),
        {k: round(v, 3) for k, v in phases.items()},
        n["replaced"],
    )
