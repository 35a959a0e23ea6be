import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from graph_store import IngestError, chunk_passages, ingest_paths, parse_note
from tests.helpers import DATA, cli_json, fingerprint, q


def next_words(db: Path, word: str) -> dict[str, int]:
    rows = q(
        db,
        """SELECT d.key, e.count FROM edges e JOIN nodes s ON s.id = e.src JOIN nodes d ON d.id = e.dst
                 WHERE e.rel = 'next' AND s.key = ?""",
        [word],
    )
    return dict(rows)


def test_txt_and_jsonl(home: Path, cli) -> None:
    summary = cli_json(cli, "graph", "ingest", DATA / "sample.txt", DATA / "docs.jsonl")
    assert summary["documents"] == 4 and summary["skipped"] == 0
    assert summary["new_nodes"] > 20 and summary["new_edges"] > 50
    db = home / "graph.duckdb"
    assert next_words(db, "the") == {"river": 3, "sea": 3, "crust": 1, "volcano": 1}
    assert next_words(db, "volcano")["."] == 2
    # the jsonl line without an id gets a stable id naming the file and line; titles and urls are kept
    assert ("docs.jsonl:4", None) in q(db, "SELECT doc_id, title FROM passages")
    assert ("Volcano", "https://example.org/volcano") in q(db, "SELECT title, url FROM passages")
    # next2 is keyed by the two previous words, and every edge lists the passages that produced it
    assert q(
        db,
        """SELECT d.key FROM edges e JOIN nodes c ON c.id = e.ctx JOIN nodes s ON s.id = e.src
                 JOIN nodes d ON d.id = e.dst WHERE rel = 'next2' AND c.key = 'a' AND s.key = 'glacier'""",
    ) == [("is",), ("moves",)]
    ((count, npass, passages),) = q(
        db,
        """SELECT e.count, e.n_passages, e.passages FROM edges e JOIN nodes s ON s.id = e.src
                 JOIN nodes d ON d.id = e.dst WHERE rel = 'next' AND s.key = 'volcanic' AND d.key = 'ash'""",
    )
    assert count == 2 and npass == 2 and len(passages) == 2
    # assoc is symmetric and PMI-weighted; function words are left out
    assoc = dict(
        q(
            db,
            """SELECT d.key, e.weight FROM edges e JOIN nodes s ON s.id = e.src JOIN nodes d ON d.id = e.dst
                 WHERE rel = 'assoc' AND s.key = 'lava'""",
        )
    )
    assert assoc["volcanic"] > 0 and "the" not in assoc and "and" not in assoc


def test_markdown_vault_russian(home: Path, cli) -> None:
    summary = cli_json(cli, "graph", "ingest", DATA / "vault_ru")
    assert summary["documents"] == 3
    db = home / "graph.duckdb"
    links = set(
        q(
            db,
            """SELECT s.surface, d.surface FROM edges e JOIN nodes s ON s.id = e.src
                      JOIN nodes d ON d.id = e.dst WHERE rel = 'link'""",
        )
    )
    assert links == {
        ("Москва", "#город"),  # its front matter's tag
        ("Москва", "Россия"),
        ("Москва", "Москва (река)"),
        ("Россия", "Москва"),
        ("Россия", "Санкт-Петербург"),
        ("Пушкин", "Москва"),
        ("Пушкин", "Санкт-Петербург"),
    }
    # labels are the text, front matter is not; words keep their casing as surface
    assert "столица" in next_words(db, "—")
    assert not q(db, "SELECT * FROM nodes WHERE key IN ('tags', 'aliases')")
    assert next_words(db, "в") == {"европе": 1, "москве": 1, "петербурге": 1}
    neighbors = cli_json(cli, "graph", "neighbors", "Москва", "--rel", "link", "--direction", "out")
    assert {n["surface"] for n in neighbors} == {"Россия", "Москва (река)", "#город"}


def test_parse_note() -> None:
    text, targets = parse_note("---\na: 1\n---\n# Title\nSee [[Target|the label]] and [[Other#Part]].\n")
    assert targets == ["Target", "Other"]
    assert "the label" in text and "[[" not in text and "a: 1" not in text and "#" not in text


def test_chunking_keeps_sentences_whole() -> None:
    text = " ".join(f"Sentence number {i} has exactly seven words." for i in range(40))
    chunks = chunk_passages(text, max_words=50)
    assert len(chunks) == 6 and all(c.endswith(".") for c in chunks)
    assert " ".join(chunks) == text


