"""Snapshots against the database they were compiled from: real DuckDB, FAISS and MiniLM, no mocks."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from graph_store import (
    GraphStoreError,
    NotFoundError,
    Snapshot,
    SnapshotError,
    current_version,
    ensure_embeddings,
    list_snapshots,
    publish,
    rollback,
    search,
)
from graph_store.db import connect
from graph_store.embeddings import MODEL_NAME, embed_texts, load_model

PASSAGES = [
    (1, "Paris", "Paris is the capital of France. The city lies on the river Seine."),
    (2, "Photosynthesis", "Plants use sunlight to turn water and carbon dioxide into sugar and oxygen."),
    (3, "Jupiter", "Jupiter is the largest planet in the Solar System, a gas giant with many moons."),
]
# Sparse ids on purpose (merged nodes leave gaps); "paris" is both a word and a concept.
NODES = [
    (1, "the", "the", "word"),
    (2, "cat", "cat", "word"),
    (3, "sat", "sat", "word"),
    (4, "on", "on", "word"),
    (5, "mat", "mat", "word"),
    (6, "dog", "dog", "word"),
    (8, ".", ".", "punct"),
    (9, "paris", "Paris", "word"),
    (20, "paris", "Paris", "concept"),
    (21, "france", "France", "concept"),
    (23, "jupiter", "Jupiter", "concept"),
]
EDGES = [  # rel, src, dst, ctx, weight, count, passages
    ("next", 1, 2, -1, 0.5, 3, [2, 1, 3]),
    ("next", 1, 5, -1, 0.25, 2, [3, 1]),
    ("next", 1, 6, -1, 0.25, 2, [2]),
    ("next", 2, 3, -1, 1.0, 3, [1]),
    ("next", 3, 4, -1, 1.0, 3, [1]),
    ("next", 4, 1, -1, 1.0, 3, [1, 2]),
    ("next", 5, 8, -1, 1.0, 1, [3]),
    ("next", 8, 0, -1, 1.0, 4, [1, 2, 3]),
    ("next2", 2, 3, 1, 1.0, 3, [1]),
    ("next2", 1, 5, 4, 0.7, 2, [1, 3]),
    ("next2", 1, 2, 4, 0.3, 1, [2]),
    ("next2", 4, 1, 3, 1.0, 3, [1]),
    ("assoc", 2, 6, -1, 2.1, 4, [1, 2]),
    ("assoc", 6, 2, -1, 2.1, 4, [1, 2]),
    ("assoc", 2, 5, -1, 0.4, 1, [3]),
    ("assoc", 5, 2, -1, 0.4, 1, [3]),
    ("link", 20, 21, -1, 1.0, 1, [1]),
    ("link", 21, 20, -1, 2.0, 2, [1, 2]),
    ("link", 21, 23, -1, 1.0, 1, [3]),
]


def build_graph(path: Path) -> Path:
    con = connect(path)
    for pid, title, text in PASSAGES:
        con.execute(
            "INSERT INTO passages (id, source_id, doc_id, title, url, ord, text, hash, doc_hash, n_tokens) "
            "VALUES (?, 1, ?, ?, NULL, 0, ?, ?, ?, ?)",
            [pid, f"doc{pid}", title, text, f"h{pid}", f"d{pid}", len(text.split())],
        )
    con.executemany("INSERT INTO nodes VALUES (?, ?, ?, ?, 1)", NODES)
    con.executemany(
        "INSERT INTO edges VALUES (?, ?, ?, ?, ?, ?, ?, ?, false)", [(*e[:6], len(e[6]), e[6]) for e in EDGES]
    )
    con.close()
    return path


@pytest.fixture(scope="session")
def model():
    load_model(MODEL_NAME, True)  # both are cached per process (as embed_texts calls them): tests reuse them
    return load_model(MODEL_NAME, False)


@pytest.fixture(scope="module")
def published(tmp_path_factory, model) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("snap")
    db_path = build_graph(root / "graph.duckdb")
    publish(db_path, root / "snapshots", progress=False)
    return db_path, root / "snapshots"


@pytest.fixture
def snap(published) -> Snapshot:
    return Snapshot.open(published[1])


def expected(db_path: Path, rel: str, src: int, ctx: int = -1, k: int = 10) -> list[tuple]:
    con = connect(db_path, read_only=True)
    source = (
        "SELECT src, dst, ctx, weight, count, passages FROM edges WHERE rel = 'link' UNION ALL "
        "SELECT dst, src, ctx, weight, count, passages FROM edges WHERE rel = 'link'"
        if rel == "link"
        else f"SELECT * FROM edges WHERE rel = '{rel}'"
    )
    rows = con.execute(
        f"SELECT dst, max(weight), arg_max(count, weight), arg_max(list_sort(passages)[1:3], weight) "
        f"FROM ({source}) WHERE src = ? AND ctx = ? GROUP BY dst ORDER BY 2 DESC, dst LIMIT ?",
        [src, ctx, k],
    ).fetchall()
    con.close()
    return [(d, pytest.approx(w), c, tuple(p)) for d, w, c, p in rows]


def got(neighbors) -> list[tuple]:
    return [(n.id, n.weight, n.count, n.passages) for n in neighbors]


@pytest.mark.parametrize("rel", ["next", "assoc", "link"])
@pytest.mark.parametrize("k", [1, 2, 10])
def test_lookups_equal_duckdb(published, snap, rel, k):
    db_path, _ = published
    for nid, *_ in [(0,), *NODES]:
        assert got(snap.neighbors(nid, rel, k)) == expected(db_path, rel, nid, k=k), (rel, nid)


def test_next2_equals_duckdb(published, snap):
    db_path, _ = published
    for ctx, src in {(e[3], e[1]) for e in EDGES if e[0] == "next2"} | {(2, 1), (99, 1)}:
        for k in (1, 10):
            assert got(snap.next2(ctx, src, k)) == expected(db_path, "next2", src, ctx, k)
    assert [n.surface for n in snap.next2("on", "THE")] == ["mat", "cat"]


def test_words_concepts_and_misses(snap):
    assert snap.word_id("Paris") == 9 and snap.concept_id("paris") == 20
    assert snap.node(9).surface == "Paris" and snap.node(20).kind == "concept"
    assert [n.key for n in snap.next("The", k=3)] == ["cat", "mat", "dog"]  # tie on weight: lower id first
    assert snap.next("the")[0].passages == (1, 2, 3)
    assert [n.surface for n in snap.links(snap.concept_id("France"))] == ["Paris", "Jupiter"]
    assert [n.id for n in snap.links(23)] == [21]  # the reverse direction of a one-way link
    assert snap.next("zebra") == [] and snap.next2("zebra", "the") == [] and snap.assoc(10_000) == []
    with pytest.raises(NotFoundError):
        snap.node(7)
    with pytest.raises(NotFoundError):
        snap.passage(4)
    indices, weights = snap.successor_arrays("next", 1)
    assert indices.tolist() == [2, 5, 6] and weights.dtype == np.float32 and not weights.flags.writeable
    assert snap.successor_arrays("next2", 1, ctx=4)[0].tolist() == [5, 2]
    assert len(snap.successor_arrays("next", 7)[0]) == 0


def test_passages_and_search(snap):
    p = snap.passage(2)
    assert (p.title, p.doc_id, p.url) == ("Photosynthesis", "doc2", None) and p.text == PASSAGES[1][2]
    hits = search(snap, "Which is the biggest planet?", k=5)
    assert [h.id for h in hits][:1] == [3] and len(hits) == 3
    assert hits[0].score > hits[1].score and hits[0].title == "Jupiter"
    assert search(snap, "How do plants make sugar from light?", k=1)[0].id == 2


def test_manifest(published, snap):
    m = snap.manifest
    assert m.version == 1 and m.counts["nodes"] == len(NODES) + 1 and m.counts["passages"] == 3
    assert m.counts["edges"] == {"next": 8, "next2": 4, "assoc": 4, "link": 4, "verdict": 0}
    assert {"next.indptr.npy", "next2.keys.npy", "vocab.json", "passages.faiss"} <= set(m.files)
    assert len(np.load(snap.path / "next.indptr.npy")) == 23 + 2


def test_versions_readers_and_rollback(tmp_path, model):
    db_path, snaps = build_graph(tmp_path / "graph.duckdb"), tmp_path / "snapshots"
    v1 = publish(db_path, snaps, progress=False)
    reader = Snapshot.open(snaps)
    con = connect(db_path)
    con.execute("INSERT INTO edges VALUES ('next', 1, 3, -1, 0.9, 7, 1, [2], true)")
    con.close()
    v2 = publish(db_path, snaps, progress=False)
    assert (v1.version, v2.version, current_version(snaps)) == (1, 2, 2)
    assert v1.graph_hash != v2.graph_hash and [m.version for m in list_snapshots(snaps)] == [1, 2]
    assert v1.files["passages.faiss"] == v2.files["passages.faiss"]  # same passages, same cached vectors
    assert reader.version == 1 and snap_keys(reader) == ["cat", "mat", "dog"]
    assert snap_keys(Snapshot.open(snaps)) == ["sat", "cat", "mat", "dog"]
    assert rollback(snaps, 1).version == 1 and current_version(snaps) == 1
    assert snap_keys(Snapshot.open(snaps)) == ["cat", "mat", "dog"]
    assert Snapshot.open(snaps, version="v0002").version == 2
    with pytest.raises(NotFoundError):
        rollback(snaps, 3)
    with pytest.raises(NotFoundError):
        Snapshot.open(snaps, version=3)


def snap_keys(s: Snapshot) -> list[str]:
    return [n.key for n in s.next("the")]


def test_corrupt_file_is_refused(published, tmp_path):
    folder = tmp_path / "v0001"
    shutil.copytree(published[1] / "current", folder, symlinks=False)
    target = folder / "next.weight.npy"
    data = bytearray(target.read_bytes())
    data[-1] ^= 0xFF
    target.write_bytes(bytes(data))
    with pytest.raises(SnapshotError, match="next.weight.npy"):
        Snapshot.open(folder)
    target.unlink()
    with pytest.raises(SnapshotError, match="next.weight.npy"):
        Snapshot.open(folder, verify=False)
    (folder / "manifest.json").unlink()
    with pytest.raises(SnapshotError, match="manifest.json"):
        Snapshot.open(folder)


def test_crashed_publish_leaves_current(tmp_path, model):
    db_path, snaps = build_graph(tmp_path / "graph.duckdb"), tmp_path / "snapshots"
    publish(db_path, snaps, progress=False)
    stale = snaps / ".tmp-crashed"
    stale.mkdir()
    (stale / "manifest.json").write_text("{half a manifest")
    (stale / "next.indptr.npy").write_bytes(b"\x93NUMPY garbage")
    assert current_version(snaps) == 1 and Snapshot.open(snaps).version == 1
    assert [m.version for m in list_snapshots(snaps)] == [1]
    assert publish(db_path, snaps, progress=False).version == 2
    assert not stale.exists()


def test_embeddings_are_cached(tmp_path, model):
    db_path = build_graph(tmp_path / "graph.duckdb")
    con = connect(db_path)
    try:
        assert ensure_embeddings(con, progress=False) | {"seconds": 0} == {
            "cached": 0,
            "computed": 3,
            "seconds": 0,
        }
        assert ensure_embeddings(con, progress=False)["computed"] == 0
        con.execute("UPDATE passages SET text = 'Saturn has rings.' WHERE id = 3")
        assert ensure_embeddings(con, progress=False) | {"seconds": 0} == {
            "cached": 2,
            "computed": 1,
            "seconds": 0,
        }
        vecs = [np.array(v) for (v,) in con.execute("SELECT vec FROM embeddings").fetchall()]
        assert all(abs(np.linalg.norm(v) - 1) < 1e-5 for v in vecs)
    finally:
        con.close()
    publish(db_path, tmp_path / "snapshots", progress=False)
    con = connect(db_path)
    assert ensure_embeddings(con, progress=False)["computed"] == 0
    con.close()


def test_bulk_vectors_match_queries(model):
    texts = [f"{title}: {text}" for _, title, text in PASSAGES]
    bulk, query = embed_texts(texts, progress=False, bulk=True), embed_texts(texts, progress=False)
    assert bulk.dtype == np.float32 and bulk.shape == (3, 384)
    assert np.allclose(np.linalg.norm(bulk, axis=1), 1, atol=1e-5)
    assert (bulk * query).sum(axis=1).min() > 0.99
    assert embed_texts(texts[::-1], progress=False).tolist() == query[::-1].tolist()  # original order kept


def test_empty_graph_publishes(tmp_path, model):
    connect(tmp_path / "graph.duckdb").close()
    m = publish(tmp_path / "graph.duckdb", tmp_path / "snapshots", progress=False)
    assert m.counts == {
        "nodes": 1,
        "passages": 0,
        "edges": {"next": 0, "next2": 0, "assoc": 0, "link": 0, "verdict": 0},
    }
    snap = Snapshot.open(tmp_path / "snapshots")
    assert snap.node(0).key == "</s>" and snap.next("</s>") == [] and search(snap, "anything") == []
    with pytest.raises(GraphStoreError):
        publish(tmp_path / "missing.duckdb", tmp_path / "snapshots", progress=False)


def test_passages_of_one_document_come_in_its_order() -> None:
    from graph_store import PassageHit, in_document_order

    hits = [
        PassageHit(11, 0.9, "Munich", "later"),
        PassageHit(5, 0.8, "Bavaria", "b"),
        PassageHit(10, 0.7, "Munich", "lead"),
    ]
    assert [h.id for h in in_document_order(hits, ["m", "b", "m"])] == [10, 11, 5]


def test_search_puts_the_best_documents_opening_first(tmp_path, model) -> None:
    """A later passage may match the words best; the document's opening (which defines it) comes first."""
    from graph_store import ingest_paths, publish

    lead = "Zorgville is a small city in the republic of Xland. " + "It is known for cheese and old bridges. " * 14
    later = "Zorgville lies on the river Qux, north of the Blue Mountains, where the Qux meets the Vell."
    doc = tmp_path / "z.jsonl"
    doc.write_text(json.dumps({"id": "zorg", "title": "Zorgville", "text": f"{lead} {later}"}) + "\n")
    db = tmp_path / "graph.duckdb"
    ingest_paths(db, [doc], progress=False)
    publish(db, tmp_path / "snapshots", progress=False)
    snap = Snapshot.open(tmp_path / "snapshots")
    hits = search(snap, "On which river does Zorgville lie?", k=1)  # the nearest, and its document's opening
    assert len(hits) == 2 and hits[0].id < hits[1].id
    assert "republic of Xland" in hits[0].text and "river Qux" in hits[1].text
