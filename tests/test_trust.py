"""Trust in the graph where its evidence is relevant: everyday prompts are the LLM's, questions the
passages answer are the graph's; no stitching across documents; length instructions honoured.

Real SmolLM2 on a small graph of look-alike people and a few everyday passages.
"""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from graph_store import Snapshot, ingest_paths, publish, search
from overlay import Runtime, RuntimeConfig
from overlay.instructions import Limits, limits
from overlay.records import Candidate, Step
from overlay.scoring import mask
from overlay.spelling import cut_short
from overlay.trust import relevance, step_trust, weigh
from tests.helpers import DATA


@pytest.fixture(scope="module")
def rt(backend, tmp_path_factory: pytest.TempPathFactory) -> Runtime:
    home: Path = tmp_path_factory.mktemp("lookalikes")
    ingest_paths(home / "graph.duckdb", [DATA / "lookalikes.jsonl"], progress=False)
    publish(home / "graph.duckdb", home / "snapshots", progress=False)
    return Runtime(Snapshot.open(home / "snapshots"), backend, RuntimeConfig(max_words=24))


def hit(coverage: float, names: float = 0.0, dense: float | None = 0.5, doc: str = "a", pid: int = 1, **kw):
    fields = {"subject": False, "stated": False} | kw
    return SimpleNamespace(id=pid, coverage=coverage, names=names, dense=dense, doc_id=doc, **fields)


def test_trust_rises_with_the_share_of_the_question_a_passage_holds() -> None:
    cfg = RuntimeConfig()
    assert weigh([], cfg).trust == 0.0
    assert weigh([hit(0.3)], cfg).trust == 0.0 and weigh([hit(0.3)], cfg).hits == []
    assert weigh([hit(0.9)], cfg).trust == 1.0
    assert 0.0 < weigh([hit(0.65)], cfg).trust < 1.0
    # in a language the selector does not write, its own answer is noise: a note holding less still counts
    assert weigh([hit(0.4)], cfg).trust == 0.0 < weigh([hit(0.4)], cfg, foreign=True).trust
    assert weigh([hit(0.2)], cfg, foreign=True).trust == 0.0
    assert relevance(hit(0.9, dense=0.1), cfg) == 0.0  # off topic: the words match, the meaning does not
    assert relevance(hit(0.2, names=1.0, dense=None), cfg) == 1.0  # a name the dense model does not know
    # a document is as relevant as its best passage: its lead comes along with the passage that matched
    used = weigh([hit(0.1, doc="x", pid=1), hit(0.9, doc="x", pid=2), hit(0.2, doc="y", pid=3)], cfg).hits
    assert [h.id for h in used] == [1, 2]
    # a sure LLM overrules evidence that does not back it; evidence that backs it keeps its weight
    assert step_trust(1.0, 0.95, 0.0, cfg) == pytest.approx(0.05)
    assert step_trust(1.0, 0.95, 0.95, cfg) == 1.0
    # a fact the user stated comes first among passages as relevant, and a sure LLM does not overrule it
    assert step_trust(1.0, 0.95, 0.0, cfg, fact=True) == 1.0
    facts = weigh([hit(0.9, doc="wiki:Japan", pid=1), hit(0.6, doc="fact:0a1b", pid=9)], cfg).hits
    assert [h.id for h in facts] == [9, 1]
    assert [h.id for h in weigh([hit(0.9, doc="a", pid=1), hit(1.0, doc="b", pid=9)], cfg).hits] == [1, 9]
    # a question that names a document by all it asks uses that document and the facts stated on it only
    named = [hit(1.0, doc="Macaque", pid=1, subject=True), hit(1.0, doc="Rhesus macaque", pid=5)]
    assert [h.id for h in weigh(named, cfg).hits] == [1]
    named.append(hit(0.8, doc="fact:0a1b", pid=9, stated=True))
    assert [h.id for h in weigh(named, cfg).hits] == [9, 1]


