"""Schema fuzzing of the whole API (Schemathesis, bounded examples): nothing a client sends gives a 5xx, and
every error is in OpenAI's envelope, in a plain response or as an event of a stream. Operation by operation,
then stateful: sequences that follow the links a completion's id opens (its trace, its page, feedback)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis.stateful import run_state_machine_as_test

from api import create_app
from tests.live_server import KEY, LiveServer, serve_copy


@pytest.fixture(scope="module")
def fuzz_server(backend, small_home: Path, tmp_path_factory: pytest.TempPathFactory):
    with serve_copy(small_home, tmp_path_factory.mktemp("fuzz") / "ws", backend) as server:
        yield server


# The OpenAPI document does not depend on the loaded model: build it from an app without a service.
schema = schemathesis.openapi.from_dict(create_app(None).openapi())
EXAMPLES = int(os.environ.get("OVERLAY_FUZZ_EXAMPLES", "8"))  # bounded here; `bench/fuzz.py` runs many more
ENVELOPE = {"message", "type", "param", "code"}


def check(response) -> None:
    """No 5xx; an error, plain or as a stream's event, in OpenAI's envelope."""
    assert response.status_code < 500, (response.status_code, response.text[:300])
    if response.status_code >= 400:
        assert set(response.json()["error"]) == ENVELOPE, response.text[:300]
    elif "text/event-stream" in str(response.headers.get("content-type")):  # a list of values in schemathesis
        for line in response.text.splitlines():
            if line.startswith("data: {"):
                event = json.loads(line[6:])
                assert "error" not in event or set(event["error"]) == ENVELOPE, line[:300]


def linked(doc: dict, model: str) -> dict:
    """The OpenAPI links a completion's id opens: its trace, its explanation page, feedback on it; requests
    narrowed to ones that are answered (the served model, a user's words), so the links are followed."""
    schemas = doc["components"]["schemas"]
    schemas["ChatRequest"]["properties"] = {
        "model": {"type": "string", "enum": [model]},
        "messages": {"type": "array", "items": {"$ref": "#/components/schemas/Message"}, "minItems": 1, "maxItems": 2},
        "max_tokens": {"type": "integer", "minimum": 1, "maximum": 8},
    }
    schemas["ChatRequest"]["required"] = ["model", "messages", "max_tokens"]
    schemas["Message"]["properties"] = {
        "role": {"type": "string", "enum": ["user"]},
        "content": {"type": "string", "enum": ["What is a volcano?", "Where do ships sail?", "Hello!"]},
    }
    schemas["Message"]["required"] = ["role", "content"]
    for name in ("ChatRequest", "Message"):
        schemas[name]["additionalProperties"] = False
    ops = {(m, p): o for p, item in doc["paths"].items() for m, o in item.items()}
    follow = {
        "Trace": ("get", "/v1/traces/{trace_id}"),
        "Page": ("get", "/traces/{trace_id}"),
        "Feedback": ("post", "/v1/traces/{trace_id}/feedback"),
    }
    ops["post", "/v1/chat/completions"]["responses"]["200"]["links"] = {
        name: {"operationId": ops[key]["operationId"], "parameters": {"path.trace_id": "$response.body#/id"}}
        for name, key in follow.items()
    }
    return doc


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_no_server_errors(case, fuzz_server: LiveServer) -> None:
    for headers in ({"Authorization": f"Bearer {KEY}"}, {}):
        check(case.call(base_url=fuzz_server.url, headers=headers))


def test_linked_calls_no_server_errors(fuzz_server: LiveServer) -> None:
    doc = linked(create_app(None).openapi(), fuzz_server.service.model_id)
    answered: set[str] = set()
    followed: set[str] = set()  # operations called with the id of a completion made before them

    linked_schema = schemathesis.openapi.from_dict(doc).include(path_regex=r"^/(v1/chat/completions|(v1/)?traces/\{)")
    linked_schema.config.generation.update(modes=["positive"])  # valid requests: the links need answers

    class LinkedCalls(linked_schema.as_state_machine()):
        def after_call(self, response, case) -> None:
            if case.path == "/v1/chat/completions" and response.status_code == 200 and not case.body.get("stream"):
                answered.add(response.json()["id"])
            elif (case.path_parameters or {}).get("trace_id") in answered:
                followed.add(f"{case.method} {case.path}")

        def get_call_kwargs(self, case) -> dict:
            return {"base_url": fuzz_server.url, "headers": {"Authorization": f"Bearer {KEY}"}}

        def validate_response(self, response, case, additional_checks=None, **kwargs) -> None:
            check(response)

    run_state_machine_as_test(
        LinkedCalls,
        settings=settings(
            max_examples=max(2, EXAMPLES // 2),
            stateful_step_count=4,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
        ),
    )
    assert followed, "no sequence followed a completion's link"
