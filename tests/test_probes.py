"""Probes on the real SmolLM2: the lens, drift, patching, head detectors and comparison are checked against
facts that must hold (last lens = logits, a model against itself drifts 0, full patching restores)."""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from adapters import ProbeError
from adapters.probes import compare, head_classes, measure, patch, random_twin, response_map, word_surprisal
from adapters.probes.response_map import windows
from tests.helpers import save_tiny_llama

TEXT = "The Moon is Earth's only natural satellite. It orbits Earth at an average distance of 384,400 km."


@pytest.fixture(scope="session")
def probe(model_cache: Path):
    """A probing copy of the bundled model (eager attention), shared by the session."""
    from selector import ProbeModel, load_model

    return ProbeModel(load_model())


def _twin(probe, perturb_layer: int | None = None):
    from selector import ProbeModel

    model = copy.deepcopy(probe.model)
    if perturb_layer is not None:
        import torch

        weight = model.model.layers[perturb_layer].mlp.down_proj.weight
        with torch.no_grad():
            weight.add_(torch.randn(weight.shape, generator=torch.Generator().manual_seed(0)) * 0.01)
    return ProbeModel(replace(probe.loaded, model=model, model_id="twin"))


def test_logit_lens_at_the_last_layer_is_the_models_own_logits(probe) -> None:
    ids, _ = probe.encode(TEXT)
    run = probe.forward(ids)
    assert run.hidden.shape[0] == probe.n_layers + 1
    assert np.allclose(probe.lens(run.hidden[-1]).numpy(), run.logits.numpy(), atol=1e-5)
    report = response_map(probe, TEXT)
    top1 = [row[0][0] for row in report["logit_lens"]["top5"][-1]]
    assert top1 == [probe.tokenizer.decode([i]) for i in run.logits.argmax(-1).tolist()]
    ranks = report["logit_lens"]["rank"][-1]
    assert ranks[-1] == 0 and all(r >= 1 for r in ranks[:-1])
    # first_top1 is defined exactly where the output ranks the next token first
    assert [v is not None for v in report["logit_lens"]["first_top1"]] == [r == 1 for r in ranks]


def test_drift_against_itself_is_zero_and_a_perturbed_layer_shows_from_there_on(probe) -> None:
    ids, _ = probe.encode(TEXT)
    same = measure(probe, ids, other=_twin(probe), attention=False).cross
    assert np.abs(same).max() < 1e-6
    k = 12
    cross = measure(probe, ids, other=_twin(probe, perturb_layer=k), attention=False).cross
    # hidden index k + 1 is layer k's output: identical before it, different from it on (position 0 is the
    # sink token, whose residual norm is so large that a small change can vanish in its cosine)
    assert np.abs(cross[: k + 1]).max() < 1e-6
    assert (cross[k + 1 :, 1:] > 1e-7).all()


def test_attention_shares_are_shares(probe) -> None:
    report = response_map(probe, TEXT)
    att = {k: np.array(report["attention"][k], dtype=float) for k in ("sink", "prev", "same", "entropy")}
    assert att["sink"].shape == (probe.n_layers, probe.n_heads, len(report["tokens"]))
    assert np.allclose(att["sink"][:, :, 0], 1.0, atol=1e-3)  # the first token can only attend to itself
    assert np.allclose(att["sink"][:, :, 1], att["prev"][:, :, 1])  # at position 1 the previous token is the first
    assert (att["sink"][:, :, 2:] + att["prev"][:, :, 2:] <= 1.0 + 1e-3).all() and (att["same"] >= 0).all()
    assert np.allclose(att["entropy"][:, :, 0], 0.0, atol=1e-3)


def test_windows_cover_every_position_once_and_long_texts_match_in_the_first_window(probe) -> None:
    plan = windows(1000, 512)
    kept = [p for start, end, keep in plan for p in range(keep, end)]
    assert kept == list(range(1000))
    ids, _ = probe.encode(TEXT * 3)
    whole = measure(probe, ids, attention=False, window=512)
    split = measure(probe, ids, attention=False, window=24)
    assert np.allclose(whole.surprisal[:24], split.surprisal[:24], atol=1e-4, equal_nan=True)
    assert np.isnan(split.surprisal[-1]) and not np.isnan(split.surprisal[:-1]).any()


def test_patching_every_layer_at_the_changed_token_restores_the_clean_logprob(probe) -> None:
    report = patch(
        probe, "The capital city of France is the city of", "The capital city of Italy is the city of", "Paris"
    )
    assert report["differing_positions"] == [4]
    assert report["logprob_clean"] > report["logprob_corrupt"] + 3
    assert report["all_layers_at_differing"]["restored"] == pytest.approx(1.0, abs=1e-3)
    restored = np.array(report["restored"], dtype=float)
    assert restored[0, 4] == pytest.approx(1.0, abs=1e-3)  # the embedding of the changed token
    assert restored[-1, -1] == pytest.approx(1.0, abs=1e-3)  # the final state at the last position
    assert abs(restored[0, 0]) < 1e-3  # an unchanged token restores nothing


def test_head_detectors_find_previous_token_and_induction_heads_but_not_in_a_random_model(probe) -> None:
    report = head_classes(probe)
    found = {kind: {(h["layer"], h["head"]) for h in heads} for kind, heads in report["classes"].items()}
    # Recorded on SmolLM2-135M-Instruct (Q4_1): the strongest of each class.
    assert (16, 0) in found["previous_token"] and (18, 6) in found["induction"]
    assert report["counts"]["previous_token"] >= 3 and report["counts"]["induction"] >= 3
    baseline = head_classes(random_twin(probe))
    assert baseline["counts"] == {kind: 0 for kind in report["counts"]}
    assert np.array(baseline["scores"]["induction"]).max() < 0.1


