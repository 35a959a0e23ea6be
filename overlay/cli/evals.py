"""`overlay eval next-word|recall` and `overlay bench speed`: the runtime measured against the LLM alone."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer

from common import BadInput
from selector import SelectorConfig, load_backend

from .. import evaluate
from ..config import RuntimeConfig, build_config
from ..edits import edits as run_edits
from ..edits import sequential as run_sequential
from ..runtime import Runtime
from ..speed import SPEED_PROMPTS, TimedBackend
from ..speed import speed as bench_speed
from ..traces import TraceStore
from ..workspace import Workspace
from .options import Half, Json, Model, runtime_options, selector_options
from .output import emit_json, handle_errors, out
from .output import progress_bar as _progress
from .selection import AdapterOption, runtime_for

eval_app = typer.Typer(help="Measure the overlay against the LLM alone.", no_args_is_help=True)
bench_app = typer.Typer(help="Benchmarks (side by side, same process).", no_args_is_help=True)


def _report(result: dict[str, Any], as_json: bool, keys: list[tuple[str, str]]) -> None:
    if as_json:
        return emit_json(result)
    for label, path in keys:
        value: Any = result
        for part in path.split("."):
            value = value[part]
        out.print(f"{label:<28} {value:.3f}" if isinstance(value, float) else f"{label:<28} {value}")


@eval_app.command("next-word")
@handle_errors
@runtime_options()
@selector_options()
def next_word(
    file: Path,
    max_positions: Annotated[int, typer.Option(min=1)] = 400,
    which: Half = "all",
    model: Model = None,
    adapter: AdapterOption = None,
    as_json: Json = False,
    selector: dict[str, Any] | None = None,
    settings: dict[str, Any] | None = None,
) -> None:
    """Next word of held-out text: overlay vs the LLM's greedy word vs the graph alone."""
    docs = evaluate.half(evaluate.read_jsonl(file, ("text",)), which)
    runtime = runtime_for(
        Workspace(), model, adapter, config=build_config(RuntimeConfig, settings or {}), selector=selector
    )
    with _progress("next-word") as progress:
        result = evaluate.next_word(runtime, docs, max_positions, progress=progress)
    _report(
        result,
        as_json,
        [
            ("positions", "positions"),
            ("overlay top1", "overlay.top1"),
            ("llm_only top1", "llm_only.top1"),
            ("graph_only top1", "graph_only.top1"),
            ("candidate recall (all)", "candidate_recall.all"),
            ("ms per position", "overlay.ms_per_pos"),
        ],
    )


@eval_app.command("recall")
@handle_errors
@runtime_options()
@selector_options()
def recall(
    file: Path,
    details: Annotated[bool, typer.Option("--details", help="List each question with every system's answer.")] = False,
    which: Half = "all",
    model: Model = None,
    adapter: AdapterOption = None,
    as_json: Json = False,
    selector: dict[str, Any] | None = None,
    settings: dict[str, Any] | None = None,
) -> None:
    """Knowledge questions: overlay vs LLM alone vs RAG (same LLM, retrieved passages in its prompt)."""
    rows = evaluate.half(evaluate.read_jsonl(file, ("question", "answers")), which)
    runtime = runtime_for(
        Workspace(), model, adapter, config=build_config(RuntimeConfig, settings or {}), selector=selector
    )
    with _progress("recall") as progress:
        result = evaluate.recall(runtime, rows, progress=progress)
    if not details:
        result.pop("details")
    _report(
        result,
        as_json,
        [
            ("questions", "n"),
            ("overlay accuracy", "overlay.accuracy"),
            ("llm_only accuracy", "llm_only.accuracy"),
            ("rag accuracy", "rag.accuracy"),
            ("overlay first sentence", "overlay.first_sentence"),
            ("llm_only first sentence", "llm_only.first_sentence"),
            ("rag first sentence", "rag.first_sentence"),
            ("overlay loops", "overlay.loops"),
            ("llm_only loops", "llm_only.loops"),
            ("overlay stitched", "overlay.stitched"),
        ],
    )
    if details and not as_json:
        for d in result["details"]:
            out.print(f"\n[bold]{d['question']}[/] ({', '.join(d['answers'])})")
            for name in ("overlay", "llm_only", "rag"):
                mark = "✓" if d[name]["correct"] else "✗"
                out.print(f"  {mark} {name:<8} {d[name]['text']}")


