"""The adapters' command groups (`overlay tracks|adapters|jobs|probe`), mounted by the CLI's root."""

from .commands import adapters_app, jobs_app, tracks_app
from .probe import probe_app

__all__ = ["adapters_app", "jobs_app", "probe_app", "tracks_app"]
