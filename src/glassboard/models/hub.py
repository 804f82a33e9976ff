"""ModelHub: opens Model objects for registry variants, sharing one backend per weights file or endpoint."""

from __future__ import annotations

from typing import Any

from glassboard.models.client import Backend, Model
from glassboard.models.registry import Registry, Variant
from glassboard.models.types import ConfigError


class ModelHub:
    """Owns the loaded backends (so two variants on the same weights share one llama.cpp instance)."""

    def __init__(self, registry: Registry | None = None):
        self.registry = registry or Registry.load()
        self._backends: dict[tuple[Any, ...], Backend] = {}

    def get(self, model: str | Variant) -> Model:
        variant = self.registry.get(model) if isinstance(model, str) else model
        return Model(variant, self.backend_for(variant))

    def backend_for(self, variant: Variant) -> Backend:
        if variant.backend == "llama_cpp":
            from glassboard.models.llama_cpp_backend import LlamaCppBackend

            path = variant.model_path
            assert path is not None
            if not path.is_file():
                raise ConfigError(f"model '{variant.name}': weights file not found: {path}")
            n_ctx = int(variant.option("n_ctx", 2048))
            key: tuple[Any, ...] = ("llama_cpp", str(path), n_ctx)
            if key not in self._backends:
                n_threads = variant.option("n_threads")
                self._backends[key] = LlamaCppBackend(path, n_ctx=n_ctx, n_threads=n_threads and int(n_threads))
            return self._backends[key]
        if variant.backend == "openai":
            from glassboard.models.openai_backend import OpenAIBackend, api_key_from_env

            assert variant.base_url is not None
            timeout = float(variant.option("timeout_s", 60.0))
            key = ("openai", variant.base_url, variant.api_key_env, timeout)
            if key not in self._backends:
                api_key = api_key_from_env(variant.api_key_env)
                self._backends[key] = OpenAIBackend(variant.base_url, api_key=api_key, timeout_s=timeout)
            return self._backends[key]
        raise ConfigError(f"model '{variant.name}': unknown backend '{variant.backend}'")

    async def aclose(self) -> None:
        for backend in self._backends.values():
            await backend.aclose()
        self._backends.clear()

    async def __aenter__(self) -> ModelHub:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