@eval_app.command("prompts")
@handle_errors
@runtime_options()
@selector_options()
def prompts(
    file: Path,
    details: Annotated[bool, typer.Option("--details", help="Each prompt with every system's reply.")] = False,
    which: Half = "all",
    model: Model = None,
    adapter: AdapterOption = None,
    as_json: Json = False,
    selector: dict[str, Any] | None = None,
    settings: dict[str, Any] | None = None,
) -> None:
    """Everyday prompts (JSONL: prompt, kind, any, within): overlay vs LLM alone vs RAG, pass rate by kind."""
    rows = evaluate.half(evaluate.read_jsonl(file, ("prompt", "kind", "any", "within")), which)
    runtime = runtime_for(
        Workspace(), model, adapter, config=build_config(RuntimeConfig, settings or {}), selector=selector
    )
    with _progress("prompts") as progress:
        result = evaluate.prompts(runtime, rows, progress=progress)
    if not details:
        result.pop("details")
    keys = [("prompts", "n")] + [(f"{name} all", f"{name}.all") for name in evaluate.SYSTEMS]
    keys += [(f"{name} {kind}", f"{name}.{kind}") for kind in result["kinds"] for name in evaluate.SYSTEMS]
    _report(result, as_json, keys + [("overlay stitched", "overlay.stitched")])
    if details and not as_json:
        for d in result["details"]:
            out.print(f"\n[bold]{d['prompt']}[/] ({d['kind']})")
            for name in evaluate.SYSTEMS:
                out.print(f"  {'✓' if d[name]['passed'] else '✗'} {name:<8} {d[name]['text']}")


SEQUENTIAL_MEASURES = ("efficacy", "paraphrase", "specificity")  # reported live and after the publish


@eval_app.command("edits")
@handle_errors
@runtime_options()
@selector_options()
def edits(
    files: Annotated[list[Path], typer.Argument(help="Edit files (JSONL); lines of several are taken in turn.")],
    details: Annotated[bool, typer.Option("--details", help="Each fact with every system's answers.")] = False,
    limit: Annotated[int | None, typer.Option(min=1, help="Only the first N lines.")] = None,
    sequential: Annotated[
        bool,
        typer.Option("--sequential", help="All facts live in one workspace, one after another, then every question."),
    ] = False,
    scale: Annotated[
        int, typer.Option(min=0, help="With --sequential: this many invented facts (seeded) go live as well.")
    ] = 0,
    seed: Annotated[int, typer.Option(help="With --sequential: the padding facts and the order of all facts.")] = 0,
    which: Half = "all",
    model: Model = None,
    adapter: AdapterOption = None,
    as_json: Json = False,
    selector: dict[str, Any] | None = None,
    settings: dict[str, Any] | None = None,
) -> None:
    """Knowledge edits: ingest each fact live (a delta, in a scratch copy), then ask, paraphrase, controls."""
    required = ("fact", "question", "paraphrase", "answers", "controls")
    rows = [row for file in files for row in evaluate.half(evaluate.read_jsonl(file, required), which)][:limit]
    if scale and not sequential:
        raise BadInput("--scale pads a --sequential run; add --sequential", param="scale")
    ws = Workspace()
    config = build_config(RuntimeConfig, settings or {})
    runtime = runtime_for(ws, model, adapter, config=config, selector=selector)
    if sequential:
        with _progress("sequential edits") as progress:
            result = run_sequential(runtime, ws, rows, scale, seed, progress=progress, details=details)
        prefixes = [("", "live"), ("after_publish.", "after publish")]
        _report(
            result,
            as_json,
            [("facts asked", "n"), ("facts live", "live_facts")]
            + [(f"{when} {m}", f"{at}overlay.{m}") for at, when in prefixes for m in SEQUENTIAL_MEASURES]
            + [(f"edit seconds {k} {p}", f"edit_seconds{k}.{p}") for k in ("_start", "_end") for p in ("p50", "p95")]
            + [("publish seconds", "after_publish.publish_seconds")],
        )
        if details and not as_json:
            for d in result["details"]["live"]:
                out.print(f"\n[bold]{d['fact']}[/]\n  question:   {d['question']}\n  paraphrase: {d['paraphrase']}")
        return
    with _progress("edits") as progress:
        result = run_edits(runtime, ws, rows, progress=progress, details=details)
    overriding = evaluate.SYSTEMS if "contradicting" in result else ()  # lines that name the `old` answer
    _report(
        result,
        as_json,
        [
            ("facts", "n"),
            ("overlay efficacy", "overlay.efficacy"),
            ("overlay paraphrase", "overlay.paraphrase"),
            ("overlay specificity", "overlay.specificity"),
            ("rag efficacy", "rag.efficacy"),
            ("rag paraphrase", "rag.paraphrase"),
            ("llm_only efficacy", "llm_only.efficacy"),
            *[(f"{system} override", f"{system}.override") for system in overriding],
            ("edit seconds p50", "edit_seconds.p50"),
            ("edit seconds p95", "edit_seconds.p95"),
        ],
    )


