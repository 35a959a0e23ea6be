"""The selector behind a real OpenAI-compatible server on localhost, serving the bundled GGUF (no mock):
llama-cpp-python's server (installed with the project; text prompts, one request per row) and llama.cpp's C++
llama-server where `make llama-server` has built it (token-id prompts, a copy's rows from one streamed request;
skipped otherwise).
Answers come back through each with traces, and every written word is a candidate."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from graph_store import Snapshot
from overlay import Runtime, RuntimeConfig, TraceStore
from selector import SelectorConfig, SelectorUnavailable, find_gguf, load_backend
from selector.llamacpp import amx_guarded
from tests.test_runtime import assert_only_proposed


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


LLAMA_SERVER = Path(sys.executable).parent.parent / "llama.cpp" / "bin" / "llama-server"  # `make llama-server`


@pytest.fixture(scope="module", params=["llama_cpp.server", "llama-server"])
def server_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = _free_port()
    log = (tmp_path_factory.mktemp("llama_server") / "server.log").open("w")
    if request.param == "llama_cpp.server":
        cmd = [sys.executable, "-m", "selector.llamacpp_server", "--model", str(find_gguf()), "--host", "127.0.0.1"]
        cmd += ["--port", str(port), "--n_threads", "1", "--n_ctx", "4096", "--verbose", "False"]
    else:
        if not LLAMA_SERVER.exists():
            pytest.skip(f"llama.cpp's llama-server is not built ({LLAMA_SERVER}): make llama-server")
        cmd = [str(LLAMA_SERVER), "-m", str(find_gguf()), "--host", "127.0.0.1", "--port", str(port)]
        cmd += ["-t", "1", "-c", "4096", "-np", "1"] + (["--no-repack"] if amx_guarded() else [])  # as in-process
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(url + "/models", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, f"the llama.cpp server exited with {proc.returncode}"
            assert time.monotonic() < deadline, "the llama.cpp server did not start in 120 s"
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


@pytest.fixture(scope="module")
def remote(server_url: str):
    return load_backend(config=SelectorConfig(backend="remote", selector_url=server_url))


def test_rows_are_the_servers_top_n_with_a_floor(remote, backend, request: pytest.FixtureRequest) -> None:
    assert remote.token_prompts == (request.node.callspec.params["server_url"] == "llama-server")
    ids = remote.prompt_ids("What is the capital of France?", chat=True)
    assert ids == backend.prompt_ids("What is the capital of France?", chat=True)
    row = remote.start(ids).logprobs
    top = np.argsort(-row)[: remote.top_n]
    floor = row.min()
    assert row.shape == (len(remote.tokenizer),) and np.isclose(np.exp(row).sum(), 1.0, atol=1e-3)
    assert (row[top] > floor).all() and (row == floor).sum() == len(row) - remote.top_n
    torch_top = np.argsort(-backend.start(ids).logprobs)[:5]
    assert len(set(top[:5]) & set(torch_top)) >= 3  # the same model, another engine


def test_answers_come_back_through_the_server_with_traces(remote, small_home: Path, tmp_path: Path) -> None:
    rt = Runtime(Snapshot.open(small_home / "snapshots"), remote)
    store = TraceStore(tmp_path / "traces.duckdb")
    before = remote.requests
    answer = rt.answer("What is a volcano?", RuntimeConfig(max_words=8))
    assert_only_proposed(rt, answer)
    assert answer.text.strip()
    if remote.token_prompts:  # llama-server: a copied run of words comes back in one request
        assert remote.requests - before < len(answer.steps)
    else:  # text only: a request per row
        assert remote.requests - before >= len(answer.steps) - 1
    store.save(answer)
    trace = store.get(answer.id)
    assert trace["model_id"] == f"SmolLM2-135M-Instruct.Q4_1.gguf@{remote.url}:top20"


def test_an_unreachable_server_is_a_clear_503() -> None:
    with pytest.raises(SelectorUnavailable, match="remote selector http://127.0.0.1:9") as info:
        load_backend(config=SelectorConfig(backend="remote", selector_url="http://127.0.0.1:9/v1"))
    assert info.value.status == 503
    with pytest.raises(Exception, match="selector_url"):
        load_backend(config=SelectorConfig(backend="remote"))


def test_the_api_answers_through_a_remote_selector(remote, small_home: Path, tmp_path: Path) -> None:
    """client → overlay's API → llama.cpp's server, and the trace comes back from overlay's API."""
    import openai

    from tests.live_server import KEY, serve_copy

    with serve_copy(small_home, tmp_path / "ws", remote) as server:
        client = openai.OpenAI(base_url=server.url + "/v1", api_key=KEY, max_retries=0, timeout=120)
        models = [m.id for m in client.models.list().data]
        assert models == [remote.model_id]
        reply = client.chat.completions.create(
            model=remote.model_id,
            messages=[{"role": "user", "content": "What is a volcano?"}],
            extra_body={"overlay": {"max_words": 6}},
        )
        assert reply.choices[0].message.content.strip()
        auth = {"Authorization": f"Bearer {KEY}"}
        trace = httpx.get(f"{server.url}/v1/traces/{reply.id}", headers=auth, timeout=30).json()
        assert trace["model_id"] == remote.model_id and len(trace["steps"]) >= 1
