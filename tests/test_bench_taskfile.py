"""--task-file (issue 12): a multiple-choice, exact-match or math task declared in a TOML file, end to end on the
scripted echo server (each answer kind, options as a list or as columns, answers as letter, index or text), and
bad task files with errors naming the file and the field."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bench_fixtures import registry_toml, write_jsonl
from glassboard.bench.taskfile import TaskFileError, load_task_file
from glassboard.cli import app
from glassboard.models.scripted_server import ScriptedServer

# The echo server answers with the prompt, so each question ends with the answer line the model "gives";
# options come first in these prompts (shuffle off) so that line is the response's last.
MC_PROMPT = 'template = "{options}\\n\\n{question}"\nshuffle = false\n'


def mc_rows() -> list[dict]:
    # Right, right, wrong: the echoed "Answer: X" lines against answers B, A, C.
    return [{"qid": f"q{i}", "q": f"Which is right {i}?\nAnswer: {said}", "opts": ["red", "green", "blue"],
             "a": right, "topic": ["art", "sci"][i % 2]} for i, (said, right) in enumerate([("B", 1), ("A", 0),
                                                                                            ("A", 2)])]


def write_task(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "mytask.toml"
    path.write_text(body, encoding="utf-8")
    return path


def run_eval(tmp_path: Path, task_file: Path) -> dict:
    out = tmp_path / "out.json"
    with ScriptedServer() as server:
        config = registry_toml(tmp_path / "models.toml", server.base_url("echo"))
        result = CliRunner().invoke(app, ["eval", "scripted", "--task-file", str(task_file), "--config", str(config),
                                          "--log-dir", str(tmp_path / "runs"), "--json", str(out), "--no-progress"],
                                    env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return json.loads(out.read_text())


@pytest.mark.parametrize("form", ["letter", "index", "text"])
def test_multiple_choice_task_file_each_answer_form(form: str, tmp_path: Path) -> None:
    rows = mc_rows()
    for row in rows:
        row["a"] = {"letter": "ABC"[row["a"]], "index": row["a"], "text": row["opts"][row["a"]]}[form]
    write_jsonl(tmp_path / "mine.jsonl", rows)
    task = write_task(tmp_path, f'name = "colours"\nkind = "multiple-choice"\ndata = "mine.jsonl"\n[fields]\n'
                                f'question = "q"\noptions = "opts"\nanswer = "a"\nanswer_form = "{form}"\n'
                                f'id = "qid"\ncluster = "topic"\n[prompt]\n{MC_PROMPT}')
    report = run_eval(tmp_path, task)
    assert report["n"] == 3 and report["strict"]["accuracy"] == pytest.approx(2 / 3)
    assert report["protocol"]["name"] == "glassboard" and report["protocol_score"]["accuracy"] == pytest.approx(2 / 3)


def test_multiple_choice_from_choice_columns_in_csv(tmp_path: Path) -> None:
    with (tmp_path / "mine.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["q", "c1", "c2", "c3", "a"])
        for row in mc_rows():
            writer.writerow([row["q"], *row["opts"], "ABC"[row["a"]]])
    task = write_task(tmp_path, 'name = "colours"\nkind = "multiple-choice"\ndata = "mine.csv"\n[fields]\n'
                                'question = "q"\nchoices = ["c1", "c2", "c3"]\nanswer = "a"\n[prompt]\n' + MC_PROMPT)
    assert run_eval(tmp_path, task)["strict"]["accuracy"] == pytest.approx(2 / 3)


def test_exact_match_and_math_task_files(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "n.jsonl", [{"problem": "2 + 2?\nAnswer: 4", "solution": "4"},
                                       {"problem": "1,000 + 1?\nAnswer: 1,001", "solution": "1001"},
                                       {"problem": "3 - 1?\nAnswer: 3", "solution": "2"}])
    task = write_task(tmp_path, 'name = "sums"\nkind = "exact-match"\ndata = "n.jsonl"\n[fields]\n'
                                'question = "problem"\nanswer = "solution"\n')
    assert run_eval(tmp_path, task)["strict"]["accuracy"] == pytest.approx(2 / 3)
    write_jsonl(tmp_path / "m.jsonl", [{"p": "Half?\nAnswer: \\frac{1}{2}", "ans": "0.5"},
                                       {"p": "Root?\nAnswer: 2\\sqrt{2}", "ans": "\\sqrt{8}"}])
    task = write_task(tmp_path, 'name = "algebra"\nkind = "math"\ndata = "m.jsonl"\n[fields]\nquestion = "p"\n'
                                'answer = "ans"\n')
    assert run_eval(tmp_path, task)["strict"]["accuracy"] == 1.0


@pytest.mark.parametrize("body, message", [
    ('name = "x"\nkind = "essay"\n[fields]\nquestion = "q"\nanswer = "a"\n',
     r"mytask.toml: field 'kind' must be one of multiple-choice, exact-match, math, got 'essay'"),
    ('name = "x"\nkind = "math"\n', r"mytask.toml: missing table \[fields\]"),
    ('name = "x"\nkind = "math"\n[fields]\nanswer = "a"\n', r"mytask.toml: missing field 'fields.question'"),
    ('name = "x"\nkind = "multiple-choice"\n[fields]\nquestion = "q"\nanswer = "a"\n',
     r"mytask.toml: a multiple-choice task needs exactly one of 'fields.options'"),
    ('name = "x"\nkind = "multiple-choice"\n[fields]\nquestion = "q"\nanswer = "a"\noptions = "o"\n'
     'answer_form = "roman"\n', r"mytask.toml: field 'fields.answer_form' must be one of letter, index, text"),
    ('name = "gsm8k"\nkind = "math"\n[fields]\nquestion = "q"\nanswer = "a"\n',
     r"mytask.toml: field 'name' 'gsm8k' is a built-in task"),
    ('name = "x"\nkind = "math"\n[fields]\nquestion = "q"\nanswer = "a"\nqestion = "typo"\n',
     r"mytask.toml: unknown field\(s\) \['fields.qestion'\]"),
    ('name = "x"\nkind = "math"\n[fields]\nquestion = "q"\nanswer = "a"\n[prompt]\ntemplate = "no slot"\n',
     r"mytask.toml: field 'prompt.template' must be a string with \{question\}"),
    ("name = [", r"mytask.toml: not a readable TOML task file"),
])
def test_bad_task_files_name_the_file_and_field(body: str, message: str, tmp_path: Path) -> None:
    with pytest.raises(TaskFileError, match=message):
        load_task_file(write_task(tmp_path, body))


def test_bad_rows_and_missing_data_are_clear(tmp_path: Path) -> None:
    with pytest.raises(TaskFileError, match=r"task file not found: .*nope.toml"):
        load_task_file(tmp_path / "nope.toml")
    task = load_task_file(write_task(tmp_path, 'name = "x"\nkind = "multiple-choice"\n[fields]\nquestion = "q"\n'
                                               'options = "opts"\nanswer = "a"\n'))
    with pytest.raises(TaskFileError, match=r"mytask.toml: no 'data' file named"):
        task.load()
    rows = mc_rows() + [{"q": "bad letter", "opts": ["x", "y"], "a": "Q"}]
    for row in rows[:3]:
        row["a"] = "ABC"[row["a"]]
    dataset = task.load(write_jsonl(tmp_path / "d.jsonl", rows))
    assert len(dataset.samples) == 3
    assert any("field 'a' must be a letter A-B, got 'Q'" in str(w) and "d.jsonl" in str(w) for w in dataset.warnings)
    result = CliRunner().invoke(app, ["eval", "scripted", "--task", "gsm8k", "--task-file", "x.toml"])
    assert result.exit_code != 0 and "pass --task or --task-file, not both" in result.output
