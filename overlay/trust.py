"""How far the graph is trusted for one question: by how much of the question its passages hold.

Retrieval always returns something, relevant or not: "Hello! How are you?" finds the article on
greetings, "What is 2+2?" the one on addition. Such passages are no evidence for an answer, and following
them turns a chat reply into an encyclopedia lead. A passage is evidence when it is on topic (its cosine
reaches `evidence_dense`, or it holds a name the question asks about, which a dense model may not know;
or the question's language is one the dense model does not know, when its words alone decide)
and holds most of what is asked: its relevance is the larger of its `coverage` (idf-weighted share of
the question's terms) and `names` (share of the question's names). A document is as relevant as its best
passage, so an article's lead comes with the passage that matched. Where the question asks about a document
by its whole title ("What is Macaque?", `subject`), only that document and the facts a user stated on it are
used: the Rhesus macaque's "is a species of Old World monkey" is not the genus's, however well it matches.
The answer's trust rises linearly from 0 at `trust_low` to 1 at `trust_high`; it scales the evidence parts
of the graph score (activation, copy), and passages below `trust_low` are neither put in the prompt nor
copied. With trust 0 the graph still bounds the words, but the LLM chooses among them alone.
"""

from __future__ import annotations

from dataclasses import dataclass

from graph_store import FACT_PREFIX

from .config import RuntimeConfig


@dataclass
class Evidence:
    trust: float  # 0..1: how much the graph's evidence parts count in this answer
    hits: list  # the passages used (relevant documents), in retrieval order
    shares: list[float]  # relevance of every retrieved hit (traced)
    llm_weight: float = 1.0  # how much the LLM's log-probs count: less in a language it does not write well
    language: str | None = None  # the question's, as told among the graph's languages


def foreign(language: str | None, cfg: RuntimeConfig) -> bool:
    """A language the selector does not write well (an unknown one counts as its own)."""
    return bool(language) and language != "und" and language not in cfg.llm_languages


def llm_weight(language: str | None, cfg: RuntimeConfig) -> float:
    """1 in a language of the selector (or an unknown one); `llm_foreign` in any other: a small model's
    log-probs over a language it barely knows are noise, and the graph's passage is what answers (where
    the graph is not trusted at all, the LLM is all there is: the caller keeps 1)."""
    return cfg.llm_foreign if foreign(language, cfg) else 1.0


def relevance(hit, cfg: RuntimeConfig) -> float:
    """One hit's relevance to the question: 0 off topic, else the larger of coverage and names. Where the
    question was searched by its words alone (its language is not the embedding model's), coverage is all
    there is to tell by."""
    dense_ok = hit.dense is not None and hit.dense >= cfg.evidence_dense
    on_topic = dense_ok or hit.names > 0 or not getattr(hit, "dense_searched", True)
    return max(hit.coverage, hit.names) if on_topic else 0.0


def weigh(hits: list, cfg: RuntimeConfig, foreign: bool = False) -> Evidence:
    """The answer's trust and the passages it may use. In a language the selector does not write
    (`foreign`) evidence counts from `trust_low_foreign`: the LLM alone would answer with noise there, so
    a note holding part of the question is still the better answer."""
    shares = [relevance(h, cfg) for h in hits]
    by_doc: dict[str, float] = {}
    for h, share in zip(hits, shares, strict=True):
        doc = h.doc_id or f"#{h.id}"
        by_doc[doc] = max(by_doc.get(doc, 0.0), share)
    best = max(shares, default=0.0)
    low = min(cfg.trust_low_foreign, cfg.trust_low) if foreign else cfg.trust_low
    span = max(cfg.trust_high - low, 1e-6)
    trust = min(1.0, max(0.0, (best - low) / span))
    if best >= cfg.trust_high:
        trust = 1.0
    used = [h for h in hits if trust > 0 and by_doc[h.doc_id or f"#{h.id}"] >= low]
    if any(h.subject for h in used):  # the question names a document by all it asks: another entity's
        used = [h for h in used if h.subject or h.stated]  # passage is no evidence on it ("Rhesus macaque")
    # a fact the user stated comes before older passages on the same subject (it is used: it is on it)
    used.sort(key=lambda h: not is_fact(h))
    return Evidence(trust, used, shares)


def is_fact(hit) -> bool:
    """A passage of a fact a user stated (`graph_store.add_text_live`, `POST /v1/graph/facts`)."""
    return bool(hit.doc_id) and hit.doc_id.startswith(FACT_PREFIX)


def step_trust(
    trust: float, p_top: float, p_graph: float, cfg: RuntimeConfig, llm: float = 1.0, fact: bool = False
) -> float:
    """This step's trust: where the LLM is sure of a word the graph does not back (p_top high, p_graph
    low), weak evidence gives way; where the graph backs the LLM's choice, nothing changes. The LLM's
    sureness counts as much as its log-probs do (`llm`, the answer's LLM weight). A copy from a fact the
    user stated is not gated: the user's word outranks what the model believes ("The capital of Italy is
    Warsaw." against its sure "Rome"); nor is one that goes on in the sentence the question points to while
    the answer restates it (`Proposal.held`): the caller says either as `fact`."""
    if trust <= 0 or cfg.confidence_gate <= 0 or llm <= 0 or fact:
        return trust
    return trust * max(0.0, min(1.0, 1.0 - p_top + p_graph)) ** (cfg.confidence_gate * llm)