def test_ingest_is_idempotent(home: Path, cli) -> None:
    cli("graph", "ingest", DATA / "sample.txt", DATA / "vault_ru")
    before = fingerprint(home / "graph.duckdb")
    again = cli_json(cli, "graph", "ingest", DATA / "sample.txt", DATA / "vault_ru")
    assert again == again | {"documents": 0, "skipped": 4, "new_nodes": 0, "new_edges": 0}
    assert fingerprint(home / "graph.duckdb") == before


def _bad_inputs(tmp: Path) -> dict[str, tuple[Path, str]]:
    bad_json = tmp / "bad.jsonl"
    bad_json.write_text('{"text": "fine"}\n{"text": "also fine"}\n{"text": broken\n', encoding="utf-8")
    no_text = tmp / "notext.jsonl"
    no_text.write_text('{"text": "fine"}\n{"title": "no text"}\n', encoding="utf-8")
    latin1 = tmp / "latin1.txt"
    latin1.write_bytes("first line\nsecond line caf\xe9\n".encode("latin-1"))
    return {
        "malformed jsonl": (bad_json, "bad.jsonl:3: malformed JSON"),
        "missing text": (no_text, 'notext.jsonl:2: each line must be an object with a string "text"'),
        "not utf-8": (latin1, "latin1.txt:2: not UTF-8"),
        "missing path": (tmp / "nope.txt", "nope.txt: no such file or directory"),
        "unknown type": (DATA / "../conftest.py", "unsupported file type"),
    }


@pytest.mark.parametrize("case", ["malformed jsonl", "missing text", "not utf-8", "missing path", "unknown type"])
def test_bad_input_exits_2_and_changes_nothing(home: Path, cli, tmp_path: Path, case: str) -> None:
    cli("graph", "ingest", DATA / "sample.txt")
    before = fingerprint(home / "graph.duckdb")
    path, message = _bad_inputs(tmp_path)[case]
    # a good file next to the bad one must not get in either: the whole ingest is one unit
    result = cli("graph", "ingest", DATA / "docs.jsonl", path, expect=2)
    assert message in result.stderr
    assert "Traceback" not in result.output
    assert fingerprint(home / "graph.duckdb") == before


def test_library_raises_typed_error(tmp_path: Path) -> None:
    with pytest.raises(IngestError) as exc:
        ingest_paths(tmp_path / "g.duckdb", [tmp_path / "missing.jsonl"], progress=False)
    assert exc.value.path.endswith("missing.jsonl")
    with pytest.raises(IngestError, match="nothing to ingest"):
        ingest_paths(tmp_path / "g.duckdb", [], progress=False)


def test_kill_9_mid_ingest_leaves_graph_as_before(home: Path, cli, tmp_path: Path) -> None:
    cli("graph", "ingest", DATA / "sample.txt")
    before = fingerprint(home / "graph.duckdb")
    rng = random.Random(0)
    words = [f"w{i}" for i in range(3000)]
    big = tmp_path / "big.jsonl"
    with big.open("w") as f:
        for _ in range(6000):
            f.write(json.dumps({"text": " ".join(rng.choices(words, k=60)) + "."}) + "\n")
    env = os.environ | {"OVERLAY_HOME": str(home)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "api", "graph", "ingest", str(big)],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        env=env,
        text=True,
    )
    deadline = time.monotonic() + 120
    for line in proc.stderr:  # kill inside the transaction: while the edges are being counted
        if "counting edges" in line or time.monotonic() > deadline:
            break
    assert proc.poll() is None, "ingest finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert fingerprint(home / "graph.duckdb") == before
    # and the graph is usable afterwards
    assert cli_json(cli, "graph", "ingest", DATA / "docs.jsonl")["documents"] == 3


def test_display_form_is_the_one_inside_sentences(home: Path, cli, tmp_path: Path) -> None:
    doc = tmp_path / "it.txt"
    doc.write_text("It is red. It is big. It rains. We like it.\n", encoding="utf-8")
    cli("graph", "ingest", doc)
    assert q(home / "graph.duckdb", "SELECT surface FROM nodes WHERE key = 'it'") == [("it",)]
    assert q(home / "graph.duckdb", "SELECT surface FROM nodes WHERE key = 'we'") == [("We",)]
