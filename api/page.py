"""The explanation page: an answer whose every word opens the choice behind it.

Server-rendered and self-contained (inline CSS and script, no CDN), so it works offline and can be saved
as a file (`overlay explain ID --html OUT.html`). The trace is embedded as JSON; clicking or hovering a word
shows the candidates it beat with their score parts as bars, the LLM log-probs, the edges and source
passages behind them, and a small picture of the word's graph neighbourhood.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from graph_store import Snapshot

NEIGHBOURS = 8
ASSETS = Path(__file__).parent / "assets"
_STYLE = (ASSETS / "trace.css").read_text(encoding="utf-8")
_SCRIPT = (ASSETS / "trace.js").read_text(encoding="utf-8")
_PAGE = (ASSETS / "trace.html").read_text(encoding="utf-8")


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _passages(trace: dict[str, Any], snap: Snapshot | None) -> dict[int, dict[str, Any]]:
    """Every passage the page may cite: the retrieved ones, plus those behind the traced edges."""
    out = {int(p["id"]): {"title": p.get("title"), "text": p["text"]} for p in trace.get("passages") or []}
    if snap is None or snap.version != trace.get("snapshot_version"):
        return out
    wanted = {
        int(pid)
        for step in trace["steps"]
        for cand in step["candidates"]
        for edge in cand.get("edges", [])
        for pid in ([edge["passage"]] if "passage" in edge else edge.get("passages", []))
    }
    for pid in sorted(wanted - out.keys())[:200]:
        try:
            p = snap.passage(pid)
        except Exception:  # a passage the snapshot no longer has: the page says so
            continue
        out[pid] = {"title": p.title, "text": p.text}
    return out


def _neighbourhoods(trace: dict[str, Any], snap: Snapshot | None) -> dict[str, list[dict[str, Any]]]:
    """For each written word: its strongest `next` and `assoc` neighbours in the trace's snapshot."""
    if snap is None or snap.version != trace.get("snapshot_version"):
        return {}
    out: dict[str, list[dict[str, Any]]] = {}
    for step in trace["steps"]:
        word = step["text"]
        if not word or word in out:
            continue
        node = snap.word_id(word)
        if node is None:
            continue
        out[word] = [
            {"rel": rel, "word": n.surface, "weight": round(float(n.weight), 4)}
            for rel in ("next", "assoc")
            for n in snap.neighbors(node, rel, NEIGHBOURS // 2)
        ]
    return out


def trace_data(trace: dict[str, Any], snap: Snapshot | None) -> dict[str, Any]:
    return {
        "id": trace["id"],
        "text": trace["text"],
        "steps": [
            {k: s[k] for k in ("step", "context_tail", "chosen", "n_candidates", "text", "delta", "speculative")}
            | {"candidates": s["candidates"]}
            for s in trace["steps"]
        ],
        "passages": {str(k): v for k, v in _passages(trace, snap).items()},
        "neighbours": _neighbourhoods(trace, snap),
    }


def _prompt_text(prompt: Any) -> str:
    if isinstance(prompt, str):
        return prompt
    return "\n".join(f"{m.get('role')}: {m.get('content')}" for m in prompt or [])


def trace_page(trace: dict[str, Any], snap: Snapshot | None = None) -> str:
    data = json.dumps(trace_data(trace, snap), ensure_ascii=False).replace("</", "<\\/")
    words = "".join(
        f'<span class="w" tabindex="0" data-step="{i}">{_esc(s["delta"] or "∎")}</span>'
        for i, s in enumerate(trace["steps"])
    )
    cfg = trace.get("config") or {}
    meta = (
        f"trace <code>{_esc(trace['id'])}</code> · snapshot v{_esc(trace['snapshot_version'])} · "
        f"model {_esc(trace['model_id'])} · adapter {_esc(trace.get('adapter') or 'none')} · "
        f"{len(trace['steps'])} steps · finish {_esc(trace['finish_reason'])} · β = {_esc(cfg.get('beta'))}"
        + (f" · trust {trace['trust']:.2f}" if trace.get("trust") is not None else "")
    )
    return _PAGE.format(
        title=_esc(trace["text"][:60] or trace["id"]),
        prompt=_esc(_prompt_text(trace["prompt"])),
        meta=meta,
        words=words,
        data=data,
        style=_STYLE,
        script=_SCRIPT,
    )


def trace_list_page(rows: list[dict[str, Any]], link: Callable[[str], str]) -> str:
    """The recent answers, each linked to its page by `link(trace_id)` (signed on a keyed server)."""
    body = "".join(
        f'<tr><td><a href="{_esc(link(r["id"]))}">{_esc(r["id"][:12])}</a></td><td>{_esc(r["created_at"])}</td>'
        f"<td>{_esc(r['prompt'])}</td><td>{_esc(r['text'])}</td><td>v{_esc(r['snapshot_version'])}</td></tr>"
        for r in rows
    )
    return (
        f"<!doctype html><html lang=en><head><meta charset=utf-8><title>Overlay traces</title><style>{_STYLE}</style>"
        "</head><body><h1>Recent answers</h1><table class=list><thead><tr><th>trace</th><th>when</th><th>prompt</th>"
        f"<th>answer</th><th>snapshot</th></tr></thead><tbody>{body}</tbody></table></body></html>"
    )
