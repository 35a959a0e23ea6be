"""Length instructions a prompt gives ("Answer with one word", "yes or no", "in one sentence").

A small model does not stop where it is told to; the loop does, once the answer has as many words or
sentences as the prompt asked for. A small model also opens a short answer with a preamble ("The answer
is …") that would use up the words: the LLM is given that preamble as the start of its turn (`PRIMER`,
part of its prompt, never of the answer), so the answer's first word is the answer. English phrasings
only (the instruction, not the topic, is matched).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_ONE_WORD = re.compile(r"\b(?:in|with|using)\s+(?:a\s+|one\s+|a\s+single\s+)word\b|\bone[- ]word\b", re.I)
_YES_NO = re.compile(r"\byes\s+or\s+no\b", re.I)
_ONE_SENTENCE = re.compile(
    r"\b(?:in|with|using)\s+(?:a\s+|one\s+|a\s+single\s+)sentence\b|\bone[- ]sentence\b"
    r"|\bkeep\s+it\s+(?:short|brief)\b",
    re.I,
)
SHORT_WORDS = 3  # a one-word or yes/no answer: the word, and room for "Yes, it" / "Down."
PRIMER = "The answer is"  # the start of the LLM's turn for a short answer (its last word: `PRIMER_LAST`)
PRIMER_LAST = "is"


@dataclass(frozen=True)
class Limits:
    words: int | None = None  # stop after this many words (punctuation not counted)
    sentences: int | None = None  # stop once this many sentences have ended

    @property
    def primed(self) -> bool:
        """A short answer: the LLM's turn starts with `PRIMER`."""
        return self.words is not None


def limits(question: str) -> Limits:
    """The length a question asks for (none: the configured `max_words` alone)."""
    if _ONE_WORD.search(question) or _YES_NO.search(question):
        return Limits(SHORT_WORDS, 1)
    if _ONE_SENTENCE.search(question):
        return Limits(None, 1)
    return Limits()
