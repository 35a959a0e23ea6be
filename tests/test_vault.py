"""Notes in your own language: a Russian vault found by its inflected words, links both ways, front-matter
aliases and tags, edited documents that replace their old version, one embedding model per snapshot."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import duckdb
import httpx
import pytest

from graph_store import (
    GraphStoreError,
    Snapshot,
    SnapshotError,
    ingest_paths,
    publish,
    publish_delta,
    quick_ingest,
    search,
)
from graph_store.embeddings import model_dir
from graph_store.language import detect, stems
from graph_store.readers import front_matter, parse_note
from overlay.evaluate import contains
from tests.helpers import DATA, cli_json, q
from tests.live_server import KEY, serve_copy

VAULT = DATA / "vault_ru"


@pytest.fixture(scope="module")
def vault_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Russian test vault, ingested and published (the bundled English-only embedding model)."""
    home = tmp_path_factory.mktemp("vault_ws")
    ingest_paths(home / "graph.duckdb", [VAULT], progress=False)
    publish(home / "graph.duckdb", home / "snapshots", progress=False)
    return home


def test_language_is_detected_and_recorded(vault_home: Path, tmp_path: Path) -> None:
    assert set(q(vault_home / "graph.duckdb", "SELECT DISTINCT lang FROM passages")) == {("ru",)}
    assert detect("Москва — столица России и крупнейший город страны.") == "ru"
    assert detect("Hello", among=["en", "ru"]) == "en"  # a few words: told only among the graph's languages
    # a short fact leans to a language the graph holds where the detector is unsure, not where it is sure
    assert detect("The capital of Kenya is Cairo.") != "en"
    assert detect("The capital of Kenya is Cairo.", prefer={"en"}) == "en"
    assert detect("Москва — столица России.", prefer={"en"}) == "ru"
    assert stems(["поэтом", "поэт"], "ru") == ["поэт", "поэт"]
    given = tmp_path / "given.jsonl"
    given.write_text(json.dumps({"id": "x", "text": "Short.", "lang": "de"}) + "\n", encoding="utf-8")
    ingest_paths(tmp_path / "g.duckdb", [given], progress=False)
    assert q(tmp_path / "g.duckdb", "SELECT lang FROM passages") == [("de",)]


def test_russian_question_finds_its_note_by_inflected_words(vault_home: Path) -> None:
    snap = Snapshot.open(vault_home / "snapshots")
    # "русским поэтом" is written "русский поэт" in the note: only stemming matches them
    hits = search(snap, "Кто был русским поэтом?", k=2, lexical_weight=1.0)
    assert hits[0].doc_id == "люди/Пушкин.md" and hits[0].lexical and hits[0].lexical > 0
    # the bundled model knows English only: a Russian question is searched by its words, and says so
    assert not hits[0].dense_searched and hits[0].dense is None and hits[0].lang == "ru"
    assert snap.manifest.embedding_languages == ["en"]
    hits = search(snap, "Какая река течёт через Москву?", k=2, lexical_weight=1.0)
    assert hits[0].doc_id == "Москва.md"


def test_backlinks_both_ends(vault_home: Path, cli, home: Path) -> None:
    cli("graph", "ingest", VAULT)
    rows = q(
        home / "graph.duckdb",
        """SELECT s.surface, d.surface FROM links l JOIN nodes s ON s.id = l.src JOIN nodes d ON d.id = l.dst""",
    )
    assert ("Пушкин", "Москва") in rows and ("Пушкин", "Санкт-Петербург") in rows  # [[X|label]], [[X#Heading]]
    for src, dst in rows:  # every link is listed from both ends
        outgoing = cli_json(cli, "graph", "neighbors", src, "--rel", "link", "--direction", "out")
        incoming = cli_json(cli, "graph", "neighbors", dst, "--rel", "link", "--direction", "in")
        assert dst in {n["surface"] for n in outgoing if n["direction"] == "out"}
        assert src in {n["surface"] for n in incoming if n["direction"] == "in"}
    both = cli_json(cli, "graph", "neighbors", "Москва", "--rel", "link")  # default: both ways
    assert {(n["surface"], n["direction"]) for n in both} == {
        ("Россия", "out"),
        ("Москва (река)", "out"),
        ("#город", "out"),
        ("Россия", "in"),
        ("Пушкин", "in"),
    }
    # the snapshot answers the same, by direction
    snap = Snapshot.open(vault_home / "snapshots")
    moscow = snap.concept_id("Москва")
    assert {n.surface for n in snap.neighbors(moscow, "link", 10, "in")} == {"Россия", "Пушкин"}
    assert {n.surface for n in snap.neighbors(moscow, "link", 10, "out")} == {"Россия", "Москва (река)", "#город"}
    assert len(snap.neighbors(moscow, "link", 10)) == 4  # both: Россия once (it links and is linked)


