"""Retrieval that finds the entity: BM25 beside the dense index, fused, in published snapshots and in
live deltas; each hit keeps both scores."""

from __future__ import annotations

from pathlib import Path

import pytest

from graph_store import Asked, Passage, Snapshot, add_text_live, ingest_paths, publish, search
from graph_store.retrieval import FACT_REACH, fuse
from tests.helpers import DATA

QUESTION = "Which astronomer was born in Venythpra?"  # the made-up town is in one passage only


@pytest.fixture(scope="module")
def people(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("people")
    ingest_paths(home / "graph.duckdb", [DATA / "people.jsonl"], progress=False)
    publish(home / "graph.duckdb", home / "snapshots", progress=False)
    return home


def test_a_made_up_name_finds_its_passage_where_dense_ranks_it_lower(people: Path) -> None:
    snap = Snapshot.open(people / "snapshots")
    dense = [snap.passage(pid).title for _, pid in snap.nearest(QUESTION, 5)]
    assert dense[0] != "Harbour towns"  # by meaning, another astronomer's passage is closer
    assert [h.title for h in search(snap, QUESTION, 2, lexical_weight=0.0)][0] != "Harbour towns"
    hits = search(snap, QUESTION, 2, lexical_weight=1.0)
    assert hits[0].title == "Harbour towns"
    assert hits[0].lexical is not None and hits[0].lexical > 0 and hits[0].dense is not None
    assert snap.lexical_nearest("a question with no shared words zzz", 3) == []


def test_a_live_fact_is_found_through_the_deltas_lexical_index(people: Path, tmp_path: Path) -> None:
    import shutil

    home = tmp_path / "ws"
    shutil.copytree(people, home, symlinks=True)
    fact = "Qorvanth Illisade repaired the clock tower of Brenmoor in 1911."
    add_text_live(home / "graph.duckdb", home / "snapshots", fact, home / "facts", "Clock tower")
    snap = Snapshot.open(home / "snapshots")
    assert snap.delta_passages == 1
    (score, pid), *_ = snap.lexical_nearest("Who repaired the tower of Brenmoor?", 3)
    assert snap.passage(pid).text == fact and score > 0
    hits = search(snap, "Briefly, who is Qorvanth Illisade?", 2, lexical_weight=1.0)
    assert hits[0].text == fact and hits[0].lexical is not None


def test_a_live_fact_on_the_question_comes_beyond_k(people: Path, tmp_path: Path) -> None:
    """A fact a user stated outranks older passages on its subject, which the question may match better
    ("Which city is the capital of Italy?" ranked Milan and both Italy passages above the user's "The
    capital of Italy is Warsaw."): ranked within the 2k best, it comes too when it holds 60% of the question
    (`stated`); one holding less, ranked right after it, does not (a thousand live facts would crowd every
    answer)."""
    import shutil

    home = tmp_path / "ws"
    shutil.copytree(people, home, symlinks=True)
    on = (
        "The old harbour of Venythpra, with its fishing boats, its market and its lighthouse, is also where a "
        "quiet astronomer kept his telescope for many years."
    )
    off = "Venythpra has a lighthouse."
    for fact in (on, off):
        add_text_live(home / "graph.duckdb", home / "snapshots", fact, home / "facts")
    snap = Snapshot.open(home / "snapshots")
    hits = search(snap, QUESTION, 2, lexical_weight=1.0)
    assert [h.text for h in hits][-1] == on and len(hits) == 3  # the two best, then the fact on the question
    assert hits[-1].stated and hits[-1].coverage >= FACT_REACH and not any(h.stated for h in hits[:2])
    wide = {h.text: h for h in search(snap, QUESTION, 4, lexical_weight=1.0)}
    assert wide[off].coverage < FACT_REACH and not wide[off].stated  # ranked 4th: within 2k, yet not on it
    assert all(h.text != on for h in search(snap, QUESTION, 1, lexical_weight=1.0))  # beyond the 2k best


def test_a_fact_is_on_a_name_only_where_it_says_the_whole_name(people: Path) -> None:
    """A question "What is Kazan?" asks about Kazan, not the person in "Kazan Bormardru is a Peruvian bookbinder."
    (seen live among a thousand invented facts): a fact holds a name the question asks only where the name
    is not part of a longer one the question does not say; "New Zealand" and a possessive still count."""
    snap = Snapshot.open(people / "snapshots")

    def stated(question: str, fact: str) -> bool:
        return Asked.of(snap, question).stated(Passage(0, None, "fact:0", None, fact, "en"))

    assert not stated("What is Kazan?", "Kazan Bormardru is a Peruvian bookbinder from Drukavas.")
    assert stated("What is Kazan?", "Kazan is a city on the Volga, and Bormardru was born there.")
    assert stated("What is the capital of New Zealand?", "The capital of New Zealand is Lima.")
    assert stated("What was Ythquel Nimithgal's job?", "Ythquel Nimithgal worked as a shipwright.")
    assert not Asked.of(snap, "What is Kazan?").stated(Passage(0, None, "doc", None, "Kazan is a city.", "en"))


def test_the_words_of_a_request_are_not_what_it_asks_about(people: Path) -> None:
    """ "Tell me about X." asks about what "Who is X?" asks about: the request's own words ("tell",
    "briefly", "describe", "sentence") are in no passage on X, and counted as asked they put its passage
    below the graph's trust (0.53 of "Tell me about Balloon." held by the Balloon article's lead)."""
    snap = Snapshot.open(people / "snapshots")
    name = "Ithquel Ythdordor"
    plain = Asked.of(snap, f"Who is {name}?")
    assert plain.weights and plain.names
    for question in (
        f"Tell me about {name}.",
        f"Briefly, who is {name}?",
        f"Give me a short description of {name}.",
        f"What do you know about {name}?",
        f"Describe {name} in a sentence or two.",
        f"Can you explain who {name} is?",
    ):
        asked = Asked.of(snap, question)
        assert (asked.weights, asked.names) == (plain.weights, plain.names), question
        best = search(snap, question, 2, lexical_weight=1.0)[0]
        assert best.title == "Harbour towns" and best.coverage == 1.0, question
    assert snap.lexical_index().query_terms("Please tell me briefly about grass.") == ["grass"]
    assert Asked.of(snap, "Explain 2+2.").weights == {}  # numbers alone still ask about no topic


def test_fusion_ranks_by_both_lists_and_rare_words() -> None:
    dense = [(0.9, 1), (0.8, 2), (0.7, 3), (0.6, 4)]
    lexical = [(5.0, 4), (1.0, 2)]
    assert [pid for _, pid in fuse(dense, lexical, 1.0, {})][0] == 2  # second in both beats first in one
    assert [pid for _, pid in fuse(dense, [], 0.0, {})] == [1, 2, 3, 4]
    assert [pid for _, pid in fuse(dense, lexical, 1.0, {4: 1})][0] == 4  # a passage holding the name


TIMES = [
    ("Time", "It is the continuous progression of existence from the past, through the present, into the future."),
    ("Time zone", "A time zone is an area which observes a uniform standard time for legal and social purposes."),
    ("Coordinated Universal Time", "Coordinated Universal Time is the primary time standard used to regulate clocks."),
    ("Time travel", "Time travel is the hypothetical activity of traveling into the past or future time."),
    ("Word", "A word is a basic element of language that carries meaning and can be used on its own."),
    ("Up", "Up is a direction, the opposite of down, away from the centre of gravity of a planet."),
]


def test_a_document_the_question_names_by_its_title_comes_first(tmp_path: Path, monkeypatch) -> None:
    """ "What is Time?" is about the article Time, not about the passages most about time; a title
    met as a common word in passing ("In one word, …") is not what is asked."""
    import json

    from graph_store.retrieval import Asked, _titles_named

    src = tmp_path / "times.jsonl"
    src.write_text("".join(json.dumps({"title": t, "text": x}) + "\n" for t, x in TIMES), encoding="utf-8")
    ingest_paths(tmp_path / "graph.duckdb", [src], progress=False)
    publish(tmp_path / "graph.duckdb", tmp_path / "snapshots", progress=False)
    snap = Snapshot.open(tmp_path / "snapshots")
    assert [h.title for h in search(snap, "What is Time?", 3, lexical_weight=1.0)][0] == "Time"
    assert [h.title for h in search(snap, "what is time travel?", 3, lexical_weight=1.0)][0] == "Time travel"
    named = lambda q: [snap.passage(pid).title for pid, _ in _titles_named(snap, q, Asked.of(snap, q))]  # noqa: E731
    assert named("What is Time?") == ["Time"]
    assert named("Is Time zone a thing?") == ["Time zone"]  # the longest title, not "Time" inside it
    assert named("In one word, what is the opposite of up?") == []  # common words in passing
    monkeypatch.setattr("graph_store.retrieval._titles_named", lambda *a: [])
    assert [h.title for h in search(snap, "What is Time?", 3, lexical_weight=1.0)][0] != "Time"  # words alone


KINDS = [
    ("Macaque", "The macaques constitute a genus (Macaca) of gregarious Old World monkeys of Asia."),
    ("Rhesus macaque", "The rhesus macaque is a species of Old World monkey in the Macaca genus."),
    ("Western Front (World War I)", "The Western Front was one of the main theatres of war during World War I."),
    ("Western Front (World War II)", "The Western Front was a military theatre of World War II in Europe."),
    ("Eastern Front (World War I)", "The Eastern Front was a theatre of war. It contrasts with the Western Front."),
]


def test_the_document_a_question_names_by_all_it_asks_is_its_subject(tmp_path: Path) -> None:
    """ "What is Macaque?" is about the genus, not the rhesus macaque, though both passages hold all it
    asks; "Tell me about Western Front." names "Western Front (World War I)" without its qualifier. Only
    the subject's document is then evidence: the other passages are other entities' (`trust.weigh`)."""
    import json

    from overlay import RuntimeConfig
    from overlay.trust import weigh

    src = tmp_path / "kinds.jsonl"
    src.write_text("".join(json.dumps({"title": t, "text": x}) + "\n" for t, x in KINDS), encoding="utf-8")
    ingest_paths(tmp_path / "graph.duckdb", [src], progress=False)
    publish(tmp_path / "graph.duckdb", tmp_path / "snapshots", progress=False)
    snap = Snapshot.open(tmp_path / "snapshots")
    subjects = lambda q: {h.title: h.subject for h in search(snap, q, 3, lexical_weight=1.0)}  # noqa: E731
    macaque = subjects("What is Macaque?")
    assert "Rhesus macaque" in macaque and {t for t, subject in macaque.items() if subject} == {"Macaque"}
    assert subjects("Tell me about Western Front.") == {
        "Western Front (World War I)": True,
        "Western Front (World War II)": False,
        "Eastern Front (World War I)": False,
    }
    assert [h.title for h in search(snap, "Tell me about Western Front.", 3, lexical_weight=1.0)][0] == (
        "Western Front (World War I)"
    )
    used = weigh(search(snap, "What do you know about Western Front?", 3, lexical_weight=1.0), RuntimeConfig()).hits
    assert [h.title for h in used] == ["Western Front (World War I)"]
    # a question asking more than a title names no subject: every passage on it may be evidence
    assert not any(subjects("Which macaque is a species of monkey?").values())


PRESIDENTS = [
    ("Orlan Vesk", "Orlan Vesk was a statesman who served as the first president of Freedonia from 1801 to 1809."),
    ("Tam Brio", "Tam Brio was the 28th president of Freedonia. As president of Freedonia he led Freedonia in war."),
    ("Kel Dorr", "Kel Dorr was the 16th president of Freedonia, the president of Freedonia in the flood years."),
    ("Ina Sol", "Ina Sol was the 12th president of Freedonia; as president, she opened Freedonia to trade."),
    ("Presidents of Freedonia", "The president of Freedonia is its head of state. Freedonia has had 30 presidents."),
    ("Government", "Freedonia is a small country. The president of Freedonia and its parliament govern it."),
]


def test_the_passage_holding_the_question_in_its_order_comes_first(tmp_path: Path, monkeypatch) -> None:
    """ "the first president of Freedonia" is said by one passage word for word; the others say
    "president" and "Freedonia" more often, which is all a bag of words sees ("first" is a stopword)."""
    import json

    from graph_store.retrieval import _longest_run

    src = tmp_path / "presidents.jsonl"
    src.write_text("".join(json.dumps({"title": t, "text": x}) + "\n" for t, x in PRESIDENTS), encoding="utf-8")
    ingest_paths(tmp_path / "graph.duckdb", [src], progress=False)
    publish(tmp_path / "graph.duckdb", tmp_path / "snapshots", progress=False)
    snap = Snapshot.open(tmp_path / "snapshots")
    question = "Who was the first president of Freedonia?"
    assert search(snap, question, 3, lexical_weight=1.0)[0].title == "Orlan Vesk"
    monkeypatch.setattr("graph_store.retrieval._phrased", lambda *a: [])
    assert search(snap, question, 3, lexical_weight=1.0)[0].title != "Orlan Vesk"  # words alone
    assert _longest_run(["the", "first", "president", "of"], ["was", "the", "first", "president"]) == (3, 0)
    assert _longest_run(["a", "b"], ["c"]) == (0, 0)
