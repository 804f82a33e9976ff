"""The manifest: every step as a command with its inputs' hashes and seeds, and every number the report shows.

It is embedded in the report as `<script type="application/json" id="glassboard-manifest">` and written beside it as
`<report>.manifest.json`. Numbers name a path into their step's JSON output, resolved by `resolve`:
dot-separated keys, `name[3]` for a list index and `name[key=value]` for the list element whose `key` is `value`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from glassboard.report.model import Number, ReportError, Step

VERSION = 1
STEP_FIELDS = ("id", "command", "inputs", "deterministic")
NUMBER_FIELDS = ("id", "step", "path", "label", "value")
_SEGMENT = re.compile(r"^([^\[\]]*)((?:\[[^\]]+\])*)$")


def manifest(steps: Sequence[Step], numbers: Sequence[Number], *, title: str, glassboard: str,
             base: str) -> dict[str, Any]:
    return {"manifest": VERSION, "title": title, "glassboard": glassboard, "base": base,
            "steps": [s.to_json() for s in steps], "numbers": [n.to_json() for n in numbers]}


def resolve(document: Any, path: str) -> Any:
    """The value at `path` in `document`; KeyError naming the segment when it is not there."""
    value = document
    for segment in _split(path):
        match = _SEGMENT.match(segment)
        if match is None:
            raise KeyError(f"bad path segment '{segment}' in '{path}'")
        key, selectors = match.groups()
        if key:
            if not isinstance(value, dict) or key not in value:
                raise KeyError(f"'{key}' not found (path '{path}')")
            value = value[key]
        for selector in re.findall(r"\[([^\]]+)\]", selectors):
            if not isinstance(value, list):
                raise KeyError(f"'[{selector}]' applied to a non-list (path '{path}')")
            if "=" in selector:
                field, wanted = selector.split("=", 1)
                found = [v for v in value if isinstance(v, dict) and str(v.get(field)) == wanted]
                if not found:
                    raise KeyError(f"no element with {field} = {wanted} (path '{path}')")
                value = found[0]
            else:
                index = int(selector)
                if not -len(value) <= index < len(value):
                    raise KeyError(f"index {index} out of range (path '{path}')")
                value = value[index]
    return value


def _split(path: str) -> list[str]:
    """Split on dots outside brackets (values in [key=value] may contain dots)."""
    out, depth, current = [], 0, ""
    for ch in path:
        depth += (ch == "[") - (ch == "]")
        if ch == "." and depth == 0:
            out.append(current)
            current = ""
        else:
            current += ch
    return [*out, current] if current else out


class _ManifestParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.inside = False
        self.text: list[str] = []
        self.found = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "script" and ("id", "glassboard-manifest") in attrs:
            self.inside = self.found = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self.inside = False

    def handle_data(self, data: str) -> None:
        if self.inside:
            self.text.append(data)


def read_manifest(path: Path) -> dict[str, Any]:
    """The manifest of a report (.html: the embedded block) or a manifest file (.json); errors name the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ReportError(f"report or manifest not found: {path}") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ReportError(f"cannot read {path}: {err}") from None
    if path.suffix.lower() in (".html", ".htm"):
        parser = _ManifestParser()
        parser.feed(text)
        if not parser.found:
            raise ReportError(f"{path}: no embedded glassboard manifest (not a glassboard report?)")
        text = "".join(parser.text)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise ReportError(f"{path}: the manifest is not valid JSON (line {err.lineno}: {err.msg})") from None
    if not isinstance(data, dict) or data.get("manifest") != VERSION or not isinstance(data.get("steps"), list) \
            or not isinstance(data.get("numbers"), list):
        raise ReportError(f"{path}: not a glassboard manifest (version {VERSION} with 'steps' and 'numbers')")
    for i, step in enumerate(data["steps"]):
        missing = [k for k in STEP_FIELDS if not isinstance(step, dict) or k not in step]
        if missing:
            raise ReportError(f"{path}: manifest step {i + 1}: missing field(s) {', '.join(missing)}")
    for i, number in enumerate(data["numbers"]):
        missing = [k for k in NUMBER_FIELDS if not isinstance(number, dict) or k not in number]
        if missing or not isinstance(number.get("value"), int | float):
            raise ReportError(f"{path}: manifest number {i + 1}: missing or bad field(s) "
                              f"{', '.join(missing) or 'value'}")
    return data
