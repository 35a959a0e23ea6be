"""`overlay ask | chat | traces | replay | feedback`: answers with their traces (`explain` is in `api.cli`:
its HTML page belongs to the API); `traces export` hands them to OpenTelemetry tools."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from common import BadInput

from ..config import RuntimeConfig, build_config
from ..explain import explain_steps
from ..feedback import record_feedback
from ..replay import replay as replay_answer
from ..replay import trace_adapter
from ..trace_export import DEFAULT_FORMAT, FORMATS, export_traces
from ..workspace import Workspace, ensure_not_served
from .options import Json, Model, runtime_options, selector_options
from .output import emit_json, err, handle_errors, out
from .selection import AdapterOption, runtime_for, store

traces_app = typer.Typer(help="List, show and export traced answers.", no_args_is_help=True)
Since = Annotated[
    str | None,
    typer.Option(
        help="Only answers saved since an ISO date or time (local unless it names its zone), or after a trace id."
    ),
]


@handle_errors
@runtime_options()
@selector_options()
def ask(
    prompt: str,
    as_json: Json = False,
    explain: Annotated[bool, typer.Option("--explain", help="Also explain the steps.")] = False,
    steps: Annotated[int | None, typer.Option(min=1, help="With --explain: only the first N steps.")] = None,
    model: Model = None,
    adapter: AdapterOption = None,
    selector: dict[str, Any] | None = None,
    settings: dict[str, Any] | None = None,
) -> None:
    """Answer one question; the answer is traced (see `overlay explain ID`)."""
    config = build_config(RuntimeConfig, settings or {})
    runtime = runtime_for(Workspace(), model, adapter, config=config, selector=selector)
    answer = runtime.answer(prompt)
    traces = store()
    traces.save(answer)
    trace = traces.get(answer.id)
    if as_json:
        return emit_json(trace)
    out.print(answer.text)
    err.print(
        f"[dim]trace {answer.id} · {len(answer.steps)} steps · {answer.timings['words_per_s']:.1f} words/s · "
        f"snapshot v{answer.snapshot_version} · trust {answer.trust:.2f}[/]",
        markup=True,
    )
    if explain:
        out.print(explain_steps(trace, 0, steps))


@handle_errors
@runtime_options()
@selector_options()
def chat(
    model: Model = None,
    adapter: AdapterOption = None,
    selector: dict[str, Any] | None = None,
    settings: dict[str, Any] | None = None,
) -> None:
    """A conversation that keeps its history; `/explain` explains the last answer, `/quit` ends."""
    runtime = runtime_for(
        Workspace(), model, adapter, config=build_config(RuntimeConfig, settings or {}), selector=selector
    )
    traces = store()
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
            out.print(explain_steps(traces.get(last)) if last else "nothing to explain yet")
            continue
        if not line:
            continue
        history.append({"role": "user", "content": line})
        answer = runtime.answer(history)
        traces.save(answer)
        last = answer.id
        history.append({"role": "assistant", "content": answer.text})
        out.print(f"overlay> {answer.text}")


@traces_app.command("list")
@handle_errors
def traces_list(limit: Annotated[int, typer.Option(min=1)] = 20, since: Since = None, as_json: Json = False) -> None:
    """Recent answers, newest first."""
    rows = store().list(limit, since)
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
    trace = store().get(trace_id)
    if as_json:
        return emit_json(trace)
    out.print(explain_steps(trace, top=3))


@traces_app.command("export")
@handle_errors
def traces_export(
    out_path: Annotated[str, typer.Argument(metavar="OUT", help="The file to write, or - for stdout.")],
    fmt: Annotated[
        str, typer.Option("--format", help="; ".join(f"{name}: {f.help}" for name, f in FORMATS.items()))
    ] = DEFAULT_FORMAT,
    since: Since = None,
    as_json: Json = False,
) -> None:
    """Answers as OpenTelemetry spans (GenAI conventions, OpenInference span kinds) for Langfuse, Phoenix or
    any OTLP collector, oldest first."""
    if as_json and out_path == "-":
        raise BadInput("OUT - writes the spans to stdout; --json would mix its summary into them")
    summary = export_traces(store(), out_path, fmt, since, progress=not as_json)
    if as_json:
        return emit_json(summary.to_dict())
    err.print(
        f"{summary.answers} answers, {summary.spans} spans → {summary.path} ({summary.format})"
        + (f"; next time: --since {summary.last_id}" if summary.last_id else "")
    )


@handle_errors
@selector_options()
def replay(trace_id: str, model: Model = None, as_json: Json = False, selector: dict[str, Any] | None = None) -> None:
    """Re-run an answer on its snapshot, config and adapter (by name; refused if its files changed since);
    exit 0 only if the written text and every choice are identical, else name the first differing step."""
    trace = store().get(trace_id)
    version = trace["snapshot_version"]
    runtime = runtime_for(Workspace(), model, trace_adapter(trace), version=version, force=True, selector=selector)
    result = replay_answer(runtime, trace)
    if as_json:
        emit_json(result.__dict__)
    elif result.identical:
        out.print(f"identical: {result.text}")
    else:
        d = result.first_difference
        out.print(
            f"differs at step {d['step']} ({d['field']}): traced {d['original']!r}, replayed {d['replayed']!r}",
            markup=False,
        )
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
        raise BadInput("say either --good or --bad")
    ensure_not_served(Workspace())
    result = record_feedback(Workspace().graph_db, store().get(trace_id), 1 if good else -1, step or None, note)
    if as_json:
        return emit_json(result)
    out.print(
        f"edit {result['edit_id']}: {'reinforced' if good else 'weakened'} {result['paths']} choices of "
        f"{trace_id[:12]}; live after `overlay graph publish` (undo: `overlay graph undo {result['edit_id']}`)"
    )