@bench_app.command("speed")
@handle_errors
@runtime_options()
@selector_options()
def speed(
    prompts: Annotated[
        Path | None, typer.Option(help="JSONL with 'question' (default: the first 20 dev recall questions, bundled).")
    ] = None,
    n: Annotated[int, typer.Option(min=1, help="How many prompts.")] = 20,
    model: Model = None,
    gguf: Annotated[
        Path | None, typer.Option(help="The GGUF that llama.cpp runs (default: the bundled SmolLM2's).")
    ] = None,
    adapter: AdapterOption = None,
    as_json: Json = False,
    selector: dict[str, Any] | None = None,
    settings: dict[str, Any] | None = None,
) -> None:
    """Words/s of the overlay against plain `generate` (torch), prompt-lookup decoding and llama.cpp's
    greedy decoding, same prompts, same word budget, one process. The overlay runs on hf and llamacpp (and
    remote, with --selector-url), or only on --backend; each backend's ms per step is split into LLM and graph."""
    path = prompts or SPEED_PROMPTS
    questions = [r["question"] for r in evaluate.read_jsonl(path, ("question",))][:n]
    config = build_config(RuntimeConfig, settings or {})
    given = selector or {}
    engine = build_config(SelectorConfig, given)
    names = (
        [given["backend"]] if "backend" in given else ["hf", "llamacpp"] + (["remote"] if engine.selector_url else [])
    )
    ws = Workspace()
    hf = runtime_for(ws, model, adapter, config=config, selector=given | {"backend": "hf"})
    cpp = load_backend(gguf, None, engine.model_copy(update={"backend": "llamacpp"}))
    overlays = {}
    for name in names:
        backend = {"hf": hf.backend, "llamacpp": cpp}.get(name)
        if backend is None:
            backend = load_backend(
                gguf if name == "remote" else model, None, engine.model_copy(update={"backend": name})
            )
        overlays[name] = Runtime(hf.snap, TimedBackend(backend), config)
    with tempfile.TemporaryDirectory() as tmp, _progress("speed") as progress:
        store = TraceStore(Path(tmp) / "traces.duckdb")
        result = bench_speed(hf, cpp, overlays, questions, progress=progress, traces=store)
        store.close()
    rows = [
        ("plain_generate words/s", "plain_generate.words_per_s"),
        ("prompt_lookup words/s", "prompt_lookup.words_per_s"),
        ("llamacpp_generate words/s", "llamacpp_generate.words_per_s"),
        ("llamacpp_rag_generate words/s", "llamacpp_rag_generate.words_per_s"),
    ]
    for name in overlays:
        rows += [
            (f"overlay {name} words/s", f"overlay.{name}.words_per_s"),
            (f"overlay {name} ms/step llm", f"overlay.{name}.ms_per_step_llm"),
            (f"overlay {name} ms/step graph", f"overlay.{name}.ms_per_step_graph"),
            (f"overlay {name} ms/answer prepare", f"overlay.{name}.prepare_ms_per_answer"),
            (f"overlay {name} ms/answer prefill", f"overlay.{name}.prefill_ms_per_answer"),
        ]
    rows += [(k, k) for k in ("ratio_words", "ratio_vs_prompt_lookup", "ratio_vs_llamacpp") if result[k] is not None]
    _report(result, as_json, rows + [("trace cost (share)", "trace_cost")])
