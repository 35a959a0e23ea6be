"""What a prompt asks of the answer's form: a length ("Answer with one word", "yes or no", "in one
sentence"), a list, a translation.

A small model does not stop where it is told to; the loop does, once the answer has as many words or
sentences as the prompt asked for. A small model also opens a short answer with a preamble ("The answer
is …") that would use up the words: the LLM is given that preamble as the start of its turn (`PRIMER`,
part of its prompt, never of the answer), so the answer's first word is the answer. English phrasings
only (the instruction, not the topic, is matched).

A list is composed, not copied: passages are prose, and following one turns "List three vegetables." into
an article's lead, so a list trusts the graph's evidence less (`list_trust`), its passages are not put
in the LLM's prompt, and the LLM drafts it first, as for a translation, so its items are proposed. A
translation needs words the graph may lack ("hola"): the LLM drafts an answer first and its words join the session words
(`prompting.draft_words`), so the graph still bounds the words but the bound includes them.
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
_TWO_SENTENCES = re.compile(
    r"\b(?:in|with|using)\s+(?:a\s+sentence\s+or\s+two|(?:one\s+or\s+)?(?:two|2)\s+sentences)\b", re.I
)
_NUMBER = r"(?:two|three|four|five|six|seven|eight|nine|ten|\d+|a\s+few|several|some|any)"
_LIST = re.compile(
    rf"^\s*(?:(?:can|could|would)\s+you\s+|please\s+)?(?:list|enumerate)\b"
    rf"|\b(?:list|name|give(?:\s+me)?|mention|suggest|tell\s+me)\s+{_NUMBER}\b"
    r"|^\s*(?:what|which)\s+are\s+the\s+\w+s\s+(?:of|in)\b",  # "What are the days of the weekend?"
    re.I,
)
_LANGUAGES = (
    "english|french|spanish|german|italian|portuguese|dutch|russian|chinese|mandarin|japanese|korean|arabic"
    "|hindi|turkish|polish|swedish|norwegian|danish|finnish|greek|latin|hebrew|ukrainian|czech|esperanto"
)
_TRANSLATE = re.compile(
    rf"\btranslat\w*\b|\bhow\s+(?:do|would|can|does)\s+(?:you|i|we|one)\s+say\b"
    rf"|\bin\s+(?:{_LANGUAGES})\s*[?.!]*\s*$|\b(?:{_LANGUAGES})\s+(?:word|for)\b|\bmean\s+in\s+(?:{_LANGUAGES})\b",
    re.I,
)
SHORT_WORDS = 3  # a one-word or yes/no answer: the word, and room for "Yes, it" / "Down."
PRIMER = "The answer is"  # the start of the LLM's turn for a short answer (its last word: `PRIMER_LAST`)
PRIMER_LAST = "is"


@dataclass(frozen=True)
class Limits:
    words: int | None = None  # stop after this many words (punctuation not counted)
    sentences: int | None = None  # stop once this many sentences have ended
    kind: str | None = None  # "short", "sentence", "list", "translate": what was asked (traced)

    @property
    def primed(self) -> bool:
        """A short answer: the LLM's turn starts with `PRIMER`."""
        return self.words is not None


def limits(question: str) -> Limits:
    """The form a question asks for (none: the configured `max_words` alone)."""
    if _ONE_WORD.search(question) or _YES_NO.search(question):
        return Limits(SHORT_WORDS, 1, "short")
    if _TWO_SENTENCES.search(question):
        return Limits(None, 2, "sentence")
    if _ONE_SENTENCE.search(question):
        return Limits(None, 1, "sentence")
    if _TRANSLATE.search(question):
        return Limits(kind="translate")
    if _LIST.search(question):
        return Limits(kind="list")
    return Limits()
