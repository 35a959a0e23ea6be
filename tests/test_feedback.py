"""A bad verdict on an answer makes its word lose after the next publish; undo brings the answer back."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.helpers import cli_json


def test_bad_answer_word_loses_after_publish(cli, home: Path, small_home: Path, model_cache: Path) -> None:
    shutil.copytree(small_home, home, symlinks=True)
    first = cli_json(cli, "ask", "What is a volcano?", "--max-words", "8")
    step = first["steps"][1]
    wrong = step["candidates"][step["chosen"]]["text"]
    edit = cli_json(cli, "feedback", first["id"], "--bad", "--step", "1", "--note", "not this word")
    assert edit["paths"] == 1
    log = cli_json(cli, "graph", "log")
    assert log[0]["op"] == "verdict" and log[0]["note"] == "not this word"
    cli("graph", "publish")
    again = cli_json(cli, "ask", "What is a volcano?", "--max-words", "8")
    assert again["steps"][0]["text"] == first["steps"][0]["text"]  # only the rated step changes
    step = again["steps"][1]
    assert step["candidates"][step["chosen"]]["text"] != wrong
    loser = next(c for c in step["candidates"] if c["text"] == wrong)
    assert loser["parts"]["verdict"] == -1.0 and any(e["rel"] == "verdict" for e in loser["edges"])
    assert "-1.00" in cli("explain", again["id"], "--top", "12").output  # the verdict column, as on the page
    cli("explain", again["id"], "--html", home / "why.html")
    cli("graph", "undo", str(edit["edit_id"]))
    cli("graph", "publish")
    assert cli_json(cli, "ask", "What is a volcano?", "--max-words", "8")["text"] == first["text"]
    cli("feedback", first["id"], expect=2)  # neither --good nor --bad
