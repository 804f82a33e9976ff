"""Prompt sets for the audits: the built-in diverse identity prompts, or a user file (.jsonl / .txt)."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

from glassboard.models.types import ConfigError

BUILTIN = "identity_prompts.jsonl"


def builtin_prompts() -> list[str]:
    """The bundled prompt set: 40 short, diverse chat prompts (facts, code, creative, how-to, translation)."""
    text = resources.files("glassboard.audit").joinpath(BUILTIN).read_text(encoding="utf-8")
    return _parse_jsonl(text, BUILTIN)


def load_prompts(path: str | Path | None = None, n: int | None = None) -> list[str]:
    """The first `n` prompts of `path` (JSONL with a "prompt" field, or plain text one per line) or the built-ins.

    The order is the file's, so a default run always uses the same prompts; the built-in file is ordered to
    be diverse from its first line on.
    """
    if path is None:
        prompts = builtin_prompts()
        where = "the built-in prompt set"
    else:
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConfigError(f"prompt file not found: {path}") from None
        except (OSError, UnicodeDecodeError) as err:
            raise ConfigError(f"cannot read prompt file {path}: {err}") from None
        if path.suffix.lower() in (".jsonl", ".ndjson"):
            prompts = _parse_jsonl(text, str(path))
        else:
            prompts = [line.strip() for line in text.splitlines() if line.strip()]
        where = str(path)
    if not prompts:
        raise ConfigError(f"{where}: no prompts")
    if n is not None:
        if n < 1:
            raise ConfigError(f"the number of prompts must be at least 1, got {n}")
        if n > len(prompts):
            raise ConfigError(f"{where} has {len(prompts)} prompts, {n} were asked for")
        prompts = prompts[:n]
    return prompts


def _parse_jsonl(text: str, where: str) -> list[str]:
    prompts = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise ConfigError(f"{where} line {lineno}: invalid JSON ({err.msg})") from None
        prompt = row.get("prompt") if isinstance(row, dict) else row
        if not isinstance(prompt, str) or not prompt.strip():
            raise ConfigError(f"{where} line {lineno}: expected {{\"prompt\": \"...\"}} with a non-empty string")
        prompts.append(prompt)
    return prompts