def test_backlinks_over_http(vault_home: Path, backend, tmp_path: Path) -> None:
    with serve_copy(vault_home, tmp_path / "ws", backend) as server:
        with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {KEY}"}, timeout=60) as h:
            url = "/v1/graph/nodes/Москва/neighbors"
            got = h.get(url, params={"rel": "link", "direction": "in"}).json()["neighbors"]
            assert {n["word"] for n in got} == {"Россия", "Пушкин"}
            both = h.get(url, params={"rel": "link"}).json()["neighbors"]
            assert {(n["word"], n["direction"]) for n in both} == {
                ("Россия", "both"),
                ("Москва (река)", "out"),
                ("#город", "out"),
                ("Пушкин", "in"),
            }
            bad = h.get(url, params={"rel": "next", "direction": "in"})
            assert bad.status_code == 400 and bad.json()["error"]["param"] == "direction"


def test_aliases_and_tags(cli, home: Path, tmp_path: Path) -> None:
    vault = tmp_path / "vault"
    shutil.copytree(VAULT, vault)
    (vault / "Река.md").write_text("Москва-река течёт через [[Moscow]].\n", encoding="utf-8")  # a link to an alias
    cli("graph", "ingest", vault)
    db = home / "graph.duckdb"
    note = q(db, "SELECT id FROM nodes WHERE key = 'москва' AND kind = 'concept'")[0][0]
    assert q(db, "SELECT node_id, doc_key FROM aliases WHERE key = 'moscow'") == [(note, "note:vault/Москва.md")]
    incoming = cli_json(cli, "graph", "neighbors", "Moscow", "--rel", "link", "--direction", "in")
    assert "Река" in {n["surface"] for n in incoming}  # [[Moscow]] points at the note Москва
    tagged = cli_json(cli, "graph", "neighbors", "#город", "--rel", "link")
    assert [(n["surface"], n["direction"]) for n in tagged] == [("Москва", "in")]
    cli("graph", "publish")
    snap = Snapshot.open(home / "snapshots")
    assert snap.concept_id("Moscow") == snap.concept_id("Москва") == note


def test_edited_note_replaces_its_passages(cli, home: Path, tmp_path: Path) -> None:
    vault = tmp_path / "vault"
    shutil.copytree(VAULT, vault)
    cli("graph", "ingest", vault)
    cli("graph", "edge", "add", "поэт", "Москва", "--rel", "assoc", "--weight", "3")  # a curated edit
    (vault / "люди" / "Пушкин.md").write_text(
        "Александр Пушкин — великий русский поэт. Он родился в [[Москва|Москве]].\n", encoding="utf-8"
    )
    summary = cli_json(cli, "graph", "ingest", vault)
    assert summary | {"seconds": 0, "phases": {}} == summary | {
        "documents": 1,
        "replaced": 1,
        "skipped": 2,
        "seconds": 0,
        "phases": {},
    }
    db = home / "graph.duckdb"
    texts = [t for (t,) in q(db, "SELECT text FROM passages WHERE doc_id = 'люди/Пушкин.md'")]
    assert texts == ["Александр Пушкин — великий русский поэт. Он родился в Москве."]  # no duplicate copy
    assert cli_json(cli, "graph", "stats")["documents"] == 3
    links = {n["surface"] for n in cli_json(cli, "graph", "neighbors", "Пушкин", "--rel", "link")}
    assert links == {"Москва"}  # the old link to Санкт-Петербург went with the old text
    kept = cli_json(cli, "graph", "neighbors", "поэт", "--rel", "assoc")
    assert any(n["surface"] == "Москва" and n["curated"] and n["weight"] == 3 for n in kept)
    again = cli_json(cli, "graph", "ingest", vault)
    assert again["documents"] == 0 and again["replaced"] == 0  # unchanged: nothing to do


def test_txt_and_jsonl_versions_replace(tmp_path: Path) -> None:
    db = tmp_path / "g.duckdb"
    txt, lines = tmp_path / "a.txt", tmp_path / "b.jsonl"
    txt.write_text("The first version of the file.", encoding="utf-8")
    lines.write_text(json.dumps({"id": "k1", "text": "Old line."}) + "\n" + json.dumps({"text": "No id."}) + "\n")
    ingest_paths(db, [txt, lines], progress=False)
    txt.write_text("The second version of the file.", encoding="utf-8")
    lines.write_text(json.dumps({"id": "k1", "text": "New line."}) + "\n" + json.dumps({"text": "No id."}) + "\n")
    summary = ingest_paths(db, [txt, lines], progress=False)
    assert (summary.documents, summary.replaced, summary.skipped) == (2, 2, 1)
    assert sorted(t for (t,) in q(db, "SELECT text FROM passages")) == [
        "New line.",
        "No id.",
        "The second version of the file.",
    ]


