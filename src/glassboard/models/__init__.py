"""Model layer: the variant registry, backends (openai-compatible, llama_cpp) and one async chat interface."""

from glassboard.models.client import Backend, Model
from glassboard.models.hub import ModelHub
from glassboard.models.registry import Registry, Variant, builtin_variants, bundled_model_path
from glassboard.models.types import (
    Completion,
    ConfigError,
    Message,
    ModelError,
    SamplingParams,
    TokenLogprob,
)

__all__ = [
    "Backend",
    "Completion",
    "ConfigError",
    "Message",
    "Model",
    "ModelError",
    "ModelHub",
    "Registry",
    "SamplingParams",
    "TokenLogprob",
    "Variant",
    "builtin_variants",
    "bundled_model_path",
]
