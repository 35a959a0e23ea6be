"""Traces leave the process: each traced answer as OpenTelemetry spans, for Langfuse, Arize Phoenix or any
OTLP collector (`overlay traces export`).

One OTel trace per answer, its trace id the answer's id (a uuid4's 128 bits), so both tools name it alike:

    overlay.answer      CHAIN      question → text; gen_ai.* (model, usage, finish reason, response id)
    ├─ overlay.retrieve RETRIEVER  the passages as OpenInference's flattened retrieval.documents.{i}.document.*
    └─ overlay.step ×N  CHAIN      one per written word: the word, its trust, candidates, score parts, edges

Names follow the OpenTelemetry GenAI semantic conventions and OpenInference (span kinds, input/output
values, retrieval documents); what no convention covers sits under `overlay.`, lists of records as JSON
strings, since attributes cannot nest. A step is a CHAIN, not an LLM span: it is the runtime's choice
over graph parts and one next-token row, not a model call with messages and tokens of its own, and the
tools count every LLM span as a generation (calls, tokens, cost), so N of them would count one answer N
times; the answer's model and usage sit on the root, where Langfuse reads them as its generation.

Times: the trace keeps when the answer was saved, how long it took and how long retrieval + prefill took,
not each step's time. So the answer ends when it was saved, `overlay.retrieve` spans retrieval + prefill,
and the steps share the rest evenly, in order, inside the root.

The spans are the SDK's `ReadableSpan`s built from the record (span ids are hashes of the answer id and the
span's place, so exporting twice gives the same ids), encoded by the SDK's OTLP JSON encoder
(`opentelemetry-exporter-otlp-json-common`): hex ids, int64 as strings, enums as numbers, as OTLP/JSON
requires (protobuf's generic JSON mapping writes ids in base64, which OTLP/JSON does not accept).
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from opentelemetry.exporter.otlp.json.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import OTELResourceDetector, Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, TraceFlags

from common import BadInput, progress_bar, write_atomic

from .accumulator import PARTS
from .prompting import question_of
from .traces import TraceStore

SCOPE = InstrumentationScope("overlay.trace_export", "1")
KIND = "openinference.span.kind"


@dataclass(frozen=True)
class Format:
    encode: Callable[[list[list[ReadableSpan]]], str]  # spans per answer → the file's text
    help: str


def _otlp_json(answers: list[list[ReadableSpan]]) -> str:
    return encode_spans([span for spans in answers for span in spans]).to_json() + "\n"


def _jsonl(answers: list[list[ReadableSpan]]) -> str:
    return "".join(encode_spans(spans).to_json() + "\n" for spans in answers)


FORMATS: dict[str, Format] = {
    "otlp-json": Format(_otlp_json, "one OTLP/JSON ExportTraceServiceRequest: the body of a POST to /v1/traces"),
    "jsonl": Format(
        _jsonl, "one OTLP/JSON request per answer per line (the OTLP file exporter's format, read by otlpjsonfile)"
    ),
}
DEFAULT_FORMAT = "otlp-json"


@dataclass
class ExportSummary:
    answers: int
    spans: int
    format: str
    path: str  # "-": stdout
    last_id: str | None  # the newest answer written: `since` for the next export

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def export_traces(
    store: TraceStore, out: Path | str, fmt: str = DEFAULT_FORMAT, since: str | None = None, progress: bool = False
) -> ExportSummary:
    """Write the answers saved `since` on (a trace id: after it; an ISO date or time: from then on; None:
    all), oldest first, as OpenTelemetry spans to `out` (a file, written atomically, or "-" for stdout)."""
    if fmt not in FORMATS:
        raise BadInput(f"format: {fmt!r} is not one of {', '.join(FORMATS)}", param="format")
    path = None if str(out) == "-" else Path(out)
    if path is not None and path.is_dir():
        raise BadInput(f"out: {path} is a folder; give a file to write", param="out")
    if path is not None and not path.parent.is_dir():
        raise BadInput(f"out: the folder {path.parent} does not exist", param="out")
    rows = store.ids(since)
    resource = service_resource()
    answers: list[list[ReadableSpan]] = []
    with progress_bar(progress) as bar:
        task = bar.add_task("exporting traces", total=len(rows))
        for answer_id, saved_ns in rows:
            answers.append(answer_spans(store.get(answer_id), saved_ns, resource))
            bar.advance(task)
    text = FORMATS[fmt].encode(answers)
    if path is None:
        sys.stdout.write(text)
    else:
        try:
            write_atomic(path, text)
        except OSError as exc:
            raise BadInput(f"out: cannot write {path}: {exc.strerror or exc}", param="out") from None
    return ExportSummary(len(rows), sum(map(len, answers)), fmt, str(out), rows[-1][0] if rows else None)


def service_resource() -> Resource:
    """`service.name` overlay, overridden or added to by OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES (e.g.
    `openinference.project.name=…`, Phoenix's project); no random `service.instance.id`, unlike
    `Resource.create`, so the same traces export to the same bytes."""
    return Resource({"service.name": "overlay"}).merge(OTELResourceDetector().detect())


def answer_spans(trace: dict[str, Any], saved_ns: int, resource: Resource | None = None) -> list[ReadableSpan]:
    """One answer's spans (root first), from its trace (`TraceStore.get`) and when it was saved."""
    resource = resource or service_resource()
    answer_id, timings, steps = trace["id"], trace.get("timings") or {}, trace["steps"]
    trace_id = int(answer_id, 16) if re.fullmatch(r"[0-9a-f]{32}", answer_id) else 0
    trace_id = trace_id or int.from_bytes(hashlib.sha256(answer_id.encode()).digest()[:16], "big")
    start = saved_ns - int(float(timings.get("seconds") or 0) * 1e9)
    prefilled = min(saved_ns, start + int(float(timings.get("prefill_seconds") or 0) * 1e9))
    bounds = [prefilled + (saved_ns - prefilled) * i // max(len(steps), 1) for i in range(len(steps) + 1)]

    def span(
        name: str, place: str, begin: int, end: int, attributes: dict[str, Any], parent: SpanContext | None = None
    ) -> ReadableSpan:
        digest = hashlib.sha256(f"{answer_id}/{place}".encode()).digest()[:8]
        context = SpanContext(trace_id, int.from_bytes(digest, "big") or 1, False, TraceFlags(TraceFlags.SAMPLED))
        attributes = {k: v for k, v in attributes.items() if v is not None}
        return ReadableSpan(
            name, context, parent, resource, attributes, start_time=begin, end_time=end, instrumentation_scope=SCOPE
        )

    root = span("overlay.answer", "answer", start, saved_ns, _answer_attributes(trace))
    parent = root.context
    spans = [root, span("overlay.retrieve", "retrieve", start, prefilled, _retrieval_attributes(trace), parent)]
    for i, step in enumerate(steps):
        spans.append(span("overlay.step", f"step/{i}", bounds[i], bounds[i + 1], _step_attributes(step), parent))
    return spans


def _answer_attributes(trace: dict[str, Any]) -> dict[str, Any]:
    prompt, usage, timings = trace["prompt"], trace.get("usage") or {}, trace.get("timings") or {}
    return {
        KIND: "CHAIN",
        "input.value": prompt if isinstance(prompt, str) else json.dumps(prompt, ensure_ascii=False),
        "input.mime_type": "text/plain" if isinstance(prompt, str) else "application/json",
        "output.value": trace["text"],
        "output.mime_type": "text/plain",
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "overlay",
        "gen_ai.system": "overlay",  # the older name of gen_ai.provider.name, which some tools still read
        "gen_ai.request.model": trace["model_id"],
        "gen_ai.response.model": trace["model_id"],
        "gen_ai.response.id": trace["id"],
        "gen_ai.response.finish_reasons": [trace["finish_reason"]],
        "gen_ai.usage.input_tokens": usage.get("prompt_tokens"),
        "gen_ai.usage.output_tokens": usage.get("completion_tokens"),
        "overlay.steps": len(trace["steps"]),
        "overlay.snapshot_version": trace["snapshot_version"],
        "overlay.model_checksum": trace["model_checksum"],
        "overlay.adapter": trace.get("adapter"),
        "overlay.adapter_name": trace.get("adapter_name"),
        "overlay.adapter_verified": trace.get("adapter_verified"),
        "overlay.adapter_checksum": trace.get("adapter_checksum"),
        "overlay.trust": trace.get("trust"),
        "overlay.llm_weight": trace.get("llm_weight"),
        "overlay.language": trace.get("language"),
        "overlay.asked": trace.get("asked"),
        "overlay.drafted": trace.get("drafted"),
        "overlay.config": json.dumps(trace["config"], ensure_ascii=False),
        **{f"overlay.timings.{k}": v for k, v in timings.items()},
    }


def _retrieval_attributes(trace: dict[str, Any]) -> dict[str, Any]:
    attributes: dict[str, Any] = {KIND: "RETRIEVER", "input.value": question_of(trace["prompt"])}
    for i, p in enumerate(trace.get("passages") or []):
        doc, own = f"retrieval.documents.{i}.document", f"overlay.documents.{i}"
        attributes |= {
            f"{doc}.id": p["id"],
            f"{doc}.content": p.get("text"),
            f"{doc}.score": p.get("score"),
            f"{doc}.metadata": json.dumps({"title": p.get("title")}, ensure_ascii=False),
            **{f"{own}.{k}": p.get(k) for k in ("dense", "lexical", "coverage", "names", "dense_searched")},
            f"{own}.used": p.get("used"),
            f"{own}.fact": p.get("fact"),
            f"{own}.stated": p.get("stated"),
            f"{own}.subject": p.get("subject"),
        }
    return attributes


def _step_attributes(step: dict[str, Any]) -> dict[str, Any]:
    winner = step["candidates"][step["chosen"]]
    return {
        KIND: "CHAIN",
        "input.value": step.get("context_tail"),
        "output.value": step["text"],
        "overlay.step.index": step["step"],
        "overlay.step.word": step["text"],
        "overlay.step.delta": step["delta"],
        "overlay.step.trust": step.get("trust"),
        "overlay.step.speculative": step.get("speculative"),
        "overlay.step.copy_source": step.get("copy_source"),
        "overlay.step.rejected": step.get("rejected") or None,
        "overlay.step.n_candidates": step["n_candidates"],
        "overlay.step.chosen": step["chosen"],
        "overlay.step.score": winner["score"],
        "overlay.step.llm": winner["llm"],
        "overlay.step.graph": winner["graph"],
        **{f"overlay.step.parts.{p}": winner["parts"].get(p) for p in PARTS},
        "overlay.step.edges": json.dumps(winner.get("edges") or [], ensure_ascii=False),
        "overlay.candidates": json.dumps(step["candidates"], ensure_ascii=False),
    }