def test_word_alignment_sums_tokens_inside_each_word() -> None:
    text = "Hello wonderful world"
    spans = [(0, 5), (5, 9), (9, 15), (15, 21)]  # "Hello", " won", "derful", " world"
    surprisal = np.array([1.0, 2.0, 3.0, np.nan])  # position t predicts token t + 1
    assert word_surprisal(text, spans, surprisal) == [None, 3.0, 3.0]


def test_compare_aligns_models_with_different_tokenizers(probe, tmp_path: Path) -> None:
    """A tiny random Llama with the BERT tokenizer of the bundled embedder, loaded by path like a user's model."""
    from graph_store.embeddings import model_dir
    from selector import ProbeModel, load_model

    tiny = ProbeModel(load_model(save_tiny_llama(model_dir(), tmp_path / "tiny")))
    report = compare(probe, tiny, TEXT)
    with pytest.raises(ProbeError, match="tokenize the text differently"):
        response_map(probe, TEXT, other=tiny)
    n = len(report["words"])
    assert len(report["a"]["word_surprisal"]) == n == len(report["b"]["word_surprisal"])
    assert report["a"]["tokens"] != report["b"]["tokens"]  # really different tokenizations
    assert report["disagreements"] and all(r["word"] in report["words"] for r in report["disagreements"])
    # the trained model is far less surprised by real text than random weights are
    assert report["a"]["mean_surprisal_per_word"] < report["b"]["mean_surprisal_per_word"]
    assert report["a"]["head_counts"]["induction"] > 0 == report["b"]["head_counts"]["induction"]


def test_probe_map_cli_writes_json_plots_and_page(cli, model_cache: Path, tmp_path: Path) -> None:
    out = tmp_path / "map"
    result = cli("probe", "map", "Paris is the capital of France.", "--out", out, "--json")
    report = json.loads(result.stdout)
    for key in ("tokens", "hidden_norm", "drift", "logit_lens", "surprisal", "attention", "files"):
        assert key in report
    assert json.loads((out / "report.json").read_text())["tokens"] == report["tokens"]
    for png in ("hidden_norm", "drift", "lens_rank", "surprisal", "attention_sink"):
        assert (out / f"{png}.png").read_bytes()[:4] == b"\x89PNG"
    page = (out / "index.html").read_text()
    assert 'src="lens_rank.png"' in page and "http" not in page.split("<body>")[1]  # offline


def test_probe_cli_refuses_bad_input_with_exit_2(cli, model_cache: Path, tmp_path: Path) -> None:
    long = tmp_path / "long.txt"
    long.write_text("word " * 300)
    result = cli("probe", "map", "--file", long, "--max-tokens", "100", "--out", tmp_path / "x", expect=2)
    assert "over the limit of 100" in result.output and not (tmp_path / "x").exists()
    result = cli("probe", "patch", "--clean", "a b", "--corrupt", "a b c", "--target", "d", expect=2)
    assert "same number of tokens" in result.output
    words = "word " * 300
    result = cli("probe", "patch", "--clean", words, "--corrupt", words, "--target", "x", expect=2)
    assert "at most 256" in result.output
    assert "invalid adapter name" in cli("probe", "map", "hi there", "--adapter", "../x", expect=2).output


def _random_adapter(home: Path, name: str) -> Path:
    """A LoRA with random (non-zero) weights installed in the registry, as distillation would install one."""
    from peft import LoraConfig, get_peft_model

    from adapters import registry
    from selector import load_model, quiet_peft

    loaded = load_model()
    staged = home / "staged"
    config = LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", init_lora_weights=False)
    with quiet_peft():
        get_peft_model(loaded.model, config).save_pretrained(staged)
    manifest = registry.Manifest(name=name, base_model={"id": loaded.model_id, "checksum": loaded.checksum})
    return registry.install(home, name, staged, manifest)


def test_probe_map_with_an_adapter_shows_drift_against_its_base_and_refuses_tampering(cli, home: Path) -> None:
    folder = _random_adapter(home, "rand")
    report = json.loads(
        cli(
            "probe", "map", "Paris is the capital of France.", "--adapter", "rand", "--json", "--out", home / "m"
        ).stdout
    )
    cross = np.array(report["cross_drift"], dtype=float)
    assert report["compared_with"] == "base" and report["models"][0]["adapter"] == "rand"
    assert np.abs(cross[0]).max() < 1e-6 and (cross[1:].max(axis=1) > 1e-4).all()  # LoRA acts from layer 0 on
    with (folder / "adapter_model.safetensors").open("r+b") as f:
        f.seek(-4, 2)
        f.write(b"\x00\x01\x02\x03")
    assert "fails its checksum" in cli("probe", "map", "hi there", "--adapter", "rand", expect=2).output


def test_probe_heads_cli_reports_thresholds_and_a_random_baseline(cli, model_cache: Path, tmp_path: Path) -> None:
    trained = json.loads(cli("probe", "heads", "--out", tmp_path / "h", "--json").stdout)
    baseline = json.loads(cli("probe", "heads", "--random-init", "--out", tmp_path / "r", "--json").stdout)
    assert trained["thresholds"] == baseline["thresholds"] and trained["counts"]["induction"] >= 3
    assert sum(baseline["counts"].values()) == 0 and baseline["model"]["id"].endswith("random-init")
    assert (tmp_path / "h" / "heads_induction.png").exists()
