"""The runtime: the graph proposes, the LLM selects, every step is traced."""

from .config import RuntimeConfig
from .errors import OverlayError, RuntimeInputError
from .feedback import record_feedback
from .replay import ReplayResult, replay
from .runtime import Answer, Candidate, Generation, Runtime, Step, open_runtime
from .traces import TraceNotFound, TracesBusy, TraceStore
from .workspace import Workspace

__all__ = [
    "Answer",
    "Candidate",
    "Generation",
    "OverlayError",
    "ReplayResult",
    "Runtime",
    "RuntimeConfig",
    "RuntimeInputError",
    "Step",
    "TraceNotFound",
    "TracesBusy",
    "TraceStore",
    "Workspace",
    "open_runtime",
    "record_feedback",
    "replay",
]
