"""Derived variants (`extends`) and context lengths as people write them ("128k") for the registry file.

`[models.NAME] extends = "BASE"` declares "the same model, served differently" in a few lines: NAME gets BASE's
fields, then its own; `params` and `options` merge key by key, aliases are never inherited. BASE is another table
of the same file (resolved first, cycles are an error) or a built-in variant. The merged table is then parsed and
checked like any other, so a derived variant has exactly the errors and id rules of a written-out one.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from glassboard.models.types import ConfigError

MERGED_TABLES = ("params", "options")


def parse_context_length(value: Any) -> int:
    """A token count as written by people: 8192, "8192", "128k" (x1024), "1M" (x1024^2); ConfigError otherwise."""
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 1:
            raise ConfigError(f"a context length must be a positive number of tokens, got {value}")
        return value
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kKmM]?)\s*", value) if isinstance(value, str) else None
    if match is None:
        raise ConfigError(f"bad context length {value!r}: write tokens as 8192, 128k or 1M")
    tokens = float(match.group(1)) * {"": 1, "k": 1024, "m": 1024 * 1024}[match.group(2).lower()]
    if tokens < 1 or tokens != int(tokens):
        raise ConfigError(f"bad context length {value!r}: it must be a whole, positive number of tokens")
    return int(tokens)


@dataclass
class Derivations:
    """Resolves `extends` for one registry file; `bases` holds the built-in variants' tables by lower-case name."""

    path: Path
    text: str
    models: dict[str, Any]
    bases: dict[str, dict[str, Any]]
    locate: Callable[[str, str | None, str | None], str]  # (text, model, key) -> " line N"
    resolved: dict[str, Any] = field(default_factory=dict)

    def table(self, name: str, chain: tuple[str, ...] = ()) -> Any:
        """The table of `[models.NAME]` with its base merged in (the raw table when it extends nothing)."""
        if name in self.resolved:
            return self.resolved[name]
        table = self.models[name]
        if not isinstance(table, dict) or "extends" not in table:
            return table
        base_name = table["extends"]
        where = f"{self.path}{self.locate(self.text, name, 'extends')}: field 'models.{name}.extends'"
        if not isinstance(base_name, str) or not base_name:
            raise ConfigError(f"{where}: must be the name of another model, got {base_name!r}")
        if base_name == name or base_name in chain:
            raise ConfigError(f"{where}: circular extends: {' -> '.join((*chain, name, base_name))}")
        if base_name in self.models:
            base = self.table(base_name, (*chain, name))
            if not isinstance(base, dict):
                raise ConfigError(f"{where}: '{base_name}' is not a table")
        elif base_name.lower() in self.bases:
            base = self.bases[base_name.lower()]
        else:
            known = sorted({*self.models, *(t["name"] for t in self.bases.values())})
            raise ConfigError(f"{where}: unknown model '{base_name}'; known: {known}")
        merged = {k: v for k, v in base.items() if k not in ("aliases", "extends", "name")}
        for key, value in table.items():
            if key == "extends":
                continue
            if key in MERGED_TABLES and isinstance(value, dict) and isinstance(merged.get(key), dict):
                merged[key] = {**merged[key], **value}
            else:
                merged[key] = value
        self.resolved[name] = merged
        return merged