def test_live_edit_hides_the_old_version(vault_home: Path, tmp_path: Path) -> None:
    home = tmp_path / "ws"
    shutil.copytree(vault_home, home, symlinks=True)
    vault = tmp_path / "vault_ru"  # same folder name: same note identities as the published vault
    shutil.copytree(VAULT, vault)
    (vault / "люди" / "Пушкин.md").write_text("Александр Пушкин писал стихи и сказки.\n", encoding="utf-8")
    quick_ingest(home / "graph.duckdb", [vault])
    info = publish_delta(home / "graph.duckdb", home / "snapshots")
    assert info.removed == 1 and info.passages == 1
    snap = Snapshot.open(home / "snapshots")
    texts = [h.text for h in search(snap, "Пушкин поэт стихи", k=5, lexical_weight=1.0)]
    assert "Александр Пушкин писал стихи и сказки." in texts
    assert not any("русский поэт" in t for t in texts)  # the replaced passage is no longer served


def test_snapshot_refuses_vectors_of_another_model(vault_home: Path, tmp_path: Path) -> None:
    other = tmp_path / "my-model"  # the same weights under another name: another model to the snapshot
    shutil.copytree(model_dir(), other, copy_function=os.symlink)
    home = tmp_path / "ws"
    shutil.copytree(vault_home, home, symlinks=True)
    manifest = publish(home / "graph.duckdb", home / "snapshots", progress=False, embedding_model=str(other))
    assert manifest.embedding_model == str(other.resolve()) and manifest.embedding_languages is None
    with pytest.raises(SnapshotError, match="would mix embedding models"):
        publish_delta(home / "graph.duckdb", home / "snapshots")  # the default model's vectors: refused
    publish_delta(home / "graph.duckdb", home / "snapshots", embedding_model=str(other))
    link = home / "snapshots" / "delta"
    delta = home / "snapshots" / os.readlink(link) / "delta.json"
    doc = json.loads(delta.read_text(encoding="utf-8"))
    delta.write_text(json.dumps(doc | {"embedding_model": "someone-else"}), encoding="utf-8")
    with pytest.raises(SnapshotError, match="would mix embedding models"):
        Snapshot.open(home / "snapshots")
    (tmp_path / "empty").mkdir()
    with pytest.raises(GraphStoreError, match="no .safetensors"):
        publish(home / "graph.duckdb", home / "snapshots", progress=False, embedding_model=str(tmp_path / "empty"))


def test_recall_matches_non_latin_answers_as_whole_words() -> None:
    assert contains("Это возможно через консилиум из сотен моделей.", ["сотен"])
    assert not contains("Сотенный отряд.", ["сотен"])
    assert contains("Ответ: ТЫСЯЧУ раз.", ["тысячу"])


def test_front_matter_and_language_tags() -> None:
    meta, body = front_matter("---\naliases: New York City, NYC\ntags: a b, c\nlang: en-US\n---\nBody.\n")
    assert (meta.aliases, meta.tags, meta.lang, body) == (["New York City", "NYC"], ["a", "b", "c"], "en", "Body.\n")
    meta, body = front_matter("---\ndate: {{date}}\n---\nA template.\n")  # not YAML: ignored, not fatal
    assert (meta.aliases, meta.tags, body) == ([], [], "A template.\n")
    text, _ = parse_note("---\na: 1\n---\n---\nKept after a rule.\n---\n")  # front matter is stripped once
    assert "Kept after a rule." in text
    # a name in a short question: the detector is unsure, so the graph's main language answers
    assert detect("Who is Anna Berg?", among=["en", "la", "eo"], fallback="en") == "en"
    assert detect("2 + 2", among=["en", "ru"], fallback="en") == "en"


def test_a_graph_from_before_keys_adopts_them(tmp_path: Path) -> None:
    from common import migrate
    from graph_store.db import MIGRATIONS

    db, doc = tmp_path / "old.duckdb", tmp_path / "a.txt"
    doc.write_text("The old text.", encoding="utf-8")
    con = duckdb.connect(str(db))
    migrate(con, MIGRATIONS[:3])  # the schema before languages and keys
    con.execute("INSERT INTO sources (id, name, kind, location) VALUES (1, 'a.txt', 'txt', ?)", [str(doc.resolve())])
    con.execute("INSERT INTO passages VALUES (1, 1, 'a.txt', 'a', NULL, 0, 'The old text.', 'h', 'd', 3)")
    con.close()
    doc.write_text("The new text of the file, written in plain English.", encoding="utf-8")
    summary = ingest_paths(db, [doc], progress=False)  # the migration gives the old row its key
    assert (summary.documents, summary.replaced) == (1, 1)
    assert q(db, "SELECT text, lang, doc_key FROM passages") == [
        ("The new text of the file, written in plain English.", "en", f"file:{doc.resolve()}")
    ]