def test_hits_say_how_much_of_the_question_they_hold(rt: Runtime) -> None:
    hits = search(rt.snap, "Who is Usharn Ythquelsor?", 2, lexical_weight=1.0)
    assert hits[0].title == "Usharn Ythquelsor" and hits[0].coverage == 1.0 and hits[0].names == 1.0
    assert all(h.coverage < 0.5 and h.names == 0 for h in hits[1:])
    pride = search(rt.snap, "Who wrote Pride and Prejudice?", 1, lexical_weight=1.0)[0]
    assert 0.5 < pride.coverage < 1.0 and pride.names == 1.0  # "wrote" is not "written"; the names are held
    assert search(rt.snap, "Hello! How are you?", 1, lexical_weight=1.0)[0].coverage == 0.0
    # what the question says is the assistant's own is asked of it, not of a passage about grass
    assert search(rt.snap, "What is your favourite grass?", 1, lexical_weight=1.0)[0].coverage == 0.0
    assert search(rt.snap, "Is grass your favourite plant?", 1, lexical_weight=1.0)[0].coverage > 0.5
    assert search(rt.snap, "Is your favourite novel Pride and Prejudice?", 1, lexical_weight=1.0)[0].names == 1.0
    assert search(rt.snap, "Who wrote Your Grass?", 1, lexical_weight=1.0)[0].names == 1.0  # a title


def test_an_everyday_prompt_is_answered_by_the_llm_a_question_by_its_passage(rt: Runtime) -> None:
    chat = rt.answer("Hello! How are you?")
    assert chat.trust == 0.0 and all(s.trust == 0.0 for s in chat.steps)
    assert not any(p["used"] for p in chat.passages) and all(s.copy_source is None for s in chat.steps)
    assert "grass" not in chat.text.lower() and "harbour" not in chat.text.lower()
    known = rt.answer("Who wrote Pride and Prejudice?")
    assert known.trust == 1.0 and known.passages[0]["used"]
    assert any(s.copy_source is not None for s in known.steps)
    assert "austen" in " ".join(known.text.split()[:8]).lower(), known.text  # the answer comes first


def test_an_answer_about_one_person_does_not_continue_into_another(rt: Runtime) -> None:
    people = {
        "Usharn Ythquelsor": ("clockmaker", "Albania", "Orlevant"),
        "Venmir Keskescal": ("geologist", "Lithuanian", "Dravenmor"),
    }
    for name, other in people.items():
        answer = rt.answer(f"Who is {name}?")
        assert answer.trust == 1.0
        assert not any(word in answer.text for word in other), answer.text
        docs = {rt.snap.passage(s.copy_source[0]).doc_id for s in answer.steps if s.copy_source}
        assert len(docs) == 1, answer.text


def test_length_instructions_are_honoured(rt: Runtime) -> None:
    assert limits("Answer with one word: what color is grass?") == Limits(3, 1, "short")
    assert limits("Is ice cold? Reply with yes or no only.") == Limits(3, 1, "short")
    assert limits("What is a verb? Keep it short.") == Limits(None, 1, "sentence")
    assert limits("Describe grass in a sentence or two.") == Limits(None, 2, "sentence")
    assert limits("Who wrote Pride and Prejudice?") == Limits()
    short = rt.answer("Answer with one word: what color is grass?")
    assert len([w for w in short.text.split() if any(c.isalnum() for c in w)]) <= 3, short.text
    assert len(rt.answer("Answer with one word: what color is grass?", RuntimeConfig(brevity=False)).steps) > 3
    yes_no = rt.answer("Is grass green? Answer yes or no.")  # the primer makes the first word the answer
    assert re.match(r"(yes|no)\b", yes_no.text.lower()) and len(yes_no.text.split()) <= 3, yes_no.text
    sums = rt.answer("What is 2+2?")
    assert sums.trust == 0.0 and re.search(r"\b4\b", sums.text), sums.text


