"""Claims as data: published scores with the protocol they were made under, read from TOML or CSV, and checked.

A claim names a model, a task, a value, a protocol, a source URL and a date. `glassboard claims check` measures
each claim under its protocol and under glassboard's own, and says under which protocols the claim holds.
"""

from __future__ import annotations

import csv
import io
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from glassboard.bench.claims import parse_claim
from glassboard.models.types import ConfigError

FIELDS = ("model", "task", "value", "protocol", "source", "date")


class ClaimsError(ConfigError):
    """A claims file that cannot be used; the message names the file, the row and the field."""


@dataclass(frozen=True, slots=True)
class Claim:
    model: str
    task: str
    value: float
    protocol: str
    source: str
    date: str
    where: str  # "claims.toml claim 2", for messages

    def as_dict(self) -> dict[str, Any]:
        return {"model": self.model, "task": self.task, "value": self.value, "protocol": self.protocol,
                "source": self.source, "date": self.date}


def split_claim(value: str) -> tuple[str, str | None]:
    """'44.2%@official' -> ('44.2%', 'official'); '0.44' -> ('0.44', None)."""
    number, at, protocol = value.partition("@")
    if at and not protocol.strip():
        raise ConfigError(f"--claim {value!r}: a protocol name must follow '@' (e.g. 44.2%@official)")
    return number.strip(), (protocol.strip() or None)


def read_claims(path: Path) -> list[Claim]:
    """Claims from a TOML file ([[claim]] tables) or a CSV file (a header row with the fields)."""
    try:
        raw = path.read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        raise ClaimsError(f"claims file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ClaimsError(f"cannot read claims file {path}: {err}") from None
    if path.suffix.lower() == ".csv":
        reader = csv.DictReader(io.StringIO(raw))
        rows = [(f"{path.name} line {i + 2}", dict(row)) for i, row in enumerate(reader)]
    elif path.suffix.lower() == ".toml":
        try:
            data = tomllib.loads(raw)
        except tomllib.TOMLDecodeError as err:
            raise ClaimsError(f"{path}: not valid TOML ({err})") from None
        items = data.get("claim")
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise ClaimsError(f"{path}: expected [[claim]] tables with fields {', '.join(FIELDS)}")
        rows = [(f"{path.name} claim {i + 1}", item) for i, item in enumerate(items)]
    else:
        raise ClaimsError(f"{path}: claims files are .toml or .csv")
    if not rows:
        raise ClaimsError(f"{path}: no claims")
    return [_claim(where, row) for where, row in rows]


def _claim(where: str, row: dict[str, Any]) -> Claim:
    values: dict[str, str] = {}
    for name in FIELDS:
        value = row.get(name)
        if value is None or not str(value).strip():
            if name in ("source", "date"):
                value = ""
            elif name == "protocol":
                value = "glassboard"
            else:
                raise ClaimsError(f"{where}: missing field '{name}'")
        values[name] = str(value).strip()
    try:
        number = parse_claim(values["value"])
    except ConfigError as err:
        raise ClaimsError(f"{where}: field 'value': {err}") from None
    return Claim(values["model"], values["task"], number, values["protocol"], values["source"], values["date"], where)
