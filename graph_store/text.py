"""The one word splitter of the project: graph tokens for every script.

Graph tokens are human-readable words, numbers and punctuation marks (never LLM subwords). Each keeps its
surface form and a case-folded key; `join` puts tokens back together with spacing rules, so text written
token by token (as the runtime does) reads like ordinary prose.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import regex

# Han ideographs and Japanese kana are written without spaces: one token per character.
_CJK = r"[\p{Han}\p{Hiragana}\p{Katakana}\u30fc]"
_NUMBER = r"\p{Nd}+(?:[.,:]\p{Nd}+)+"  # 3.14, 1,000, 09:40
_ABBREV = r"\p{L}(?:\.\p{L})+\.?"  # U.S., i.e.
_WORD = r"[\p{L}\p{M}\p{N}]+(?:['’\-&][\p{L}\p{M}\p{N}]+)*"  # it's, 20th-century, AT&T
_TOKEN_RE = regex.compile(rf"(?P<cjk>{_CJK})|(?P<num>{_NUMBER})|(?P<word>{_ABBREV}|{_WORD})|(?P<punct>\S)", regex.V1)
_WORD_CHARS = regex.compile(r"[\p{L}\p{M}]")
_CJK_RE = regex.compile(_CJK)

SENTENCE_END = frozenset(".!?…。！？")
_NO_SPACE_BEFORE = frozenset(".,;:!?…%)]}»”’、。，！？；：）」』")
_NO_SPACE_AFTER = frozenset("([{«“‘¿¡（「『°")
_DASHES = frozenset("-/–")  # hyphen, slash and en dash join (1931–1932); the em dash is spaced
_QUOTES = frozenset('"')
APOSTROPHES = frozenset("’")  # the straight ' is written as a quote (`_QUOTES`, the lexicon's QUOTES)
# what an apostrophe joins onto the word before it when a tokenizer splits "I’m" as I + ’ + m
CLITICS = frozenset({"s", "t", "m", "d", "re", "ve", "ll"})


@dataclass(frozen=True, slots=True)
class Token:
    """One graph token: `surface` as written, `key` case-folded, `kind` word/number/punct."""

    surface: str
    key: str
    kind: str
    space_before: bool = True

    @property
    def is_word(self) -> bool:
        return self.kind == "word"


def fold(surface: str) -> str:
    """The case-folded, NFKC-normalised key under which a surface form is counted."""
    return unicodedata.normalize("NFKC", surface).casefold()


def _kind(group: str, surface: str) -> str:
    if group == "cjk":
        return "word"
    if group == "num" or (group == "word" and not _WORD_CHARS.search(surface)):
        return "number"
    return "word" if group == "word" else "punct"


def split(text: str) -> list[Token]:
    """Split text into graph tokens, remembering whether whitespace preceded each."""
    tokens: list[Token] = []
    last_end = 0
    for m in _TOKEN_RE.finditer(text):
        surface = m.group()
        space = m.start() > last_end or not tokens
        tokens.append(Token(surface, fold(surface), _kind(m.lastgroup or "punct", surface), space))
        last_end = m.end()
    return tokens


def sentences(tokens: Sequence[Token]) -> list[int]:
    """Sentence index of every token: a sentence ends after . ! ? and their CJK forms."""
    out, sent = [], 0
    for tok in tokens:
        out.append(sent)
        if tok.surface in SENTENCE_END:
            sent += 1
    return out


def is_cjk(surface: str) -> bool:
    """Written without spaces between characters (Han, kana)."""
    return bool(surface) and bool(_CJK_RE.fullmatch(surface[:1]))


def needs_space(prev: str | None, cur: str) -> bool:
    """Whether a space goes between two surfaces, by the spacing rules of punctuation and CJK."""
    if prev is None or cur in _NO_SPACE_BEFORE or prev in _NO_SPACE_AFTER:
        return False
    if cur in _DASHES or prev in _DASHES:
        return False
    if prev in APOSTROPHES and fold(cur) in CLITICS:
        return False
    return not (_CJK_RE.fullmatch(cur[:1]) and _CJK_RE.fullmatch(prev[-1:]))


def join(items: Iterable[str | Token]) -> str:
    """Join tokens into readable text by the spacing rules alone (no original whitespace needed).

    A straight quote opens when none is open (space before, none after) and closes otherwise.
    """
    parts: list[str] = []
    prev: str | None = None
    quote_open = just_opened = False
    for item in items:
        cur = item.surface if isinstance(item, Token) else item
        is_quote = cur in _QUOTES
        if prev is None or just_opened:
            space = False
        elif is_quote:
            space = not quote_open and prev not in _NO_SPACE_AFTER
        else:
            space = needs_space(prev, cur)
        parts.append(" " + cur if space else cur)
        if is_quote:
            quote_open = not quote_open
        just_opened = is_quote and quote_open
        prev = cur
    return "".join(parts)


def join_original(tokens: Iterable[Token]) -> str:
    """Join tokens with the whitespace they had in the original text (folded to single spaces)."""
    return "".join((" " if t.space_before and i else "") + t.surface for i, t in enumerate(tokens))