def test_a_list_trusts_the_graph_less_and_a_translation_may_use_the_llms_words(rt: Runtime) -> None:
    for prompt in (
        "List three vegetables.",
        "Give me two primary colors.",
        "Can you name a few sports?",
        "What are the days of the weekend?",
    ):
        assert limits(prompt).kind == "list", prompt
    for prompt in ("Translate 'dog' into German.", "How do you say 'hello' in Spanish?", "What's 'cat' in French?"):
        assert limits(prompt).kind == "translate", prompt
    for prompt in ("Which language is spoken in Mexico?", "Who wrote Pride and Prejudice?", "What is a list?"):
        assert limits(prompt).kind is None, prompt
    cfg = rt.config
    known = rt.answer("Who wrote Pride and Prejudice?")
    listed = rt.answer("Name two novels by Jane Austen.")
    assert known.trust == 1.0 and listed.asked == "list"
    assert 0.0 < listed.trust <= cfg.list_trust  # traced: the explanation says why the graph counted less
    assert listed.drafted  # the LLM drafts the list: its items are proposed whatever the graph's trust
    # the draft's own words (not the prompt's, nor a prompt word in another form: "clockmaker" for
    # "clockmakers" is no item) are a graph part that trust does not scale
    from overlay.accumulator import Accumulator

    acc = Accumulator(rt.snap, rt.lexicon, cfg)
    acc.seed("Name two clockmakers from Albania.", [], ["Usharn", "clockmaker", "Albania"])
    prop = acc.propose()
    usharn, clockmaker, albania = (rt.lexicon.word_id(w) for w in ("Usharn", "clockmaker", "Albania"))
    assert usharn is not None and clockmaker is not None and albania is not None
    assert prop.parts["draft"][usharn] == 1.0
    assert prop.parts["draft"][clockmaker] == 0.0 and prop.parts["draft"][albania] == 0.0
    assert prop.total(cfg, trust=0.0)[usharn] == pytest.approx(cfg.w_draft)
    acc.observe(usharn)  # written: the list moves on to its next item
    assert acc.propose().parts["draft"][usharn] == 0.0
    hello = rt.answer("How do you say 'hello' in Spanish?")
    assert hello.asked == "translate" and hello.drafted, hello
    assert any(rt.snap.word_id(w) is None for w in hello.drafted)  # words the graph lacks join the candidates
    assert "hola" in hello.text.lower(), hello.text  # a word of the LLM's draft, not of the graph
    assert rt.answer("How do you say 'hello' in Spanish?", RuntimeConfig(max_words=24, draft_tokens=0)).drafted == []


def step_in(state, node: int, copy=None) -> Step:
    """A one-candidate step that chose `node` at a sentence start."""
    cand = Candidate(node, state.lex.written(node, True), 0.0, {}, 0.0, 0.0)
    return Step(0, "", 0, 2, [cand], cand.text, cand.text, cap=True, copy_source=copy)


