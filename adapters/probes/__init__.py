"""Probes: how a model responds inside to a text (map), what its heads do (heads), which hidden states
carry an answer (patch), and two models side by side (compare). Each returns a JSON-ready report that
`write_report` renders to plots and an offline page."""

from adapters.probes.compare import compare, word_surprisal, words
from adapters.probes.heads import THRESHOLDS, head_classes, head_set, jaccard
from adapters.probes.models import open_probe, random_twin, with_adapter
from adapters.probes.patching import patch
from adapters.probes.report import write_report
from adapters.probes.response_map import DEFAULT_MAX_TOKENS, DEFAULT_WINDOW, measure, response_map

__all__ = [
    "DEFAULT_MAX_TOKENS",
    "DEFAULT_WINDOW",
    "THRESHOLDS",
    "compare",
    "head_classes",
    "head_set",
    "jaccard",
    "measure",
    "open_probe",
    "patch",
    "random_twin",
    "response_map",
    "with_adapter",
    "word_surprisal",
    "words",
    "write_report",
]
