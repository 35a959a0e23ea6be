"""The evals that see the difference: everyday prompts by kind, the first sentence of recall answers, and
answers stitched from two documents' passages."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

from overlay import Runtime, RuntimeConfig, evaluate


def test_first_sentence_and_within_words() -> None:
    assert evaluate.first_sentence("Pi is 3.14 roughly. Then more.") == "Pi is 3.14 roughly."
    assert evaluate.first_sentence("Yes! It is.") == "Yes!"
    long = " ".join(["word"] * 40)
    assert len(evaluate.first_sentence(long).split()) == evaluate.FIRST_SENTENCE_WORDS
    assert evaluate.within_words("Green, of course, is it.", 2) == "Green, of"
    assert evaluate.contains(evaluate.within_words("It is green.", 3), ["green"])
    assert not evaluate.contains(evaluate.within_words("It is quite green.", 3), ["green"])


def _step(text: str, source: tuple | None, node: int = 5) -> SimpleNamespace:
    return SimpleNamespace(text=text, copy_source=source, winner=SimpleNamespace(node=node))


def test_stitched_counts_a_sentence_copied_from_two_documents() -> None:
    docs = {1: "Marie Curie", 2: "Marie Curie", 3: "Isaac Newton"}
    snap = SimpleNamespace(passage=lambda pid: SimpleNamespace(id=pid, doc_id=docs[pid], title=docs[pid]))
    one = SimpleNamespace(steps=[_step("She", (1, 0, 1)), _step("was", (2, 4, 1)), _step(".", None)])
    two = SimpleNamespace(steps=[_step("She", (1, 0, 1)), _step(".", None), _step("He", (3, 0, 1))])
    three = SimpleNamespace(steps=[_step("She", (1, 0, 1)), _step("was", None), _step("English", (3, 5, 2))])
    assert not evaluate.stitched(one, snap) and not evaluate.stitched(two, snap) and evaluate.stitched(three, snap)
    echo = [_step("Marie", (3, 0, 1), 7), _step("was", (1, 2, 1)), _step("Polish", (2, 3, 1))]
    assert evaluate.stitched(SimpleNamespace(steps=echo), snap)
    assert not evaluate.stitched(SimpleNamespace(steps=echo), snap, frozenset({7}))  # "Marie" echoes the question
    echo[2] = _step("English", (3, 5, 2))  # a fact of the other document: stitched, echo or not
    assert evaluate.stitched(SimpleNamespace(steps=echo), snap, frozenset({7}))


def test_prompt_and_recall_evals_report_their_keys(runtime: Runtime, tmp_path: Path) -> None:
    rows = [
        {"prompt": "What is a volcano?", "kind": "define", "any": ["mountain", "lava", "volcano"], "within": 30},
        {"prompt": "Where do ships sail?", "kind": "short", "any": ["sea", "river"], "within": 20},
    ]
    cfg = RuntimeConfig(max_words=12)
    result = evaluate.prompts(runtime, rows, cfg)
    assert result["n"] == 2 and result["kinds"] == {"define": 1, "short": 1}
    for name in ("overlay", "llm_only", "rag"):
        assert set(result[name]) >= {"all", "define", "short"} and 0 <= result[name]["all"] <= 1
    assert isinstance(result["overlay"]["stitched"], int) and len(result["details"]) == 2
    recall = evaluate.recall(runtime, [{"question": "What is a volcano?", "answers": ["lava"]}], cfg)
    for name in ("overlay", "llm_only", "rag"):
        assert set(recall[name]) >= {"accuracy", "first_sentence", "loops"}
        assert recall[name]["first_sentence"] <= recall[name]["accuracy"]
    assert "stitched" in recall["overlay"]
    json.dumps(result | {"recall": recall})  # JSON-ready


def test_half_splits_a_dev_file_for_tuning_and_reporting(cli, tmp_path: Path) -> None:
    rows = list(range(5))
    first, second = evaluate.half(rows, "first"), evaluate.half(rows, "second")
    assert first + second == rows and len(first) == 3 and evaluate.half(rows, "all") == rows
    assert "--half" in cli("eval", "recall", tmp_path / "q.jsonl", "--half", "third", expect=2).output
