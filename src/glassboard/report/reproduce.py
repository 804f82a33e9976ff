"""`reproduce`: re-run every step of a manifest and compare each number with the one the report shows.

A step's command runs as `python -m glassboard.cli ...` in the report's directory (commands name paths relative
to it), with "{out}" replaced by a fresh JSON file and "{tmp}" by a fresh directory (so a run log is never resumed).
Deterministic steps must give the same number (|new - old| <= 1e-9, relative or absolute); sampled steps agree when
the new number falls inside the reported 95% interval. Inputs whose sha256 changed are named before the numbers.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from glassboard.report.inputs import sha256_file, sha256_json
from glassboard.report.manifest import resolve

TOLERANCE = 1e-9


@dataclass(frozen=True, slots=True)
class Check:
    """One number: its manifest id and label, the reported and the re-computed value, the rule, agreement."""

    id: str
    label: str
    old: float
    new: float | None
    rule: str
    agree: bool
    why: str = ""


@dataclass
class StepRun:
    id: str
    ran: bool
    error: str = ""
    changed_inputs: list[str] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)


@dataclass
class Reproduction:
    steps: list[StepRun]

    @property
    def checks(self) -> list[Check]:
        return [c for s in self.steps for c in s.checks]

    @property
    def ok(self) -> bool:
        return bool(self.steps) and all(s.ran and not s.error for s in self.steps) and all(
            c.agree for c in self.checks)


def agrees(old: float, new: float, low: float | None, high: float | None, deterministic: bool) -> tuple[bool, str]:
    if deterministic or low is None or high is None:
        return math.isclose(new, old, rel_tol=TOLERANCE, abs_tol=TOLERANCE), "exact"
    return low - TOLERANCE <= new <= high + TOLERANCE, f"within [{low:.4g}, {high:.4g}]"


def _argv(command: Sequence[str], out: Path, tmp: Path) -> list[str]:
    args = [str(a).replace("{out}", str(out)).replace("{tmp}", str(tmp)) for a in command]
    return [sys.executable, "-m", "glassboard.cli", *args[1:]] if args and args[0] == "glassboard" else args


def _current_hash(name: str, base: Path) -> str | None:
    """The sha256 an input has now: a file's bytes, or an arena database's voted battles; None if not hashable."""
    if "://" in name:
        from glassboard.audit.style import load_db_battles
        from glassboard.schema import GlassboardError

        try:
            return sha256_json(load_db_battles(name))
        except GlassboardError:
            return None
    path = base / name
    return sha256_file(path) if path.is_file() else None


def run_step(step: dict[str, Any], numbers: Sequence[dict[str, Any]], base: Path) -> StepRun:
    result = StepRun(step["id"], ran=False)
    for name, digest in step.get("inputs", {}).items():
        now = _current_hash(name, base)
        if now is not None and now != digest:
            result.changed_inputs.append(f"{name} (sha256 {digest[:12]} -> {now[:12]})")
    if not step.get("command"):
        result.error = f"not re-runnable: {step.get('note') or 'no command recorded'}"
        result.checks = [Check(n["id"], n["label"], n["value"], None, "-", False, "not re-run") for n in numbers]
        return result
    with tempfile.TemporaryDirectory(prefix="glassboard-reproduce-") as tmp:
        out = Path(tmp) / "out.json"
        done = subprocess.run(_argv(step["command"], out, Path(tmp) / "work"), cwd=base, capture_output=True,
                              text=True, check=False)
        result.ran = True
        if done.returncode != 0:
            last = (done.stderr.strip() or done.stdout.strip()).splitlines()[-1:] or ["no output"]
            result.error = f"exit {done.returncode}: {last[0]}"
            result.checks = [Check(n["id"], n["label"], n["value"], None, "-", False, "step failed") for n in numbers]
            return result
        try:
            document = json.loads(done.stdout if step.get("output") == "stdout" else out.read_text("utf-8"))
        except (OSError, json.JSONDecodeError) as err:
            result.error = f"the step wrote no readable JSON ({err})"
            return result
    for n in numbers:
        try:
            new = resolve(document, n["path"])
        except KeyError as err:
            result.checks.append(Check(n["id"], n["label"], n["value"], None, "-", False, f"missing: {err}"))
            continue
        if not isinstance(new, int | float) or isinstance(new, bool):
            result.checks.append(Check(n["id"], n["label"], n["value"], None, "-", False, f"not a number: {new!r}"))
            continue
        ok, rule = agrees(n["value"], float(new), n.get("ci_low"), n.get("ci_high"), step["deterministic"])
        result.checks.append(Check(n["id"], n["label"], n["value"], float(new), rule, ok))
    return result


def reproduce(manifest: dict[str, Any], base: Path, limit_steps: Sequence[str] = (),
              progress: Callable[[str], None] | None = None) -> Reproduction:
    """Re-run the manifest's steps (only those named in `limit_steps`, when given) in `base`."""
    steps = [s for s in manifest["steps"] if not limit_steps or s["id"] in limit_steps]
    runs = []
    for step in steps:
        if progress is not None:
            progress(step["id"])
        runs.append(run_step(step, [n for n in manifest["numbers"] if n["step"] == step["id"]], base))
    return Reproduction(runs)