def test_a_word_the_llm_would_go_on_spelling_is_cut_short(rt: Runtime) -> None:
    """ "Ma" where the LLM goes on with "ize" was only the start of "Maize": it is refused while a longer
    candidate shares its first subword; a copy, a word without such mates, or an unsure LLM keep it."""
    state, _, _ = rt.prepare('Is "Ma" a word, or Maize, or M, or Q?', RuntimeConfig())
    lex, tok = state.lex, rt.backend.tokenizer
    ma, maize = lex.word_id("Ma"), lex.word_id("Maize")
    assert ma is not None and maize is not None
    ize, space_is = tok.encode("ize", add_special_tokens=False)[0], tok.encode(" is", add_special_tokens=False)[0]

    def row(top: int, p: float, also: int | None = None) -> np.ndarray:
        """`top` with p, `also` with p too when given, the rest on " is" (the word ends there)."""
        out = np.full(len(tok), -1e9)
        out[top] = np.log(p)
        if also is not None:
            out[also] = np.log(p)
        out[space_is] = np.log(1 - p * (2 if also is not None else 1))
        return out

    def step(node: int, copy=None) -> Step:
        return step_in(state, node, copy)

    cfg = RuntimeConfig()
    assert cut_short(state, step(ma), [0], {0: row(ize, 0.9)}, cfg)
    assert not cut_short(state, step(ma), [0], {0: row(space_is, 0.9)}, cfg)  # a whole word after all
    assert not cut_short(state, step(ma), [0], {0: row(ize, 0.3)}, cfg)  # the LLM is not sure
    assert not cut_short(state, step(ma, (1, 0, 1)), [0], {0: row(ize, 0.9)}, cfg)  # a copy keeps its spelling
    assert not cut_short(state, step(ma), [0], {0: row(ize, 0.9)}, RuntimeConfig(cut_above=0))
    two = tok.encode("2", add_special_tokens=False)[0]
    assert cut_short(state, step(ma), [0], {0: row(two, 0.9)}, cfg)  # digits go on inside a word too ("H2O")
    # two ways on, neither as likely as the word's end, together more likely ("H" + "2" or "HO": "H2O")
    assert cut_short(state, step(ma), [0], {0: row(ize, 0.3, also=two)}, cfg)
    # a lone letter the LLM goes on from starts a word: every lone letter goes, or it spells one ("H. A. S.")
    m, q = lex.word_id("M"), lex.word_id("Q")
    assert set(cut_short(state, step(m), [0], {0: row(ize, 0.9)}, cfg)) >= {m, q}
    assert cut_short(state, step(ma), [0], {0: row(ize, 0.9)}, cfg) == [ma]  # a longer start: its mates stay
    assert not cut_short(state, step(m), [0], {0: row(space_is, 0.9)}, cfg)  # "M is…": a letter after all
    # after three refusals only words needing no spelling check are left: a lone letter is not one of them
    # (it only starts a word: "El c…" where the LLM wanted "español")
    lp = row(tok.encode(" M", add_special_tokens=False)[0], 0.9)
    assert rt.score(state, lp, cfg).mask[[m, q]].all()
    assert not rt.score(state, lp, cfg, safe_only=True).mask[[m, q]].any()
    state.allowed[maize] = False
    assert not cut_short(state, step(ma), [0], {0: row(ize, 0.9)}, cfg)  # nothing longer to re-choose
    # an answer may open with a quote ('"green"'), not with other punctuation
    first = mask(state, cfg, state.acc.propose())
    assert first[lex.word_id('"')] and not first[lex.word_id(",")]


def test_an_answer_that_echoes_the_sentence_asked_about_goes_on_in_it(rt: Runtime) -> None:
    """ "Pride and Prejudice is" matched only the question's words and a function word, yet the whole
    answer so far is the start of the passage the question names: its next word counts in full (before,
    `function_match`, and the LLM's own "a classic" won over "a novel written by Jane Austen")."""
    from overlay.accumulator import Accumulator

    cfg = rt.config
    question = "What is Pride and Prejudice?"
    hits = search(rt.snap, question, 1, cfg.lexical_weight)
    assert hits[0].title == "Pride and Prejudice"
    lex = rt.lexicon
    acc = Accumulator(rt.snap, lex, cfg)
    acc.seed(question, hits)
    words = ["Pride", "and", "Prejudice", "is"]
    for w in words:
        acc.observe(lex.word_id(w))
    a = lex.word_id("a")
    copy = acc.propose().parts["copy"]
    assert copy[a] == pytest.approx(hits_rho(cfg) * 3)  # the last three words matched, in full
    acc = Accumulator(rt.snap, lex, cfg)  # the same words after another one: an echo, not the start
    acc.seed(question, hits)
    for w in ["Yes", *words]:
        acc.observe(lex.word_id(w))
    assert acc.propose().parts["copy"][a] == pytest.approx(hits_rho(cfg) * 3 * cfg.function_match)


def hits_rho(cfg: RuntimeConfig) -> float:
    return cfg.rho[0]


def _hits(*texts: str) -> list[SimpleNamespace]:
    """Passages as retrieval returns them (rank = order), one document each, on the graph's own words."""
    return [SimpleNamespace(id=900 + i, text=t, title=f"d{i}", doc_id=f"d{i}") for i, t in enumerate(texts)]


