"""Retrieval policy: which passages a question gets, on top of the snapshot's nearest-passage lookup.

The best document's opening passage comes first when a later passage of it matched best (an article's
lead defines its subject), and a document's passages keep their own order.
"""

from __future__ import annotations

from .errors import NotFoundError
from .snapshot import Passage, PassageHit, Snapshot


def search(snap: Snapshot, text: str, k: int = 5) -> list[PassageHit]:
    """The k passages nearest in meaning to `text` (cosine), grouped by document, best document first.

    When the best passage is not its document's first, that opening passage comes too (k + 1 in all).
    """
    found: list[tuple[Passage, float]] = []
    extra = 0
    for score, pid in snap.nearest(text, k):
        p = snap.passage(pid)
        if not found and (first := lead(snap, p)).id != p.id:  # the best document's opening defines it
            found.append((first, score))
            extra = 1  # given on top of the k nearest
        if all(q.id != p.id for q, _ in found):
            found.append((p, score))
    found = found[: k + extra]
    hits = [PassageHit(p.id, score, p.title, p.text) for p, score in found]
    return in_document_order(hits, [p.doc_id or p.title or f"#{p.id}" for p, _ in found])


def lead(snap: Snapshot, p: Passage) -> Passage:
    """The first passage of p's document (passages of a document have consecutive ids)."""
    while p.doc_id is not None:
        try:
            prev = snap.passage(p.id - 1)
        except NotFoundError:
            break
        if prev.doc_id != p.doc_id:
            break
        p = prev
    return p


def in_document_order(hits: list[PassageHit], docs: list[str]) -> list[PassageHit]:
    """Documents by their best hit; a document's passages in its own order.

    A question about a thing is best met by the opening of its article, which defines it; a later passage
    of the same article may match the words better ("Munich is located on the Isar…") yet says less.
    """
    best: dict[str, int] = {}
    for rank, doc in enumerate(docs):
        best.setdefault(doc, rank)
    order = sorted(range(len(hits)), key=lambda i: (best[docs[i]], hits[i].id))
    return [hits[i] for i in order]
