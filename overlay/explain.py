"""Explanations of traced answers: why each word won, in text (CLI); the API renders the same data as HTML."""

from __future__ import annotations

from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

from .accumulator import PARTS as PART_NAMES


def _edge_text(edge: dict[str, Any], passages: dict[int, str]) -> str:
    rel = edge["rel"]
    if rel == "copy":
        title = passages.get(edge["passage"], "")
        return f"copy of passage #{edge['passage']} {title} (word {edge['position']}, after {edge['match']} matching)"
    if rel == "activation":
        return f"active from {edge['from']}"
    if rel == "verdict":
        return f"users' verdict after {' '.join(edge['src'])} → {edge['dst']}: {edge['weight']:+.2f}"
    src = " ".join(edge["src"])
    return f"{rel} {src} → {edge['dst']} (w {edge['weight']:.2f}, ×{edge['count']}, passages {edge['passages']})"


def explain_steps(trace: dict[str, Any], first: int = 0, last: int | None = None, top: int = 5) -> Group:
    """Per word: the candidates it beat, their LLM log-prob and graph parts, and the edges behind the winner."""
    titles = {
        p["id"]: (p.get("title") or "") + (" (a fact you stated)" if p.get("fact") else "")
        for p in trace.get("passages") or []
    }
    beta = trace["config"]["beta"]
    blocks: list[Any] = [
        Text(
            f"answer {trace['id']} · snapshot v{trace['snapshot_version']} · model {trace['model_id']} · β = {beta}"
            + (f" · trust {trace['trust']:.2f}" if trace.get("trust") is not None else "")
            + (
                f" · llm weight {trace['llm_weight']:.2f} ({trace.get('language')}: not a language of the selector)"
                if (trace.get("llm_weight") or 1.0) < 1.0
                else ""
            )
            + (f" · asked: {trace['asked']}" if trace.get("asked") else "")
            + (f" · the LLM's drafted words allowed: {', '.join(trace['drafted'])}" if trace.get("drafted") else ""),
            style="bold",
        )
    ]
    for step in trace["steps"][first:last]:
        cands = step["candidates"]
        winner = cands[step["chosen"]]
        table = Table(
            title=f"step {step['step']}: …{step['context_tail'][-40:]} ▸ [bold]{winner['text']}[/]"
            + (" (speculative)" if step.get("speculative") else "")
            + (f" · trust {step['trust']:.2f}" if step.get("trust") is not None else ""),
            title_justify="left",
            show_edge=False,
        )
        shown = cands[:top] if winner in cands[:top] else [*cands[: top - 1], winner]
        parts = [p for p in PART_NAMES if any(c["parts"].get(p) for c in shown)]  # the parts that count here
        for col in ("", "candidate", "score", "llm", "β·g", *parts):
            table.add_column(col, justify="right" if col not in ("", "candidate") else "left")
        for c in shown:
            mark = "▶" if c is winner else ""
            table.add_row(
                mark,
                c["text"],
                f"{c['score']:.2f}",
                f"{c['llm']:.2f}",
                f"{beta * c['graph']:.2f}",
                *(f"{c['parts'].get(p, 0):.2f}" if c["parts"].get(p) else "" for p in parts),
            )
        lines = [Text("  " + _edge_text(e, titles), style="dim") for e in winner.get("edges", [])[:4]]
        blocks.append(Group(table, *lines, Text(f"  {step['n_candidates']:,} candidates scored", style="dim")))
    return Group(*blocks)
