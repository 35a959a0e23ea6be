"""Schema fuzzing of the whole API (Schemathesis, bounded examples): nothing a client sends gives a 5xx."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from api import create_app
from tests.live_server import KEY, LiveServer, serve_copy


@pytest.fixture(scope="module")
def fuzz_server(backend, small_home: Path, tmp_path_factory: pytest.TempPathFactory):
    with serve_copy(small_home, tmp_path_factory.mktemp("fuzz") / "ws", backend) as server:
        yield server


# The OpenAPI document does not depend on the loaded model: build it from an app without a service.
schema = schemathesis.openapi.from_dict(create_app(None).openapi())


@schema.parametrize()
# bounded in the suite; `bench/fuzz.py` runs many more (OVERLAY_FUZZ_EXAMPLES)
@settings(
    max_examples=int(os.environ.get("OVERLAY_FUZZ_EXAMPLES", "8")),
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_no_server_errors(case, fuzz_server: LiveServer) -> None:
    for headers in ({"Authorization": f"Bearer {KEY}"}, {}):
        response = case.call(base_url=fuzz_server.url, headers=headers)
        assert response.status_code < 500, (case.method, case.path, response.text[:300])
        if response.status_code >= 400:
            assert set(response.json()["error"]) == {"message", "type", "param", "code"}
