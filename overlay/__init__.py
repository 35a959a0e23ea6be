"""The runtime: the graph proposes, the LLM selects, every step is traced."""

from common import OverlayError

from .config import MAX_WORDS, RuntimeConfig, build_config
from .errors import JobNotFound, RuntimeInputError, TraceNotFound, TracesBusy
from .explain import explain_steps
from .feedback import record_feedback
from .jobs import RESUMABLE, Handler, Job, JobStore
from .replay import ReplayResult, replay
from .runtime import Answer, Candidate, Generation, Runtime, Step, open_runtime
from .trace_export import ExportSummary, answer_spans, export_traces
from .traces import TraceStore
from .workspace import Workspace, ensure_not_served, serving

__all__ = [
    "MAX_WORDS",
    "build_config",
    "RESUMABLE",
    "Answer",
    "Candidate",
    "ExportSummary",
    "Generation",
    "Handler",
    "Job",
    "JobNotFound",
    "JobStore",
    "OverlayError",
    "ReplayResult",
    "Runtime",
    "RuntimeConfig",
    "RuntimeInputError",
    "Step",
    "TraceNotFound",
    "TraceStore",
    "TracesBusy",
    "Workspace",
    "answer_spans",
    "ensure_not_served",
    "explain_steps",
    "export_traces",
    "open_runtime",
    "record_feedback",
    "replay",
    "serving",
]
