"""Adapters: tracks distilled into LoRA adapters for the selector, verified with probes, kept in a registry."""

from adapters.errors import AdapterError, ProbeError

__all__ = ["AdapterError", "ProbeError"]