def test_an_echo_of_the_question_binds_no_document_and_the_restated_opening_is_not_gated(rt: Runtime) -> None:
    """ "Coyote" may come from the mythology article (it opens with the word), yet "Coyote is a" goes on
    in the first-ranked "The coyote is a species of canine": the answer restates that opening without its
    "The". Such a copy is held: the LLM's confidence does not gate it (a sure "device" loses to the
    passage's "powered household appliance")."""
    from overlay.accumulator import Accumulator

    cfg, lex = rt.config, rt.lexicon
    acc = Accumulator(rt.snap, lex, cfg)
    acc.seed("What is geologist?", _hits("The geologist is a Lithuanian.", "Geologist is a clockmaker."))
    assert [p.subject for p in acc.passages] == [(0, 1), (0, 0)]
    geologist, lithuanian, clockmaker = (lex.word_id(w) for w in ("geologist", "Lithuanian", "clockmaker"))
    first = acc.propose()
    assert first.copy_from[geologist][0] == 901  # only the second passage opens with the word asked
    acc.observe(geologist, first.copy_from[geologist])
    assert acc.sentence_doc is None  # an echo of the question: no document chosen yet
    for w in ("is", "a"):
        acc.observe(lex.word_id(w))
    prop = acc.propose()
    assert prop.parts["copy"][lithuanian] == pytest.approx(cfg.rho[0] * 3)  # anchored, in full
    assert prop.parts["copy"][lithuanian] > prop.parts["copy"][clockmaker]
    assert lithuanian in prop.held  # (so is "clockmaker": the second passage opens "Geologist is a" too)
    assert step_trust(1.0, 0.9, 0.0, cfg, fact=True) == 1.0 > step_trust(1.0, 0.9, 0.0, cfg)


def test_an_opening_about_the_word_asked_after_an_opening_phrase_is_where_the_answer_starts(rt: Runtime) -> None:
    """ "In particle physics, a lepton is an elementary particle…": the answer may open on "Lepton" and go
    on as that sentence does ("Lepton is an elementary…"), where before it opened on the LLM's own
    "Leptons are fundamental particles…"; a word asked inside a longer name ("The rhesus macaque") is not
    what an opening is about."""
    from overlay.accumulator import Accumulator

    cfg, lex = rt.config, rt.lexicon
    acc = Accumulator(rt.snap, lex, cfg)
    acc.seed(
        "What is geologist?",
        _hits("In Albania, a geologist is a Lithuanian.", "The Lithuanian geologist is a clockmaker."),
    )
    assert [p.subject for p in acc.passages] == [(3, 4), None]
    acc.seed("What is 1871 Albania?", _hits("The 1871 Albania is a clockmaker.", "The 4 Albania is a geologist."))
    assert [p.subject for p in acc.passages[2:]] == [(0, 1), None]  # a number asked opens it, or is a longer name
    geologist, lithuanian, clockmaker = (lex.word_id(w) for w in ("geologist", "Lithuanian", "clockmaker"))
    first = acc.propose()
    assert first.copy_from[geologist][:2] == (900, 4)  # the answer may open on the word asked
    acc.observe(geologist, first.copy_from[geologist])
    for w in ("is", "a"):
        acc.observe(lex.word_id(w))
    prop = acc.propose()
    assert prop.parts["copy"][lithuanian] == pytest.approx(cfg.rho[0] * 3) and lithuanian in prop.held
    assert prop.parts["copy"][clockmaker] < prop.parts["copy"][lithuanian] and clockmaker not in prop.held


def test_a_passage_repeating_its_subject_is_not_copied_into_a_loop(rt: Runtime) -> None:
    """A passage's own repeat may be copied ("the Greek War … the Greek War of Independence"), but not
    into a run of `block_ngram` + 1 words written twice ("The Solar System is … The Solar System is")."""
    from overlay.accumulator import Accumulator

    cfg, lex = rt.config, rt.lexicon
    state, _, _ = rt.prepare("Where are the salt caves?", cfg)
    acc = Accumulator(rt.snap, lex, cfg)
    text = "The salt caves of Dravenmor are green . The salt caves of Dravenmor was mapped ."
    acc.seed("Where are the salt caves?", _hits(text))
    state.acc = acc
    words = text.split()[:11]  # "The salt caves of Dravenmor are green . The salt caves"
    for i, w in enumerate(words):
        node = lex.word_id(w)
        key = tuple(x for x in state.words if lex.kinds[x] != "punct")[-2:]
        if len(key) == 2:
            state.seen.setdefault(key, set()).add(node)
        state.words.append(node)
        state.copied.add((900, i))
        acc.observe(node, (900, i, 1), w)
    of = lex.word_id("of")
    prop = acc.propose()
    assert prop.copy_from[of][:2] == (900, 11)  # a fresh position of the passage
    assert not mask(state, cfg, prop)[of]  # but "The salt caves of" was written already


