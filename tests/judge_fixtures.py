"""Helpers for the judge tests: a registry of scripted contestants and judges on one loopback server."""

from __future__ import annotations

import json
from pathlib import Path

from glassboard.models import Registry
from glassboard.models.registry import parse_registry_file


def write_prompts(path: Path, n: int) -> Path:
    with path.open("w") as out:
        for i in range(n):
            out.write(json.dumps({"id": f"p{i}", "prompt": f"Question number {i}: explain topic {i * 7 % 13}."}) + "\n")
    return path


def scripted_registry(path: Path, port: int, contestants: dict[str, tuple[str, str]],
                      judges: dict[str, tuple[str, str]]) -> Registry:
    """contestants/judges: name -> (script, provider); scripts as in glassboard.judge.scripted."""
    lines = []
    for role, table in (("contestant", contestants), ("judge", judges)):
        for name, (script, provider) in table.items():
            lines += [f'[models."{name}"]', 'backend = "openai"', f'model = "{script}"',
                      f'base_url = "http://127.0.0.1:{port}/{role}/v1"', f'provider = "{provider}"',
                      "params = { temperature = 0.0, max_tokens = 64 }", ""]
    path.write_text("\n".join(lines))
    return parse_registry_file(path)
