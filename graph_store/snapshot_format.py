"""The snapshot format on disk, shared by the reader (`snapshot.py`) and the writers (`publish.py`,
`delta.py`): file names and fields, version names, the manifest with its checksums, and the live delta.

Readers and writers both import this module and never each other's, so there is no import circle.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from .db import ROW_RELATIONS
from .errors import GraphStoreError, NotFoundError, SnapshotError

CSR_RELS = ROW_RELATIONS  # one CSR array set each; keyed relations are stored by (ctx, src) key
FIELDS = ("indices", "weight", "count", "prov")
PROV = 3  # provenance passage ids kept per snapshot edge (-1 padded)
VERSION_RE = re.compile(r"^v(\d+)$")
FACT_PREFIX = "fact:"  # the document id of a fact a user stated (`add_text_live`): it outranks older evidence
DELTA_LINK = "delta"  # snapshots/delta → delta-vNNNN-*: the live delta over one version
LINK_DIR = "link.dir.npy"  # per link row: which way it was written (bits OUT, IN)
TITLES = "titles.json"  # [folded title, its document's first passage id], sorted
OUT, IN, BOTH = 1, 2, 3
DIRECTION_BITS = {"out": OUT, "in": IN, "both": BOTH}
DIRECTIONS = tuple(DIRECTION_BITS)  # how a link is asked for: out of a note, into it (backlinks), or both


@dataclass(frozen=True)
class Manifest:
    """What a version holds and its files' sha256: a served snapshot is exactly what was published."""

    version: int
    created_at: str
    counts: dict
    files: dict[str, str]
    graph_hash: str
    embedding_model: str
    embedding_languages: list[str] | None = None  # what its vectors are good for (None: any language)
    path: Path | None = field(default=None, compare=False)

    @property
    def name(self) -> str:
        return f"v{self.version:04d}"

    def to_json(self) -> str:
        return json.dumps({k: v for k, v in asdict(self).items() if k != "path"}, indent=2, sort_keys=True)

    @classmethod
    def load(cls, folder: Path) -> Manifest:
        try:
            return cls(**json.loads((folder / "manifest.json").read_text()), path=folder)
        except (OSError, ValueError, TypeError) as exc:
            raise SnapshotError(f"{folder / 'manifest.json'}: missing or unreadable ({exc})") from exc


def version_name(version: int | str) -> str:
    """3, "3" and "v0003" all name the folder v0003."""
    if isinstance(version, str):
        m = VERSION_RE.match(version) or re.fullmatch(r"(\d+)", version)
        if not m:
            raise NotFoundError(f"{version!r} is not a snapshot version (like 3 or v0003)")
        version = int(m.group(1))
    return f"v{int(version):04d}"


def drop_delta(snapshots_dir: Path) -> None:
    """After a full publish: the new version holds everything the delta did."""
    (snapshots_dir / DELTA_LINK).unlink(missing_ok=True)
    for old in snapshots_dir.glob("delta-v*"):
        shutil.rmtree(old, ignore_errors=True)


def load_delta(snapshots_dir: Path, version: int) -> tuple[dict, np.ndarray] | None:
    """The delta over `version`, or None (no delta, or one over another version)."""
    link = snapshots_dir / DELTA_LINK
    try:
        folder = snapshots_dir / os.readlink(link)
        doc = json.loads((folder / "delta.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if doc.get("base_version") != version:
        return None
    vectors = np.load(folder / "vectors.npy")
    if len(vectors) != len(doc["passages"]):
        raise GraphStoreError(f"{folder}: vectors and passages disagree (corrupt delta)")
    return doc, vectors


def current_folder(snapshots_dir: Path) -> Path:
    """The version folder `current` points at, resolved once."""
    try:
        return snapshots_dir / os.readlink(snapshots_dir / "current")
    except OSError as exc:
        raise SnapshotError(f"{snapshots_dir}: no current snapshot; run `overlay graph publish`") from exc


def check_model(manifest: Manifest, model: str, what: str) -> None:
    """Vectors of one snapshot come from one model: anything else is refused, never mixed in."""
    if model != manifest.embedding_model:
        raise SnapshotError(
            f"{what} would mix embedding models: snapshot {manifest.name}'s vectors are "
            f"{manifest.embedding_model}'s, these are {model}'s; publish in full to re-embed every passage"
        )