def lexicon_of(backend, vocab: list[list], word_id=lambda s: None):
    """A lexicon over a snapshot holding only `vocab` rows ([key, surface, kind, count], node = row)."""
    from overlay.lexicon import Lexicon

    return Lexicon.of(SimpleNamespace(vocab=vocab, base_size=len(vocab), word_id=word_id), backend.tokenizer)


def test_a_function_word_is_written_in_lower_case_whatever_titles_made_frequent(backend) -> None:
    """The wiki's most frequent "you" inside a sentence is "You" (song titles): the LLM's " you" could not
    be written, and "How are you?" became "How are things?". "I" keeps its capital."""
    vocab = [["you", "You", "word", 3], ["i", "I", "word", 2], ["paris", "Paris", "word", 1]]
    assert lexicon_of(backend, vocab).surfaces == ["you", "I", "Paris"]


def test_a_lone_letter_is_one_of_a_cased_script_that_is_no_word(backend) -> None:
    """Lone letters are cut together when the LLM goes on from one; a CJK character or a one-letter word is
    a word of its own, and cutting every such one would leave a Chinese answer nothing to write."""
    words = ["H", "s", "Щ", "a", "I", "в", "東", "ア", "5", "Ha"]
    lex = lexicon_of(backend, [[w.lower(), w, "word", 1] for w in words])
    assert dict(zip(words, lex.letter.tolist(), strict=True)) == dict.fromkeys(words, False) | {
        "H": True,
        "s": True,
        "Щ": True,
    }


def test_a_clitic_after_an_apostrophe_is_written_joined(backend) -> None:
    """The LLM spells "I’m" as I + ’ + m; written word by word it read "I’ m here" in the demo."""
    words = ["i", "’", "m", "s", "here"]
    keys = {w: i for i, w in enumerate(words)}
    lex = lexicon_of(backend, [[w, w, "punct" if w == "’" else "word", 1] for w in words], keys.get)
    space = lex.written_as(False, "’").space
    assert not space[keys["m"]] and not space[keys["s"]] and space[keys["here"]]
    assert lex.written_as(False, "I").space[keys["m"]]  # a clitic is spaced after an ordinary word


def test_an_answer_that_only_restates_the_question_goes_on_in_the_opening_sentence(rt: Runtime) -> None:
    """ "Lighting is" against "Lighting or illumination is the deliberate use of light…": the answer has
    said nothing but the question, so the opening sentence goes on from its first "is", in full; once the
    answer says something of its own, such a match is only a function word again."""
    from overlay.accumulator import Accumulator

    cfg, lex = rt.config, rt.lexicon
    a = lex.word_id("a")
    for said in ([], ["green"]):
        acc = Accumulator(rt.snap, lex, cfg)
        acc.seed("What is grass?", _hits("Grass or leaves is a plant with narrow green leaves."))
        for w in [*said, "Grass", "is"]:
            acc.observe(lex.word_id(w))
        prop = acc.propose()
        expected = cfg.rho[0] * (cfg.function_match if said else 1.0)
        assert prop.parts["copy"][a] == pytest.approx(expected)
        assert (a in prop.held) == (not said)


