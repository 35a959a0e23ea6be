"""`overlay probe map|heads|patch|compare`: look inside the selector (or any local model) on a text."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer

from common import BadInput
from overlay import Workspace
from overlay.cli import emit_json, err, handle_errors, out, progress_bar

probe_app = typer.Typer(
    help="Probe a model's insides: response map, head classes, patching, comparison.", no_args_is_help=True
)

Json = Annotated[bool, typer.Option("--json", help="Print the report as JSON on stdout.")]
Models = Annotated[
    list[str] | None,
    typer.Option(
        "--model", help="A local Hugging Face model folder, or 'default' for the bundled SmolLM2 (repeat for two)."
    ),
]
Adapter = Annotated[str | None, typer.Option(help="A registry adapter to attach (compared against its base).")]
OutDir = Annotated[Path | None, typer.Option("--out", help="Report folder (default: OVERLAY_HOME/probes/KIND-TIME).")]
MaxTokens = Annotated[int, typer.Option(min=2, help="Refuse texts longer than this many tokens.")]


def _path(spec: str | None) -> Path | None:
    return None if spec in (None, "default", "bundled") else Path(spec)


def _text(text: str | None, file: Path | None) -> str:
    if (text is None) == (file is None):
        raise BadInput("give the text either as an argument or with --file, not both")
    if file is not None:
        try:
            return file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise BadInput(f"cannot read {file}: {exc}") from None
    return text or ""


def _out_dir(given: Path | None, kind: str) -> Path:
    return given or Workspace().probes / f"{kind}-{time.strftime('%Y%m%d-%H%M%S')}"


def _finish(report: dict[str, Any], folder: Path, as_json: bool, summary: list[str]) -> None:
    from ..probes import write_report

    index = write_report(report, folder)
    if as_json:
        return emit_json(
            {**report, "files": {"folder": str(folder), "index": str(index), "report": str(folder / "report.json")}}
        )
    for line in summary:
        out.print(line)
    out.print(f"report: {index}")


def _open(model: str | None, adapter: str | None) -> Any:
    from ..probes import open_probe

    with err.status("loading the model…"):
        return open_probe(_path(model), adapter, Workspace().home)


@probe_app.command("map")
@handle_errors
def map_(
    text: Annotated[str | None, typer.Argument(help="The text (or use --file).")] = None,
    file: Annotated[Path | None, typer.Option(help="Read the text from a file.")] = None,
    model: Models = None,
    adapter: Adapter = None,
    out_dir: OutDir = None,
    max_tokens: MaxTokens = 4096,
    window: Annotated[int, typer.Option(min=8, help="Tokens per forward pass; longer texts run in windows.")] = 512,
    as_json: Json = False,
) -> None:
    """Per token and layer: norms, drift, logit lens, surprisal and attention, as JSON, PNGs and a page."""
    from ..probes import response_map

    body = _text(text, file)
    models = model or [None]
    if len(models) > 2:
        raise BadInput("give at most two --model values")
    probe = _open(models[0], adapter)
    other = _open(models[1], None) if len(models) == 2 else (probe if adapter else None)
    with progress_bar(remaining=False, label="map") as progress:
        report = response_map(probe, body, other, max_tokens=max_tokens, window=window, progress=progress)
    tops = [t for t in report["logit_lens"]["first_top1"] if t is not None]
    _finish(
        report,
        _out_dir(out_dir, "map"),
        as_json,
        [
            f"{len(report['tokens'])} tokens through {probe.n_layers} layers of {probe.model_id}",
            f"next token right at the output for {len(tops)} positions; first stable top-1 at index "
            f"{sum(tops) / len(tops):.1f} on average"
            if tops
            else "the output never ranks the next token first",
        ],
    )


@probe_app.command("heads")
@handle_errors
def heads(
    model: Models = None,
    adapter: Adapter = None,
    random_init: Annotated[bool, typer.Option(help="Probe a randomly initialised twin (the chance baseline).")] = False,
    out_dir: OutDir = None,
    as_json: Json = False,
) -> None:
    """Previous-token, induction, duplicate-token and sink heads, from repeated random tokens."""
    from ..probes import head_classes, random_twin

    probe = _open((model or [None])[0], adapter)
    if random_init:
        probe = random_twin(probe)
    with err.status("running the detectors…"):
        report = head_classes(probe)
    lines = [
        f"{kind:<16} {report['counts'][kind]:>3} heads (threshold {report['thresholds'][kind]}): "
        + ", ".join(f"L{h['layer']}.H{h['head']}" for h in report["classes"][kind][:8])
        for kind in report["counts"]
    ]
    _finish(report, _out_dir(out_dir, "heads"), as_json, lines)


@probe_app.command("patch")
@handle_errors
def patch(
    clean: Annotated[str, typer.Option(help="The text whose answer is the target.")],
    corrupt: Annotated[str, typer.Option(help="The same text with a word changed (same token count).")],
    target: Annotated[str, typer.Option(help="The word the clean text should be followed by.")],
    model: Models = None,
    adapter: Adapter = None,
    out_dir: OutDir = None,
    as_json: Json = False,
) -> None:
    """Causal tracing: restore one hidden state of the clean run inside the corrupted run, everywhere."""
    from ..probes import patch as run_patch

    probe = _open((model or [None])[0], adapter)
    with progress_bar(remaining=False, label="patch") as progress:
        report = run_patch(probe, clean, corrupt, target, progress=progress)
    _finish(
        report,
        _out_dir(out_dir, "patch"),
        as_json,
        [
            f"log P({target!r}): clean {report['logprob_clean']:.3f}, corrupt {report['logprob_corrupt']:.3f}; "
            f"patching every index at the changed tokens restores {report['all_layers_at_differing']['restored']}",
        ],
    )


@probe_app.command("compare")
@handle_errors
def compare(
    text: Annotated[str | None, typer.Argument(help="The text (or use --file).")] = None,
    file: Annotated[Path | None, typer.Option(help="Read the text from a file.")] = None,
    model: Models = None,
    adapter: Adapter = None,
    max_tokens: MaxTokens = 4096,
    out_dir: OutDir = None,
    as_json: Json = False,
) -> None:
    """Two models on one text, aligned on words: --model A --model B, or one model against itself + --adapter."""
    from ..probes import compare as run_compare

    body = _text(text, file)
    models = model or []
    if len(models) == 2 and adapter is None:
        a, b = _open(models[0], None), _open(models[1], None)
    elif len(models) <= 1 and adapter is not None:
        a, b = _open(models[0] if models else None, None), _open(models[0] if models else None, adapter)
    else:
        raise BadInput("compare needs two sides: --model A --model B, or [--model A] --adapter NAME")
    with progress_bar(remaining=False, label="compare") as progress:
        report = run_compare(a, b, body, max_tokens=max_tokens, progress=progress)
    lines = [
        f"{side['model']['id']}: {side['mean_surprisal_per_word']} nats/word, emergence at "
        f"{side['emergence_depth_fraction']} of depth, heads {side['head_counts']}"
        for side in (report["a"], report["b"])
    ]
    lines += [f"  {row['word']!r}: {row['a']:.2f} vs {row['b']:.2f}" for row in report["disagreements"][:5]]
    _finish(report, _out_dir(out_dir, "compare"), as_json, lines)
