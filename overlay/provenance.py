"""Why a candidate scored what it did: the edges and passages behind each graph part, for the trace.

Only the traced candidates (the top `trace_k`) get these, each edge looked up by itself in its row.
"""

from __future__ import annotations

from typing import Any

from graph_store import Snapshot

from .accumulator import PARTS, Proposal
from .records import Candidate
from .scoring import written_text
from .state import AnswerState, Scored


def candidate(snap: Snapshot, node: int, state: AnswerState, sc: Scored) -> Candidate:
    parts = {name: float(sc.prop.parts[name][node]) for name in PARTS}
    return Candidate(
        node,
        written_text(state, node, sc) or "</s>",
        float(sc.llm[node]),
        parts,
        float(sc.g[node]),
        float(sc.score[node]),
        edges(snap, node, state, sc.prop, parts),
    )


def edges(
    snap: Snapshot, node: int, state: AnswerState, prop: Proposal, parts: dict[str, float]
) -> list[dict[str, Any]]:
    """The edges and passages behind a candidate's graph parts (for the trace and explanations)."""
    out: list[dict[str, Any]] = []
    if (source := prop.source(node)) is not None:
        pid, pos, length = source
        out.append({"rel": "copy", "passage": pid, "position": pos, "match": length})
    if parts["activation"]:
        out.extend({"rel": "activation", "from": why} for why in state.acc.sources.get(node, []))
    words, surfaces = state.words, state.lex.surfaces
    if parts["next"] and words:
        out.extend(_edge("next", snap.edge("next", words[-1], node), [surfaces[w] for w in words[-1:]]))
    if parts["next2"] and len(words) >= 2:
        edge = snap.edge("next2", words[-1], node, ctx=words[-2])
        out.extend(_edge("next2", edge, [surfaces[w] for w in words[-2:]]))
    if parts["verdict"]:
        ctx = ["</s>", "</s>", *(surfaces[w] for w in words)][-2:]
        out.append({"rel": "verdict", "src": ctx, "dst": surfaces[node], "weight": parts["verdict"]})
    return out


def _edge(rel: str, n: Any, src: list[str]) -> list[dict[str, Any]]:
    if n is None:
        return []
    return [
        {"rel": rel, "src": src, "dst": n.surface, "weight": n.weight, "count": n.count, "passages": list(n.passages)}
    ]
