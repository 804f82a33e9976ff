"""`build_report`: inputs -> sections (by kind) -> one self-contained HTML file plus its manifest beside it."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from glassboard.report.html import page
from glassboard.report.inputs import load_input
from glassboard.report.manifest import manifest
from glassboard.report.model import Finding, Input, ReportError, Section
from glassboard.report.sections import RENDERERS, Context


@dataclass(frozen=True, slots=True)
class Built:
    html: Path
    manifest: Path
    sections: tuple[str, ...]
    numbers: int
    size: int


def manifest_path(html: Path) -> Path:
    return html.with_name(html.stem + ".manifest.json")


def render_sections(inputs: Sequence[Input], context: Context) -> list[Section]:
    known = {kind for r in RENDERERS for kind in r.kinds}
    unknown = [i for i in inputs if i.kind not in known]
    if unknown:
        raise ReportError("; ".join(f"{i.source}: no section renders '{i.kind}' outputs yet" for i in unknown))
    sections = []
    for renderer in RENDERERS:
        mine = [i for i in inputs if i.kind in renderer.kinds]
        if mine and (section := renderer.render(mine, context)) is not None:
            sections.append(section)
    return sections


def build_report(specs: Sequence[str], out: Path, *, title: str = "glassboard report", config: Path | None = None,
                 episode: Sequence[Finding] = ()) -> Built:
    """Read every input (errors name it), render its section, write `out` and `<out stem>.manifest.json`."""
    from glassboard import __version__

    if not specs:
        raise ReportError("give at least one input: run logs, --json outputs, battle files or a database URL")
    inputs = [load_input(spec) for spec in specs]
    out = out.resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    context = Context(out.parent, config, __version__)
    sections = render_sections(inputs, context)
    steps = [s for section in sections for s in section.steps]
    numbers = [n for section in sections for n in section.numbers]
    document = manifest(steps, numbers, title=title, glassboard=__version__, base=str(out.parent))
    header = [("glassboard", __version__), ("inputs", str(len(inputs))), ("numbers", str(len(numbers)))]
    html = page(title, sections, document, header, episode)
    out.write_text(html, encoding="utf-8")
    side = manifest_path(out)
    side.write_text(json.dumps(document, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return Built(out, side, tuple(s.id for s in sections), len(numbers), len(html.encode()))
