"""`overlay traces export`: answers as OpenTelemetry spans, read back by the SDK's own OTLP/JSON decoder and
checked against the OTLP protobuf schema."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest as ProtoRequest
from opentelemetry.proto_json.collector.trace.v1.trace_service import ExportTraceServiceRequest

from overlay import RuntimeConfig, TraceStore, export_traces
from tests.helpers import cli_json

QUESTIONS = ("What is a volcano?", "Where do ships sail?")


@pytest.fixture(scope="module")
def traced(runtime, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict]]:
    """A trace store holding two real answers (one asked as a conversation), and their traces."""
    home = tmp_path_factory.mktemp("traced")
    store = TraceStore(home / "traces.duckdb")
    prompts = [QUESTIONS[0], [{"role": "user", "content": QUESTIONS[1]}]]
    ids = [store.save(runtime.answer(p, RuntimeConfig(max_words=6))) for p in prompts]
    traces = [store.get(i) for i in ids]
    store.close()
    return home, traces


def _spans(request: ExportTraceServiceRequest) -> list:
    return [s for rs in request.resource_spans for ss in rs.scope_spans for s in ss.spans]


def _attrs(span) -> dict:
    """Attribute values as Python values (the decoder keeps OTLP's AnyValue)."""
    out = {}
    for kv in span.attributes:
        v = kv.value
        if v.array_value is not None:
            out[kv.key] = [x.string_value if x.string_value is not None else x.int_value for x in v.array_value.values]
        else:
            out[kv.key] = next(x for x in (v.string_value, v.bool_value, v.int_value, v.double_value) if x is not None)
    return out


def _store(home: Path) -> TraceStore:
    return TraceStore(home / "traces.duckdb")


def test_otlp_json_reads_back_with_parents_and_attributes(traced, tmp_path: Path) -> None:
    home, traces = traced
    store = _store(home)
    out = tmp_path / "spans.json"
    summary = export_traces(store, out, "otlp-json")
    n_spans = sum(2 + len(t["steps"]) for t in traces)
    assert (summary.answers, summary.spans, summary.last_id) == (2, n_spans, traces[-1]["id"])
    text = out.read_text(encoding="utf-8")
    request = ExportTraceServiceRequest.from_json(text)
    spans = _spans(request)
    assert len(spans) == n_spans
    # valid against the OTLP protobuf schema too, once the hex ids are put in protobuf's base64
    raw = json.loads(text)
    for rs in raw["resourceSpans"]:
        for ss in rs["scopeSpans"]:
            for s in ss["spans"]:
                assert len(s["traceId"]) == 32 and len(s["spanId"]) == 16 and s["traceId"] == s["traceId"].lower()
                for key in ("traceId", "spanId", "parentSpanId"):
                    if key in s:
                        s[key] = base64.b64encode(bytes.fromhex(s[key])).decode()
    assert len(json_format.ParseDict(raw, ProtoRequest()).resource_spans[0].scope_spans[0].spans) == n_spans

    for trace in traces:
        mine = [s for s in spans if s.trace_id == bytes.fromhex(trace["id"])]  # the OTel trace id is the answer id
        roots = [s for s in mine if not s.parent_span_id]
        assert len(roots) == 1
        root = roots[0]
        a = _attrs(root)
        assert root.name == "overlay.answer" and a["openinference.span.kind"] == "CHAIN"
        assert a["gen_ai.request.model"] == trace["model_id"] and a["gen_ai.response.id"] == trace["id"]
        assert a["gen_ai.response.finish_reasons"] == [trace["finish_reason"]]
        assert a["gen_ai.usage.output_tokens"] == trace["usage"]["completion_tokens"]
        assert a["output.value"] == trace["text"] and a["overlay.steps"] == len(trace["steps"])
        children = [s for s in mine if s.parent_span_id == root.span_id]
        assert len(children) == len(mine) - 1
        (retrieve,) = [s for s in children if s.name == "overlay.retrieve"]
        r = _attrs(retrieve)
        assert r["openinference.span.kind"] == "RETRIEVER"
        docs = [k for k in r if k.startswith("retrieval.documents.") and k.endswith(".document.id")]
        assert len(docs) == len(trace["passages"]) > 0
        first = trace["passages"][0]
        assert r["retrieval.documents.0.document.content"] == first["text"]
        assert r["retrieval.documents.0.document.id"] == first["id"] and r["overlay.documents.0.used"] == first["used"]
        steps = [s for s in children if s.name == "overlay.step"]
        assert len(steps) == len(trace["steps"])
        for span, step in zip(steps, trace["steps"], strict=True):
            s = _attrs(span)
            assert s["overlay.step.index"] == step["step"] and s["overlay.step.word"] == step["text"]
            assert json.loads(s["overlay.candidates"]) == step["candidates"]
            assert "overlay.step.parts.copy" in s and "overlay.step.edges" in s
        # ordered in time and inside the root
        times = [(s.start_time_unix_nano, s.end_time_unix_nano) for s in [retrieve, *steps]]
        assert all(root.start_time_unix_nano <= b <= e <= root.end_time_unix_nano for b, e in times)
        assert all(times[i][1] <= times[i + 1][0] for i in range(len(times) - 1))

    again = tmp_path / "again.json"
    export_traces(store, again, "otlp-json")
    assert again.read_text(encoding="utf-8") == text  # ids (and everything else) are derived, not random
    store.close()


def test_jsonl_since_and_bad_input(traced, tmp_path: Path) -> None:
    home, traces = traced
    store = _store(home)
    out = tmp_path / "spans.jsonl"
    assert export_traces(store, out, "jsonl").answers == 2
    lines = out.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2
    assert [_spans(ExportTraceServiceRequest.from_json(line))[0].trace_id.hex() for line in lines] == [
        t["id"] for t in traces
    ]
    assert export_traces(store, out, "jsonl", since=traces[0]["id"]).last_id == traces[1]["id"]
    assert len(out.read_text(encoding="utf-8").splitlines()) == 1
    assert export_traces(store, out, "jsonl", since="2000-01-01").answers == 2
    assert export_traces(store, out, "jsonl", since="2999-01-01T00:00+00:00").answers == 0
    assert out.read_text(encoding="utf-8") == ""
    for kwargs, match in (
        ({"fmt": "xml"}, "format"),
        ({"since": "last tuesday"}, "since"),
        ({"out": tmp_path / "missing" / "x.json"}, "does not exist"),
        ({"out": tmp_path}, "folder"),
    ):
        with pytest.raises(Exception, match=match) as exc:
            export_traces(store, **({"out": out} | kwargs))
        assert exc.value.exit_code == 2
    store.close()


def test_cli(cli, home: Path, traced, tmp_path: Path) -> None:
    source, traces = traced
    home.mkdir(parents=True)
    (home / "traces.duckdb").write_bytes((source / "traces.duckdb").read_bytes())
    out = tmp_path / "out.json"
    summary = cli_json(cli, "traces", "export", out)
    assert summary["answers"] == 2 and summary["path"] == str(out) and summary["format"] == "otlp-json"
    assert len(_spans(ExportTraceServiceRequest.from_json(out.read_text(encoding="utf-8")))) == summary["spans"]
    stdout = cli("traces", "export", "-", "--format", "jsonl", "--since", traces[0]["id"]).stdout
    assert len(stdout.splitlines()) == 1
    assert "format" in cli("traces", "export", out, "--format", "xml", expect=2).output
    assert "since" in cli("traces", "export", out, "--since", "yesterday-ish", expect=2).output
    assert cli("traces", "export", "-", "--json", expect=2).exit_code == 2
    assert [r["id"] for r in cli_json(cli, "traces", "list", "--since", traces[0]["id"])] == [traces[1]["id"]]
