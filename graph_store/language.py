"""Which language a text is in, and what its words need for search: a stemmer and its function words.

Detection is py3langid (langid.py's naive Bayes over byte n-grams, 97 languages, its model shipped inside
the package: nothing is downloaded). It is sure on a paragraph and can be wrong on a few words, so a
document is told by its whole text at ingest and a question only among the languages the graph holds.
Stemming is PyStemmer (Snowball) for the languages it has, none for the others; function words are
bm25s' lists per language, with the house's own English and Russian ones (`stopwords.py`).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Collection, Sequence

from .stopwords import STOPWORDS

UNDETERMINED = "und"  # ISO 639-2: nothing to tell by (no letters)
SAMPLE = 4000  # characters of a document that detection reads: enough to be sure, cheap on long ones

# ISO 639-1 → Snowball algorithm name (PyStemmer)
SNOWBALL = {
    "ar": "arabic",
    "ca": "catalan",
    "cs": "czech",
    "da": "danish",
    "de": "german",
    "el": "greek",
    "en": "english",
    "es": "spanish",
    "eo": "esperanto",
    "et": "estonian",
    "eu": "basque",
    "fa": "persian",
    "fi": "finnish",
    "fr": "french",
    "ga": "irish",
    "hi": "hindi",
    "hu": "hungarian",
    "hy": "armenian",
    "id": "indonesian",
    "it": "italian",
    "lt": "lithuanian",
    "ne": "nepali",
    "nl": "dutch",
    "no": "norwegian",
    "pl": "polish",
    "pt": "portuguese",
    "ro": "romanian",
    "ru": "russian",
    "sr": "serbian",
    "sv": "swedish",
    "ta": "tamil",
    "tr": "turkish",
    "yi": "yiddish",
}
_BM25S_STOPWORDS = {
    "de": "STOPWORDS_GERMAN",
    "nl": "STOPWORDS_DUTCH",
    "fr": "STOPWORDS_FRENCH",
    "es": "STOPWORDS_SPANISH",
    "pt": "STOPWORDS_PORTUGUESE",
    "it": "STOPWORDS_ITALIAN",
    "ru": "STOPWORDS_RUSSIAN",
    "sv": "STOPWORDS_SWEDISH",
    "no": "STOPWORDS_NORWEGIAN",
    "da": "STOPWORDS_DANISH",
    "tr": "STOPWORDS_TURKISH",
    "zh": "STOPWORDS_CHINESE",
    "ko": "STOPWORDS_KOREAN",
}


CONFIDENT = 0.9  # the detector's probability below which a short text's language is `fallback`
NEARLY = 0.5  # an unsure guess yields to a preferred language at least this share as likely


def detect(
    text: str, among: Collection[str] | None = None, fallback: str | None = None, prefer: Collection[str] = ()
) -> str:
    """ISO 639-1 code of `text`'s language (`among` only, when given), else UNDETERMINED (no letters).

    `fallback` is the answer where the detector is unsure ("Who is Anna Berg?" is Latin at 0.53 among
    English, Latin and Esperanto) or there are no letters. Where it is unsure, a `prefer`red language (one
    the graph already holds) that it finds nearly as likely as its best guess wins: "The capital of Kenya is
    Cairo." is Kikuyu at 0.11 and English at 0.10; "Москва — столица России." stays Russian."""
    sample = text[:SAMPLE]
    if not any(ch.isalpha() for ch in sample):
        return fallback or UNDETERMINED
    if among is not None and len(among) == 1:
        return next(iter(among))
    langs = tuple(sorted(among)) if among else None
    identifier, lock = _identifier(langs)
    with lock:  # the identifier keeps per-call state
        ranked = identifier.rank(sample)
    lang, prob = ranked[0]
    if prob < CONFIDENT and prefer:
        held = [(p, str(code)) for code, p in ranked if code in prefer]
        if held and max(held)[0] >= NEARLY * prob:
            return max(held)[1]
    return fallback if fallback and prob < CONFIDENT else str(lang)


@functools.cache
def _identifier(langs: tuple[str, ...] | None) -> tuple[object, threading.Lock]:
    from py3langid.langid import MODEL_DIR, MODEL_FILE, LanguageIdentifier

    # numpy arrays (npz), no pickle; probabilities normalised, so that "unsure" has a scale
    identifier = LanguageIdentifier.from_modelpath(MODEL_DIR / MODEL_FILE, norm_probs=True)
    if langs:
        known = set(identifier.nb_classes)
        usable = [lang for lang in langs if lang in known]
        if usable:
            identifier.set_languages(usable)
    return identifier, threading.Lock()


@functools.cache
def _stemmer(lang: str) -> tuple[object, threading.Lock] | None:
    import Stemmer

    name = SNOWBALL.get(lang)
    if name is None or name not in Stemmer.algorithms():
        return None
    return Stemmer.Stemmer(name), threading.Lock()  # a Stemmer object is not thread-safe


def stems(words: Sequence[str], lang: str | None) -> list[str]:
    """Snowball stems of folded words in `lang`; the words as they are where it has no stemmer."""
    found = _stemmer(lang) if lang else None
    if found is None or not words:
        return list(words)
    stemmer, lock = found
    with lock:
        return stemmer.stemWords(list(words))


@functools.cache
def function_words(lang: str | None) -> frozenset[str]:
    """Words too common in `lang` to tell one passage from another: the house list (English and Russian,
    left out whatever the language) plus bm25s' list for the language where it has one."""
    import bm25s.stopwords as lists

    extra = getattr(lists, _BM25S_STOPWORDS.get(lang or "", ""), ())
    return STOPWORDS | frozenset(w.casefold() for w in extra)
