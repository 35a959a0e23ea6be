from pathlib import Path

import networkx as nx
import pytest

from tests.helpers import DATA, cli_json, q
from tests.test_ingest import next_words


def edge(db: Path, rel: str, a: str, b: str) -> tuple | None:
    rows = q(
        db,
        """SELECT e.weight, e.count, e.curated FROM edges e JOIN nodes s ON s.id = e.src
             JOIN nodes d ON d.id = e.dst WHERE e.rel = ? AND s.key = ? AND d.key = ?""",
        [rel, a, b],
    )
    return rows[0] if rows else None


@pytest.fixture
def graph(home: Path, cli) -> Path:
    cli("graph", "ingest", DATA / "sample.txt")
    return home / "graph.duckdb"


def test_edits_survive_a_later_ingest(graph: Path, cli) -> None:
    assert edge(graph, "next", "the", "river") == (0.5, 3, False)
    cli("graph", "edge", "add", "river", "sea", "--rel", "link", "--weight", "2.5")
    cli("graph", "edge", "remove", "the", "river", "--rel", "next")
    cli("graph", "edge", "reweight", "the", "sea", "--rel", "next", "--weight", "0.9")
    cli("graph", "edge", "add", "is a", "ship", "--rel", "next2")
    # a new document recounts every edge: the counts change, the user's edits do not
    cli("graph", "ingest", DATA / "docs.jsonl")
    assert edge(graph, "link", "river", "sea") == (2.5, 0, True)
    assert edge(graph, "next", "the", "river") is None
    assert edge(graph, "next", "the", "sea") == (0.9, 3, True)
    assert edge(graph, "next", "the", "crust")[1] == 1  # counted from the new document
    assert q(
        graph,
        """SELECT count(*) FROM edges e JOIN nodes c ON c.id = e.ctx JOIN nodes s ON s.id = e.src
             JOIN nodes d ON d.id = e.dst WHERE rel = 'next2' AND c.key = 'is' AND s.key = 'a' AND d.key = 'ship'""",
    ) == [(1,)]
    log = cli_json(cli, "graph", "log")
    assert [e["op"] for e in log] == ["edge_add", "edge_reweight", "edge_remove", "edge_add"]


def test_undo_restores_counted_edge(graph: Path, cli) -> None:
    removed = cli_json(cli, "graph", "edge", "remove", "the", "river", "--rel", "next")["edit"]
    assert edge(graph, "next", "the", "river") is None
    cli("graph", "undo", str(removed))
    assert edge(graph, "next", "the", "river") == (0.5, 3, False)
    assert cli_json(cli, "graph", "log")[0]["undone"] is True


def test_merge_folds_node_now_and_later(graph: Path, cli) -> None:
    cli("graph", "merge", "ship", "ships")
    assert not q(graph, "SELECT * FROM nodes WHERE key = 'ships'")
    assert next_words(graph, "ship") == {"is": 1, "sail": 1}
    extra = graph.parent / "extra.txt"
    extra.write_text("Ships sail home.", encoding="utf-8")
    cli("graph", "ingest", extra)
    assert not q(graph, "SELECT * FROM nodes WHERE key = 'ships'")
    assert next_words(graph, "ship") == {"is": 1, "sail": 2}
    assert cli_json(cli, "graph", "show", "ships")["key"] == "ship"  # the old name still finds the node


def test_prune_keeps_curated_and_is_replayed(graph: Path, cli) -> None:
    cli("graph", "edge", "add", "river", "long", "--rel", "assoc")
    cli("graph", "prune", "--min-count", "2")
    assert q(graph, "SELECT count(*) FROM edges WHERE count < 2 AND NOT curated") == [(0,)]
    assert edge(graph, "assoc", "river", "long")[2] is True
    cli("graph", "ingest", DATA / "docs.jsonl")
    assert q(graph, "SELECT count(*) FROM edges WHERE count < 2 AND NOT curated") == [(0,)]


@pytest.mark.parametrize(
    "args, message",
    [
        (("edge", "remove", "river", "boat", "--rel", "next"), "no next edge"),
        (("edge", "add", "river", "sea", "--rel", "follows"), "unknown relation"),
        (("edge", "reweight", "nowhere", "sea", "--rel", "next", "--weight", "1"), "no node 'nowhere'"),
        (("merge", "river", "River"), "same node"),
        (("undo", "99"), "no edit 99"),
    ],
)
def test_bad_edits_exit_2(graph: Path, cli, args: tuple, message: str) -> None:
    result = cli("graph", *args, expect=2)
    assert message in result.stderr
    assert cli_json(cli, "graph", "log") == []


@pytest.mark.parametrize("fmt, reader", [("graphml", nx.read_graphml), ("gexf", nx.read_gexf)])
def test_export_round_trip(graph: Path, cli, tmp_path: Path, fmt: str, reader) -> None:
    cli("graph", "ingest", DATA / "vault_ru")
    out = tmp_path / f"g.{fmt}"
    counts = cli_json(cli, "graph", "export", out, "--format", fmt)
    loaded = reader(out)
    assert loaded.number_of_nodes() == counts["nodes"]
    assert loaded.number_of_edges() == counts["edges"] == q(graph, "SELECT count(*) FROM edges")[0][0]
    if fmt == "graphml":
        rels = {d["rel"] for _, _, d in loaded.edges(data=True)}
        assert rels == {"next", "next2", "assoc", "link"}
        assert loaded.has_edge("[[москва]]", "[[россия]]")


def test_export_around_and_import(graph: Path, cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "around.graphml"
    counts = cli_json(cli, "graph", "export", out, "--around", "boat", "--depth", "1")
    sub = nx.read_graphml(out)
    assert "boat" in sub and "large" in sub and "river" not in sub
    assert counts["nodes"] == sub.number_of_nodes()
    # import the neighbourhood into a fresh workspace: the edges arrive as curated edits
    monkeypatch.setenv("OVERLAY_HOME", str(tmp_path / "other"))
    cli("graph", "ingest", DATA / "docs.jsonl")
    assert cli_json(cli, "graph", "import-edges", out)["imported"] == counts["edges"]
    other = tmp_path / "other" / "graph.duckdb"
    assert edge(other, "next", "large", "boat")[2] is True
    bad = tmp_path / "bad.graphml"
    bad.write_text("<graphml><not-closed>", encoding="utf-8")
    assert "not a readable GraphML" in cli("graph", "import-edges", bad, expect=2).stderr
