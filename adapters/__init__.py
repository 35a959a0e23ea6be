"""Adapters: tracks distilled into LoRA adapters for the selector, verified with probes, kept in a registry."""

from adapters import registry
from adapters.distill import DistillConfig
from adapters.errors import AdapterError, ProbeError
from adapters.pipeline import DistillSpec, check, distill_adapter
from adapters.registry import resolve as resolve_adapter

__all__ = [
    "AdapterError",
    "DistillConfig",
    "DistillSpec",
    "ProbeError",
    "check",
    "distill_adapter",
    "registry",
    "resolve_adapter",
]
