"""What each report input is, recognised by its content (never trusted from its name alone), with its sha256.

Kinds: "run" (`glassboard eval --json`), "runlog" (a run's per-sample JSONL log), "claims" (`claims check --json`),
"judge" (`judge run --json`), "audit:<name>" (any `audit ... --json` whose document has an "audit" field naming
it; `audit protocols` is recognised by its "protocols" + "largest_gap" shape), "battles" (a battle file in
LMArena's schema) and "arena" (a database URL).
A renderer (sections/) is keyed by these kinds; an input no renderer knows is an error naming it.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from glassboard.report.model import Input, ReportError
from glassboard.schema import GlassboardError

BATTLE_SUFFIXES = (".jsonl", ".json", ".parquet")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def sha256_json(data: Any) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


def load_input(spec: str) -> Input:
    """Read and recognise one input (a path or a database URL); errors name it."""
    if "://" in spec:
        return _database(spec)
    path = Path(spec)
    if not path.is_file():
        raise ReportError(f"report input not found: {spec}")
    digest = sha256_file(path)
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return Input(spec, "battles", digest, path, path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ReportError(f"{spec}: not a readable text file ({err})") from None
    if suffix == ".jsonl":
        return _jsonl(spec, path, digest, text)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise ReportError(f"{spec} line {err.lineno}: malformed JSON ({err.msg})") from None
    kind = recognise(data)
    if kind is None:
        raise ReportError(f"{spec}: not a glassboard output the report knows (expected an `eval --json`, "
                          "`claims check --json` or `audit ... --json` document, or a battle file)")
    return Input(spec, kind, digest, path if kind == "battles" else data, path)


def recognise(data: Any) -> str | None:
    """The kind of a parsed JSON document, or None."""
    if isinstance(data, dict):
        if isinstance(data.get("judge"), dict) and isinstance(data.get("audit"), dict) \
                and isinstance(data.get("models"), list):
            return "judge"
        if isinstance(data.get("audit"), str):
            return f"audit:{data['audit']}"
        if isinstance(data.get("claims"), list):
            return "claims"
        if isinstance(data.get("protocols"), list) and "largest_gap" in data:
            return "audit:protocols"
        if {"task", "variant_id", "strict", "lenient"} <= data.keys():
            return "run"
    if isinstance(data, list) and data and all(isinstance(r, dict) and "model_a" in r for r in data[:5]):
        return "battles"
    return None


def _jsonl(spec: str, path: Path, digest: str, text: str) -> Input:
    first = next((line for line in text.splitlines() if line.strip()), "")
    try:
        head = json.loads(first)
    except json.JSONDecodeError:
        raise ReportError(f"{spec} line 1: malformed JSON; not a run log or battle file") from None
    if isinstance(head, dict) and head.get("type") in ("header", "sample"):
        from glassboard.bench.data import DataError
        from glassboard.bench.summary import summarize

        try:
            summary = summarize(path)
        except DataError as err:
            raise ReportError(str(err)) from None
        return Input(spec, "runlog", digest, summary, path, {"run log sha256": digest})
    if isinstance(head, dict) and "model_a" in head:
        return Input(spec, "battles", digest, path, path)
    raise ReportError(f"{spec} line 1: neither a run log header nor a battle in LMArena's schema")


def _database(url: str) -> Input:
    from glassboard.audit.style import load_db_battles

    try:
        rows = load_db_battles(url)
    except GlassboardError as err:  # load_db_battles names the URL and the cause
        raise ReportError(str(err)) from None
    if not rows:
        raise ReportError(f"the arena database {url} has no voted battles")
    return Input(url, "arena", sha256_json(rows), rows)
