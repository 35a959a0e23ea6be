"""The adapter registry: `OVERLAY_HOME/adapters/NAME/` holds safetensors weights and `manifest.json`.

Only registry names are loadable. A name is a short slug (no separators, no `..`), and the folder it maps
to must sit inside the registry. Every file is listed in the manifest with its sha256 and re-checked on
open, so a tampered or half-written adapter is refused. The active adapter is one small JSON file.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from adapters.errors import AdapterError
from common import sha256_file, write_json
from overlay import Workspace
from selector import AdapterRef

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")  # no '.': peft keys modules by adapter name
RESERVED = {"none"}  # `--adapter none` means "no adapter"
MANIFEST = "manifest.json"
ACTIVE = "active.json"


class Manifest(BaseModel):
    """What an adapter is, how it was made, and whether its imprint was verified."""

    name: str
    base_model: dict[str, str] = Field(description="id and checksum of the model the adapter was trained on")
    tracks: list[str] = Field(default_factory=list, description="track ids distilled into it")
    hyperparameters: dict[str, Any] = Field(default_factory=dict)
    data: dict[str, int] = Field(default_factory=dict, description="sizes of the training and held-out sets")
    report: dict[str, Any] | None = Field(None, description="the imprint report (adapters.verify)")
    verified: bool = False
    files: dict[str, str] = Field(default_factory=dict, description="file name -> sha256")
    created: str = ""


def validate_name(name: str) -> str:
    if not isinstance(name, str) or not NAME.fullmatch(name) or name.lower() in RESERVED:
        raise AdapterError(
            f"invalid adapter name {name!r}: use 1-64 letters, digits, '_' or '-', starting with a letter or "
            "digit (no dots or path separators; 'none' is reserved)"
        )
    return name


def root(home: Path) -> Path:
    return Workspace(home=Path(home)).adapters


def folder(home: Path, name: str) -> Path:
    """The folder for `name`, guaranteed to be a direct child of the registry."""
    base = root(home).resolve()
    path = (base / validate_name(name)).resolve()
    if path.parent != base:
        raise AdapterError(f"adapter name {name!r} escapes the adapter folder")
    return path


def install(home: Path, name: str, staged: Path, manifest: Manifest, replace: bool = False) -> Path:
    """Move a finished adapter folder into the registry under `name`, with its files' checksums."""
    target = folder(home, name)
    if target.exists() and not replace:
        raise AdapterError(f"adapter {name!r} already exists; remove it first or set `replace`")
    manifest = manifest.model_copy(
        update={
            "name": name,
            "files": {p.name: sha256_file(p) for p in sorted(staged.iterdir()) if p.is_file() and p.name != MANIFEST},
        }
    )
    write_json(staged / MANIFEST, manifest.model_dump())
    target.parent.mkdir(parents=True, exist_ok=True)
    aside = target.with_name(f".old-{name}")
    shutil.rmtree(aside, ignore_errors=True)
    if target.exists():
        if (active_adapter(home) or {}).get("name") == name:
            deactivate(home)  # the activation was for the old weights; activate the new ones explicitly
        os.replace(target, aside)
    os.replace(staged, target)
    shutil.rmtree(aside, ignore_errors=True)
    return target


def read_manifest(home: Path, name: str) -> Manifest:
    path = folder(home, name)
    if not (path / MANIFEST).is_file():
        raise AdapterError(f"no adapter named {name!r} in {root(home)}")
    try:
        return Manifest.model_validate_json((path / MANIFEST).read_text(encoding="utf-8"))
    except ValueError as exc:
        raise AdapterError(f"adapter {name!r} has an unreadable manifest: {exc}") from None


def open_adapter(home: Path, name: str) -> tuple[Path, Manifest]:
    """The folder and manifest of `name`, after checking every listed file's sha256 (and that no weights
    file is unlisted)."""
    manifest = read_manifest(home, name)
    path = folder(home, name)
    if not manifest.files:
        raise AdapterError(f"adapter {name!r} lists no files in its manifest")
    for file, digest in manifest.files.items():
        target = path / file
        if Path(file).name != file or not target.is_file():
            raise AdapterError(f"adapter {name!r} is missing {file}")
        if sha256_file(target) != digest:
            raise AdapterError(f"adapter {name!r} fails its checksum ({file} was changed); refusing to load it")
    unlisted = [p.name for p in path.iterdir() if p.is_file() and p.name not in manifest.files and p.name != MANIFEST]
    if unlisted:
        raise AdapterError(f"adapter {name!r} has files its manifest does not list: {', '.join(sorted(unlisted))}")
    return path, manifest


def names(home: Path) -> list[str]:
    base = root(home)
    if not base.is_dir():
        return []
    return sorted(p.name for p in base.iterdir() if NAME.fullmatch(p.name) and (p / MANIFEST).is_file())


def remove(home: Path, name: str) -> None:
    path = folder(home, name)
    if not path.is_dir():
        raise AdapterError(f"no adapter named {name!r} in {root(home)}")
    if (active_adapter(home) or {}).get("name") == name:
        deactivate(home)
    shutil.rmtree(path)


def activate(home: Path, name: str, force: bool = False) -> dict[str, Any]:
    """Make `name` the runtime's adapter. An unverified one needs `force`, and the flag is kept so every
    trace made with it says so."""
    _, manifest = open_adapter(home, name)
    if not manifest.verified and not force:
        raise AdapterError(f"adapter {name!r} is not verified; set `force` to activate it anyway")
    state = {"name": name, "verified": manifest.verified, "forced": not manifest.verified}
    root(home).mkdir(parents=True, exist_ok=True)
    write_json(root(home) / ACTIVE, state)
    return state


def deactivate(home: Path) -> None:
    (root(home) / ACTIVE).unlink(missing_ok=True)


def active_adapter(home: Path) -> dict[str, Any] | None:
    path = root(home) / ACTIVE
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        return None


def reference(home: Path, name: str, force: bool = False) -> AdapterRef:
    """A checked reference to `name` for a backend to attach: files verified; unverified only with force."""
    path, manifest = open_adapter(home, name)
    if not manifest.verified and not force:
        raise AdapterError(f"adapter {name!r} is not verified; set `force` to use it anyway")
    # one digest of its files' sha256s (re-checked above): a replaced adapter of the same name has another one
    listing = "".join(f"{file}\t{digest}\n" for file, digest in sorted(manifest.files.items()))
    checksum = hashlib.sha256(listing.encode()).hexdigest()
    return AdapterRef(name, path, manifest.verified, manifest.base_model.get("checksum"), checksum)


def active_reference(home: Path) -> AdapterRef | None:
    """The active adapter, re-checked (a tampered file is refused even after activation)."""
    state = active_adapter(home)
    return None if state is None else reference(home, state["name"], force=bool(state.get("forced")))


def resolve(home: Path, name: str | None, force: bool = False) -> AdapterRef | None:
    """What a command's `adapter` setting means: None → the active adapter (re-checked), 'none' → no
    adapter, NAME → that adapter (verified unless `force`)."""
    if name is None:
        return active_reference(home)
    if name.lower() == "none":
        return None
    return reference(home, name, force=force)
