"""Helpers for the bench tests: tiny data sets in the hub's shapes, registries for loopback servers, the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from glassboard.models.scripted_server import ScriptedServer


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def gsm8k_rows(n: int = 6) -> list[dict[str, Any]]:
    """GSM8K-shaped rows whose question text ends like a model answer would, so the echo server 'answers' it.

    Row i: target 10 + i. Rows 0, 3: a strict "Answer: N" line (right); 1, 4: "The final answer is N" (right only
    when read leniently); 2, 5: a strict answer line with a wrong number."""
    rows = []
    for i in range(n):
        target = 10 + i
        ending = [f"Answer: {target}", f"The final answer is {target}.", f"Answer: {target + 1}"][i % 3]
        question = f"Tom has {target - 3} apples and gets 3 more. How many apples does he have?\n{ending}"
        rows.append({"question": question, "answer": f"{target - 3} + 3 = {target}\n#### {target}"})
    return rows


def math_rows() -> list[dict[str, Any]]:
    return [
        {"problem": "Compute $1/2 + 0$.\nAnswer: \\frac{1}{2}", "answer": "\\frac{1}{2}", "subject": "Algebra",
         "level": 1, "unique_id": "test/algebra/1.json"},
        {"problem": "What is $0.5 \\cdot 2$? So the answer is \\boxed{1}.", "answer": "1", "subject": "Prealgebra",
         "level": 5, "unique_id": "test/prealgebra/2.json"},
        {"problem": "Simplify $\\sqrt{8}$.\nAnswer: 2\\sqrt{2}", "answer": "2\\sqrt{2}", "subject": "Algebra",
         "level": 5, "unique_id": "test/algebra/3.json"},
        {"problem": "What is 7 - 2?\nAnswer: 4", "answer": "5", "subject": "Prealgebra", "level": 2,
         "unique_id": "test/prealgebra/4.json"},
    ]


def mmlu_pro_rows(n: int = 4) -> list[dict[str, Any]]:
    rows = []
    for i in range(n):
        options = [f"option {k} of question {i}" for k in range(6 + i)]
        index = i % len(options)
        rows.append({"question_id": 100 + i, "question": f"Which option is right in question {i}?",
                     "options": options, "answer": "ABCDEFGHIJ"[index], "answer_index": index,
                     "category": ["math", "law"][i % 2], "src": "test"})
    return rows


def gpqa_rows(n: int = 4) -> list[dict[str, Any]]:
    return [{"Question": f"Which particle is number {i}?", "Correct Answer": f"right {i}",
             "Incorrect Answer 1": f"wrong a{i}", "Incorrect Answer 2": f"wrong b{i}",
             "Incorrect Answer 3": f"wrong c{i}", "Record ID": f"rec{i}", "High-level domain": "Physics",
             "Subdomain": ["Quantum Mechanics", "Astrophysics"][i % 2]} for i in range(n)]


def registry_toml(path: Path, base_url: str, name: str = "scripted", **options: float) -> Path:
    opts = {"retry_base_s": 0.01, "timeout_s": 10, "max_retries": 0, **options}
    lines = [f"[models.{name}]", "backend = 'openai'", "model = 'scripted'", f"base_url = '{base_url}'",
             "params = { temperature = 0.0, max_tokens = 64 }", f"[models.{name}.options]"]
    lines += [f"{key} = {value}" for key, value in opts.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def prompt_counts(server: ScriptedServer) -> dict[str, int]:
    return httpx.get(f"http://127.0.0.1:{server.port}/stats/prompts").json()


def scenario_counts(server: ScriptedServer) -> dict[str, int]:
    return httpx.get(f"http://127.0.0.1:{server.port}/stats").json()


def glassboard_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "glassboard.cli", *args]


def glassboard(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run(glassboard_command(*args), capture_output=True, text=True, cwd=cwd, timeout=timeout,
                          env=env)


def sample_lines(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines() if '"type":"sample"' in line]
