"""HTTP interface: an OpenAI-compatible chat endpoint, traces and their explanation pages, the graph."""

from .app import create_app
from .config import ServerConfig
from .links import trace_link
from .page import trace_page
from .service import Service

__all__ = ["ServerConfig", "Service", "create_app", "trace_link", "trace_page"]