def test_a_passage_missing_a_name_asked_is_not_copied(rt: Runtime) -> None:
    """Among a thousand live facts, "Who was Usharn Keskescal?" also retrieves another Usharn's fact that
    opens with "Usharn": it holds fewer of the question's names, so it neither opens the answer nor is
    copied further on, even from an answer that restates it (before: "Zornim Lanmirarn is a Latvian
    glassblower" for "Who was Zornim Calvenquel?", and "Toskith Ushquelquel is a" going on in another
    Toskith's fact, at 1,070 live facts)."""
    from overlay.accumulator import Accumulator

    cfg, lex = rt.config, rt.lexicon
    hits = _hits("Usharn Keskescal is a clockmaker.", "Usharn Ythquelsor is a geologist.")
    for h, names in zip(hits, (1.0, 0.5), strict=True):
        h.names = names
    usharn, geologist = lex.word_id("Usharn"), lex.word_id("geologist")
    acc = Accumulator(rt.snap, lex, cfg)
    acc.seed("Who was Usharn Keskescal?", hits[1:] + hits[:1])  # the other Usharn ranked first
    assert [p.named for p in acc.passages] == [False, True]
    assert acc.propose().copy_from[usharn][0] == hits[0].id  # the answer opens from the passage named
    for w in ("Usharn", "Ythquelsor", "is", "a"):  # an answer that went the other way anyway
        acc.observe(lex.word_id(w))
    prop = acc.propose()
    assert geologist not in prop.copy_from and prop.parts["copy"][geologist] == 0.0  # is not carried on
    acc = Accumulator(rt.snap, lex, cfg)
    acc.seed("Who was Usharn Keskescal?", hits[1:] + hits[:1])
    for w in ("Usharn", "Keskescal", "is", "a"):
        acc.observe(lex.word_id(w))
    assert acc.propose().copy_from[lex.word_id("clockmaker")][0] == hits[0].id  # the one named goes on


def test_the_question_word_in_another_form_is_an_echo_too(rt: Runtime) -> None:
    """ "What is grass?" answered "Grasses are" restates the opening "Grasses or green leaves are a plant…"
    as "Grass is" would: the plural is the question's word, so the answer goes on in that sentence (before,
    "Sponges are" was not an echo and went on in "… are one of the most ancient members of macrobenthos"
    instead of "… are primarily marine invertebrates of the animal phylum Porifera")."""
    from overlay.accumulator import Accumulator

    cfg, lex = rt.config, rt.lexicon
    acc = Accumulator(rt.snap, lex, cfg)
    acc.seed("What is grass?", _hits("Grasses or green leaves are a plant with narrow leaves."))
    assert lex.word_id("Grasses") in acc.asked and lex.word_id("leaves") not in acc.asked
    for w in ("Grasses", "are"):
        acc.observe(lex.word_id(w))
    assert acc.echo_only and lex.word_id("a") in acc.propose().held


def test_a_copied_word_is_scored_as_its_passage_writes_it(rt: Runtime) -> None:
    """The node "harbour" is written in lower case, but a passage naming "the Harbour" (a name) is copied as
    written, capitalised: the LLM part is that spelling's log-prob, not the lower-case word's (before, a
    name inside a sentence, "the Organization of Arab Petroleum…", lost to the LLM's own words)."""
    from overlay import scoring
    from overlay.accumulator import Accumulator

    cfg, lex, tok = rt.config, rt.lexicon, rt.backend.tokenizer
    state, _, _ = rt.prepare("Where do the boats wait?", cfg)
    harbour = lex.word_id("harbour")
    assert lex.surfaces[harbour] == "harbour"
    state.acc = Accumulator(rt.snap, state.lex, cfg)
    state.acc.seed("Where do the boats wait?", _hits("The boats wait in the Harbour of the bay."))
    for w in ("The", "boats", "wait", "in", "the"):
        node = state.lex.word_id(w)
        state.acc.observe(node, state.acc.propose().copy_from.get(node))
        state.words.append(node)
        state.surfaces.append(w)
    upper, lower = (tok.encode(w, add_special_tokens=False)[0] for w in (" Harbour", " harbour"))
    logprobs = np.full(len(tok), -20.0)
    logprobs[upper], logprobs[lower] = -0.5, -9.0
    sc = rt.score(state, logprobs, cfg)
    assert sc.prop.parts["copy"][harbour] > 0
    assert sc.llm[harbour] == pytest.approx(-0.5, abs=0.7)  # the capitalised spelling's (a tie penalty at most)
    assert scoring.written_text(state, harbour, sc) == "Harbour"
    assert int(np.argmax(sc.score)) == harbour
