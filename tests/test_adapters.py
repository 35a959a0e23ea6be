"""Tracks → LoRA adapters → imprint reports → registry → runtime, on the real SmolLM2 (tiny tracks, few steps)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from adapters import AdapterError, registry
from adapters.dataset import build, track_examples
from adapters.tracks import Track, get_tracks, load_tracks, mine_traces, save_mined

TINY = Track(
    id="tiny-therefore",
    title="tiny conditional chain",
    kind="reasoning",
    chain=["if", "then", "therefore"],
    templates={
        "train": [{"context": "If {p}, then {q}. {P}.", "continuation": " Therefore, {q}."}],
        "heldout": [{"context": "Given that if {p}, then {q}, and {p}.", "continuation": " Therefore, {q}."}],
    },
    fillers={
        "train": [
            {"p": "it rains", "q": "the street gets wet"},
            {"p": "the sun sets", "q": "the sky grows dark"},
            {"p": "the ice melts", "q": "the river rises"},
            {"p": "the door is locked", "q": "nobody can enter"},
        ],
        "heldout": [{"p": "the glass is dropped", "q": "it breaks"}],
    },
    controls=["The museum opens at nine in the morning."],
)
# small everywhere: a rank-2 adapter, one wiki passage per step for the KL term, a short perplexity check
TINY_ARGS = ("--rank", "2", "--batch-size", "4", "--seed", "3", "--regularise-batch", "1", "--perplexity-passages", "4")


@pytest.fixture
def tiny_home(home: Path, model_cache: Path) -> Path:
    """A workspace whose tracks folder holds the tiny track (as `overlay tracks mine` would save one)."""
    save_mined(home, [TINY])
    return home


def _weights(folder: Path) -> dict[str, np.ndarray]:
    from safetensors.numpy import load_file

    return load_file(str(folder / "adapter_model.safetensors"))


def test_curated_tracks_build_disjoint_training_and_held_out_sets() -> None:
    tracks = load_tracks()
    assert {"if-then-therefore", "because-so", "definition"} <= set(tracks)
    data = build(list(tracks.values()))
    assert data.train and data.heldout and data.control_prompts
    assert not {e.context for e in data.train} & {e.context for e in data.heldout}
    variants = {e.variant for e in data.heldout}
    assert {"heldout-context", "heldout-filler", "heldout-both"} <= variants
    train, heldout = track_examples(tracks["if-then-therefore"])
    assert train[0].context.startswith("If it rains, then the street gets wet. It rains.")
    assert train[0].continuation == " Therefore, the street gets wet."


def test_mining_traces_counts_distinct_answers_and_holds_out_whole_contexts() -> None:
    answers = [(f"a{i}", f"Story {i}: the red fox jumps over the lazy dog again.") for i in range(6)]
    answers.append(("dup", answers[0][1]))  # a repeated answer counts once
    tracks = mine_traces(answers, min_support=3)
    chains = {tuple(t.chain): t for t in tracks}
    top = chains[("the", "red", "fox", "jumps", "over", "the")]
    assert top.support == 6 and all(t.support == 6 and len(t.chain) == 6 for t in tracks)  # maximal paths only
    train = {p.context for p in top.examples["train"]}
    held = {p.context for p in top.examples["heldout"]}
    assert train and held and not train & held


def test_names_that_escape_the_registry_are_rejected(tiny_home: Path, cli) -> None:
    for bad in ("../evil", "a/b", "..", "", ".hidden", "x" * 65, "a\\b", "v1.2", "active.json", "none", "x\n"):
        with pytest.raises(AdapterError):
            registry.folder(tiny_home, bad)
    assert (
        "invalid adapter name"
        in cli("adapters", "distill", "--track", "tiny-therefore", "--name", "../x", expect=2).output
    )
    assert "invalid adapter name" in cli("adapters", "activate", "../../etc", expect=2).output
    assert "unknown track" in cli("adapters", "distill", "--track", "nope", "--name", "ok", expect=2).output
    for option, value in (("--learning-rate", "2"), ("--batch-size", "300"), ("--seed", "-1")):
        cli("adapters", "distill", "--track", "tiny-therefore", "--name", "ok", option, value, expect=2)
    assert not (tiny_home / "jobs").exists() or not list((tiny_home / "jobs").glob("*.json"))


def test_a_tiny_track_trains_loads_moves_the_log_prob_and_tampering_is_refused(
    tiny_home: Path, cli, small_home: Path
) -> None:
    result = json.loads(
        cli(
            "adapters",
            "distill",
            "--track",
            "tiny-therefore",
            "--name",
            "tiny",
            "--max-steps",
            "8",
            *TINY_ARGS,
            "--learning-rate",
            "2e-3",
            "--json",
        ).stdout
    )
    assert result["status"] == "done", result
    path, manifest = registry.open_adapter(tiny_home, "tiny")
    report = manifest.report
    assert report["efficacy"]["logprob_gain"] > 0 and report["generalisation"]["logprob_gain"] > 0
    assert set(report["checks"]) == {"efficacy_top1", "heldout_top1", "control_kl", "perplexity_ratio", "head_jaccard"}
    assert manifest.verified == report["verified"] and manifest.base_model["checksum"]
    assert (path / "report" / "drift.png").read_bytes()[:4] == b"\x89PNG"
    held_map = json.loads((path / "report" / "map" / "report.json").read_text())
    assert held_map["compared_with"] == "base" and (path / "report" / "map" / "cross_drift.png").exists()
    assert sorted(manifest.files) == ["adapter_config.json", "adapter_model.safetensors"]
    # the runtime answers with it (forced when unverified) and the trace says which adapter chose
    (tiny_home / "snapshots").symlink_to(small_home / "snapshots")
    if not manifest.verified:
        assert "not verified" in cli("adapters", "activate", "tiny", expect=2).output
    cli("adapters", "activate", "tiny", "--force")
    answer = json.loads(cli("ask", "What is the Moon?", "--max-words", "4", "--json").stdout)
    label = answer["adapter"]
    assert label.startswith("tiny") and (manifest.verified or "unverified" in label)
    assert cli("replay", answer["id"]).exit_code == 0
    # tampering: one byte of the weights changes → every load is refused
    weights = path / "adapter_model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    assert "fails its checksum" in cli("adapters", "show", "tiny", expect=2).output
    assert "fails its checksum" in cli("ask", "What is the Moon?", expect=2).output
    cli("adapters", "remove", "tiny")
    assert registry.active_adapter(tiny_home) is None and registry.names(tiny_home) == []


def test_a_killed_distillation_resumes_to_the_same_adapter(tiny_home: Path, tmp_path: Path) -> None:
    from adapters.dataset import wiki_slices
    from adapters.distill import DistillConfig, distill
    from selector import load_model

    steps, args = 8, ("--max-steps", "8", "--checkpoint-every", "2", "--learning-rate", "2e-3", *TINY_ARGS)
    env = {**os.environ, "OVERLAY_HOME": str(tiny_home)}
    overlay = [sys.executable, "-m", "api"]
    proc = subprocess.Popen(
        [*overlay, "adapters", "distill", "--track", "tiny-therefore", "--name", "resumed", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    jobs = tiny_home / "jobs"
    deadline = time.time() + 240
    killed_at = None
    while time.time() < deadline and proc.poll() is None:
        for latest in jobs.glob("*/work/latest.json"):
            try:
                step = json.loads(latest.read_text())["step"]
            except (ValueError, OSError):
                continue
            if 2 <= step < steps:
                proc.send_signal(signal.SIGKILL)
                killed_at = step
        time.sleep(0.02)
    proc.wait()
    assert killed_at is not None, "the job finished (or never checkpointed) before it could be killed"
    (record,) = jobs.glob("*.json")
    job_id = record.stem
    status = subprocess.run([*overlay, "jobs", "status", job_id, "--json"], env=env, capture_output=True, text=True)
    assert status.returncode == 1 and json.loads(status.stdout)["status"] == "interrupted"
    resumed = subprocess.run([*overlay, "jobs", "resume", job_id, "--json"], env=env, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["status"] == "done"
    waited = subprocess.run(
        [*overlay, "jobs", "status", job_id, "--wait", "--json"], env=env, capture_output=True, text=True
    )
    assert waited.returncode == 0 and json.loads(waited.stdout)["result"]["name"] == "resumed"
    # the same job, never interrupted
    cfg = DistillConfig(
        rank=2,
        batch_size=4,
        seed=3,
        max_steps=steps,
        checkpoint_every=2,
        learning_rate=2e-3,
        regularise_batch=1,
        perplexity_passages=4,
    )
    regularise, _ = wiki_slices()
    distill(load_model(), build(get_tracks(["tiny-therefore"], tiny_home)), regularise, cfg, tmp_path / "straight")
    once, again = _weights(tmp_path / "straight" / "adapter"), _weights(registry.folder(tiny_home, "resumed"))
    assert once.keys() == again.keys()
    assert all(np.array_equal(once[k], again[k]) for k in once)


def test_an_over_trained_adapter_is_not_verified_because_of_collateral_damage(tiny_home: Path, cli) -> None:
    result = json.loads(
        cli(
            "adapters",
            "distill",
            "--track",
            "tiny-therefore",
            "--name",
            "burnt",
            "--max-steps",
            "6",
            *TINY_ARGS,
            "--learning-rate",
            "0.05",
            "--kl-weight",
            "0",
            "--json",
        ).stdout
    )
    assert result["status"] == "done"
    _, manifest = registry.open_adapter(tiny_home, "burnt")
    assert not manifest.verified
    assert {"perplexity_ratio", "control_kl"} & set(manifest.report["failed"])
    assert manifest.report["collateral"]["perplexity_ratio"] > 1.02
    assert "not verified" in cli("adapters", "activate", "burnt", expect=2).output


def test_api_serves_base_and_adapter_ids_and_runs_distill_jobs(small_home: Path, tmp_path: Path, model_cache) -> None:
    import shutil

    import httpx

    from selector import load_backend
    from tests.live_server import KEY, LiveServer
    from tests.test_probes import _random_adapter

    home = tmp_path / "ws"
    shutil.copytree(small_home, home, symlinks=True)
    save_mined(home, [TINY])
    _random_adapter(home, "rand")
    backend = load_backend(adapter=registry.reference(home, "rand", force=True))
    with LiveServer(home, backend, KEY) as live:
        h = httpx.Client(base_url=live.url, headers={"Authorization": f"Bearer {KEY}"}, timeout=300)
        base = backend.model_id
        models = h.get("/v1/models").json()["data"]
        assert [m["id"] for m in models] == [base, f"{base}+rand"] and models[1]["verified"] is False
        for model, label in ((base, None), (f"{base}+rand", "rand (unverified, forced)")):
            r = h.post(
                "/v1/chat/completions",
                json={"model": model, "max_tokens": 4, "messages": [{"role": "user", "content": "What is the Moon?"}]},
            )
            assert r.status_code == 200, r.text
            assert h.get(f"/v1/traces/{r.json()['id']}").json()["adapter"] == label
        assert (
            h.post(
                "/v1/chat/completions", json={"model": f"{base}+other", "messages": [{"role": "user", "content": "hi"}]}
            ).status_code
            == 404
        )
        job = {
            "kind": "distill",
            "name": "viaapi",
            "tracks": ["tiny-therefore"],
            "config": {
                "rank": 2,
                "max_steps": 4,
                "batch_size": 4,
                "checkpoint_every": 2,
                "regularise_batch": 1,
                "perplexity_passages": 4,
            },
        }
        for bad, why in (
            ({"name": "../x"}, "invalid adapter name"),
            ({"tracks": ["nope"]}, "unknown track"),
            ({"config": {"rank": 0}}, "rank"),
        ):
            r = h.post("/v1/jobs", json={**job, **bad})
            assert r.status_code == 400 and why in r.json()["error"]["message"], r.text
        assert httpx.post(f"{live.url}/v1/jobs", json=job).status_code in (401, 403)
        assert h.post("/v1/jobs", json={**job, "model": "/etc"}).status_code == 400
        record = h.post("/v1/jobs", json=job).json()
        seen = set()
        deadline = time.monotonic() + 600
        while record["status"] in ("queued", "running"):
            assert time.monotonic() < deadline, record
            seen.add(round(record["progress"], 2))
            time.sleep(0.2)
            record = h.get(f"/v1/jobs/{record['id']}").json()
        assert record["status"] == "done", record
        assert any(0 < p < 1 for p in seen)  # progress moved while it ran
        assert record["result"]["name"] == "viaapi" and "viaapi" in registry.names(home)


def test_tracks_cli_mines_lists_and_shows(home: Path, tmp_path: Path, cli) -> None:
    towns = ["Alder", "Birch", "Cedar", "Dunmore", "Elmstead", "Fernby"]
    text = "\n\n".join(
        f"{town} harbour is small. Every evening the old lighthouse keeper rings the harbour bell twice in {town}."
        for town in towns
    )
    (tmp_path / "coast.txt").write_text(text)
    cli("graph", "ingest", tmp_path / "coast.txt")
    cli("graph", "publish")
    mined = json.loads(cli("tracks", "mine", "--source", "graph", "--min-support", "3", "--json").stdout)
    chains = [" ".join(t["chain"]).lower() for t in mined["tracks"]]
    assert any("lighthouse keeper rings" in c for c in chains), chains
    listed = {t["id"]: t for t in json.loads(cli("tracks", "list", "--json").stdout)}
    assert {"if-then-therefore", "because-so", "definition"} <= set(listed)
    for track in mined["tracks"]:
        assert listed[track["id"]]["source"] == "graph" and len(track["chain"]) >= 3
    shown = json.loads(cli("tracks", "show", "if-then-therefore", "--json").stdout)
    assert shown["train"] and shown["heldout"] and shown["chain"] == ["if", "then", "therefore"]
    assert "unknown track" in cli("tracks", "show", "nope", expect=2).output
    assert "--source" in cli("tracks", "mine", "--source", "everything", expect=2).output


def test_a_checkpoint_from_other_settings_is_refused_and_a_foreign_base_is_refused(tiny_home: Path, tmp_path) -> None:
    from adapters.dataset import wiki_slices
    from adapters.distill import DistillConfig, distill
    from selector import AdapterRef, SelectorError, load_backend, load_model
    from tests.test_probes import _random_adapter

    data = build(get_tracks(["tiny-therefore"], tiny_home))
    regularise = wiki_slices()[0][:2]
    cfg = DistillConfig(rank=2, batch_size=4, max_steps=2, checkpoint_every=1, regularise_batch=1)
    distill(load_model(), data, regularise, cfg, tmp_path / "work")
    with pytest.raises(AdapterError, match="other tracks, settings or base weights"):
        distill(load_model(), data, regularise, cfg.model_copy(update={"learning_rate": 0.01}), tmp_path / "work")
    folder = _random_adapter(tiny_home, "foreign")
    with pytest.raises(SelectorError, match="other base weights"):
        load_backend(adapter=AdapterRef("foreign", folder, True, base_checksum="0" * 64))
