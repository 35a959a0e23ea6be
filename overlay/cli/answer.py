"""`overlay ask | chat | traces | explain | replay`: answers with their traces."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from ..config import RuntimeConfig
from ..explain import explain_steps
from ..feedback import record_feedback
from ..replay import replay as replay_answer
from ..traces import TraceStore
from ..workspace import Workspace, ensure_not_served
from .output import emit_json, err, handle_errors, out
from .selection import AdapterOption, runtime_for

traces_app = typer.Typer(help="List and show traced answers.", no_args_is_help=True)

Json = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON on stdout.")]
Model = Annotated[Path | None, typer.Option(help="A local Hugging Face model folder (default: bundled SmolLM2).")]


def _trace_adapter(trace: dict) -> str:
    """The registry name a trace's adapter label starts with ('none' when it had none)."""
    return (trace.get("adapter") or "none").split(" (")[0]


def _store() -> TraceStore:
    return TraceStore(Workspace().traces_db)


@handle_errors
def ask(
    prompt: str,
    as_json: Json = False,
    explain: Annotated[bool, typer.Option("--explain", help="Also explain the steps.")] = False,
    steps: Annotated[int | None, typer.Option(min=1, help="With --explain: only the first N steps.")] = None,
    model: Model = None,
    adapter: AdapterOption = None,
    max_words: Annotated[int, typer.Option(min=1)] = RuntimeConfig().max_words,
    temperature: Annotated[float, typer.Option(min=0.0)] = 0.0,
    seed: int = 0,
) -> None:
    """Answer one question; the answer is traced (see `overlay explain ID`)."""
    config = RuntimeConfig(max_words=max_words, temperature=temperature, seed=seed)
    runtime = runtime_for(Workspace(), model, adapter, config=config)
    answer = runtime.answer(prompt)
    store = _store()
    store.save(answer)
    trace = store.get(answer.id)
    if as_json:
        return emit_json(trace)
    out.print(answer.text)
    err.print(
        f"[dim]trace {answer.id} · {len(answer.steps)} steps · {answer.timings['words_per_s']:.1f} words/s · "
        f"snapshot v{answer.snapshot_version}[/]",
        markup=True,
    )
    if explain:
        out.print(explain_steps(trace, 0, steps))


@handle_errors
def chat(model: Model = None, adapter: AdapterOption = None) -> None:
    """A conversation that keeps its history; `/explain` explains the last answer, `/quit` ends."""
    runtime = runtime_for(Workspace(), model, adapter)
    store = _store()
    history: list[dict[str, str]] = []
    last: str | None = None
    while True:
        try:
            line = input("you> ").strip()
        except EOFError:
            break
        if line in ("/quit", "/exit"):
            break
        if line == "/explain":
            out.print(explain_steps(store.get(last)) if last else "nothing to explain yet")
            continue
        if not line:
            continue
        history.append({"role": "user", "content": line})
        answer = runtime.answer(history)
        store.save(answer)
        last = answer.id
        history.append({"role": "assistant", "content": answer.text})
        out.print(f"overlay> {answer.text}")


@traces_app.command("list")
@handle_errors
def traces_list(limit: Annotated[int, typer.Option(min=1)] = 20, as_json: Json = False) -> None:
    """Recent answers, newest first."""
    rows = _store().list(limit)
    if as_json:
        return emit_json(rows)
    table = Table("id", "when", "prompt", "answer", "snapshot")
    for r in rows:
        table.add_row(r["id"][:12], r["created_at"][:19], r["prompt"], r["text"], f"v{r['snapshot_version']}")
    out.print(table)


@traces_app.command("show")
@handle_errors
def traces_show(trace_id: str, as_json: Json = False) -> None:
    """One answer with every step."""
    trace = _store().get(trace_id)
    if as_json:
        return emit_json(trace)
    out.print(explain_steps(trace, top=3))


@handle_errors
def explain(
    trace_id: str,
    first: int = 0,
    last: int | None = None,
    top: Annotated[int, typer.Option(min=1)] = 5,
    html: Annotated[
        Path | None, typer.Option("--html", help="Write the interactive explanation page (offline HTML) here.")
    ] = None,
    as_json: Json = False,
) -> None:
    """Why each word won: candidates, score parts, LLM log-probs, edges and passages."""
    trace = _store().get(trace_id)
    if html is not None:
        from api.page import trace_page  # the CLI is the shell over every package; the page belongs to api
        from graph_store import Snapshot

        ws = Workspace()
        try:
            snap = Snapshot.open(ws.snapshots, version=trace["snapshot_version"], verify=False)
        except Exception:  # the page still shows the answer and its candidates without the snapshot
            snap = None
        html.write_text(trace_page(trace, snap), encoding="utf-8")
        err.print(f"wrote {html}")
        return None
    if as_json:
        return emit_json(trace["steps"][first:last])
    out.print(explain_steps(trace, first, last, top))


@handle_errors
def replay(trace_id: str, model: Model = None, as_json: Json = False) -> None:
    """Re-run an answer on its snapshot and config; exit 0 only if text and choices are identical."""
    trace = _store().get(trace_id)
    runtime = runtime_for(Workspace(), model, _trace_adapter(trace), version=trace["snapshot_version"], force=True)
    result = replay_answer(runtime, trace)
    if as_json:
        emit_json(result.__dict__)
    elif result.identical:
        out.print(f"identical: {result.text}")
    else:
        d = result.first_difference
        out.print(f"differs at step {d['step']}: traced {d['original']!r}, replayed {d['replayed']!r}")
    if not result.identical:
        raise typer.Exit(1)


@handle_errors
def feedback(
    trace_id: str,
    good: Annotated[bool, typer.Option("--good", help="The answer was right: reinforce its choices.")] = False,
    bad: Annotated[bool, typer.Option("--bad", help="The answer was wrong: weaken its choices.")] = False,
    step: Annotated[
        list[int] | None, typer.Option("--step", help="Only this step (repeatable); default: every step.")
    ] = None,
    note: Annotated[str | None, typer.Option(help="Why (kept in the edit log).")] = None,
    as_json: Json = False,
) -> None:
    """Rate an answer; the verdict goes into the graph's edit log and is live at the next publish."""
    if good == bad:
        err.print("[bold red]error:[/] say either --good or --bad", markup=True)
        raise typer.Exit(2)
    ensure_not_served(Workspace())
    result = record_feedback(Workspace().graph_db, _store().get(trace_id), 1 if good else -1, step or None, note)
    if as_json:
        return emit_json(result)
    out.print(
        f"edit {result['edit_id']}: {'reinforced' if good else 'weakened'} {result['paths']} choices of "
        f"{trace_id[:12]}; live after `overlay graph publish` (undo: `overlay graph undo {result['edit_id']}`)"
    )
