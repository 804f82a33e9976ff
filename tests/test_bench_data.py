"""Tasks and data: JSONL/CSV/Parquet with the hub's field names, clear errors, per-sample option shuffling."""

from __future__ import annotations

import csv
import json
import random
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from bench_fixtures import gpqa_rows, gsm8k_rows, math_rows, mmlu_pro_rows, write_jsonl
from glassboard.bench.data import DataError
from glassboard.bench.tasks import get_task
from glassboard.models.types import ConfigError


def test_gsm8k_from_jsonl(tmp_path: Path) -> None:
    data = get_task("gsm8k").load(write_jsonl(tmp_path / "g.jsonl", gsm8k_rows(4)))
    assert [s.target for s in data.samples] == ["10", "11", "12", "13"]
    assert [s.id for s in data.samples] == ["0", "1", "2", "3"]
    assert len(data.sha256 or "") == 64 and data.source.endswith("g.jsonl")
    prompt = get_task("gsm8k").render(data.samples[0], 1)
    assert prompt.text.startswith("Solve the following math problem") and '"Answer: N"' in prompt.text
    assert data.samples[0].question in prompt.text and len(prompt.hash) == 16


def test_limit_takes_the_first_rows(tmp_path: Path) -> None:
    data = get_task("gsm8k").load(write_jsonl(tmp_path / "g.jsonl", gsm8k_rows(6)), limit=2)
    assert [s.id for s in data.samples] == ["0", "1"]


def test_math500_and_level5(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "m.jsonl", math_rows())
    everything = get_task("math500").load(path)
    assert [s.target for s in everything.samples] == ["\\frac{1}{2}", "1", "2\\sqrt{2}", "5"]
    assert everything.samples[0].cluster == "Algebra" and everything.samples[0].id == "test/algebra/1.json"
    hard = get_task("math-l5").load(path)
    assert [s.id for s in hard.samples] == ["test/prealgebra/2.json", "test/algebra/3.json"]


def test_full_math_rows_take_the_answer_from_the_solution(tmp_path: Path) -> None:
    rows = [{"problem": "1+1?", "solution": "Clearly $1+1=\\boxed{2}$.", "level": "Level 5", "type": "Algebra"}]
    sample = get_task("math-l5").load(write_jsonl(tmp_path / "m.jsonl", rows)).samples[0]
    assert (sample.target, sample.level, sample.cluster) == ("2", 5, "Algebra")


def test_mmlu_pro_from_csv_and_parquet(tmp_path: Path) -> None:
    rows = mmlu_pro_rows(3)
    csv_path = tmp_path / "mmlu.csv"
    with csv_path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        for row in rows:
            writer.writerow({**row, "options": json.dumps(row["options"])})
    parquet_path = tmp_path / "mmlu.parquet"
    pq.write_table(pa.Table.from_pylist(rows), parquet_path)
    task = get_task("mmlu-pro")
    from_csv, from_parquet = task.load(csv_path), task.load(parquet_path)
    assert from_csv.samples == from_parquet.samples
    first = from_csv.samples[0]
    assert first.id == "100" and len(first.choices) == 6 and first.cluster == "math"
    assert first.choices[first.correct] == first.target == "option 0 of question 0"


def test_shuffle_is_per_sample_and_epoch_and_keeps_the_target(tmp_path: Path) -> None:
    task = get_task("gpqa-diamond")
    samples = task.load(write_jsonl(tmp_path / "gpqa.jsonl", gpqa_rows(8))).samples
    state = random.getstate()
    prompts = [task.render(s, epoch) for s in samples for epoch in (1, 2)]
    assert random.getstate() == state  # never the global random state
    for prompt in prompts:
        line = next(line for line in prompt.text.splitlines() if line.startswith(f"{prompt.target}) "))
        assert line == f"{prompt.target}) {prompt.sample.target}"  # the target letter shows the correct option
        assert prompt.letters == "ABCD" and "one of the letters ABCD" in prompt.text
        assert task.render(prompt.sample, prompt.epoch) == prompt  # deterministic
    assert len({p.target for p in prompts}) > 1  # the correct answer (first in the data) is not always A
    assert any(task.render(s, 1).text != task.render(s, 2).text for s in samples)  # epochs reshuffle


@pytest.mark.parametrize("name", ["gsm8k", "math500", "math-l5", "mmlu-pro", "gpqa-diamond", "GPQA", "math-500"])
def test_task_names_and_aliases(name: str) -> None:
    assert get_task(name).name in ("gsm8k", "math500", "math-l5", "mmlu-pro", "gpqa-diamond")


def test_unknown_task() -> None:
    with pytest.raises(ConfigError, match="unknown task 'mmlu'; known tasks: gsm8k, math500"):
        get_task("mmlu")


def test_no_datasets_library_means_pass_data(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "datasets", None)  # as if not installed: never touches the network
    with pytest.raises(DataError, match="pass --data PATH"):
        get_task("gsm8k").load(None)


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(("task", "name", "text", "message"), [
    ("gsm8k", "g.jsonl", '{"question": "q", "answer": "#### 1"}\n{"question": "q2", "answer": \n',
     r"g.jsonl line 2: malformed JSON"),
    ("gsm8k", "g.jsonl", '{"question": "q", "answer": "#### 1"}\n{"answer": "#### 2"}\n',
     r"g.jsonl line 2: missing field 'question' \(fields present: answer\)"),
    ("gsm8k", "g.jsonl", '{"question": "q", "answer": "no final answer"}\n',
     r"g.jsonl line 1: field 'answer' does not end with '#### N'"),
    ("gsm8k", "g.jsonl", '["not", "an", "object"]\n', r"g.jsonl line 1: expected a JSON object"),
    ("gsm8k", "g.jsonl", "\n\n", r"has no data rows"),
    ("gsm8k", "g.txt", "question,answer\n", r"unsupported file type '.txt'"),
    ("gsm8k", "g.csv", "question,answer\nq,#### 1,extra\n", r"g.csv line 2: more values than the 2 header columns"),
    ("gsm8k", "g.jsonl", '{"question": "q", "answer": "#### 1", "id": "x"}\n' * 2, r"duplicate sample id 'x'"),
    ("mmlu-pro", "m.jsonl", '{"question": "q", "options": ["a", "b"], "answer": "B", "answer_index": 0}\n',
     r"m.jsonl line 1: fields 'answer' \(B\) and 'answer_index' \(0\) disagree"),
    ("mmlu-pro", "m.jsonl", '{"question": "q", "options": "not a list", "answer": "A"}\n',
     r"m.jsonl line 1: field 'options' has an unusable value"),
    ("mmlu-pro", "m.jsonl", '{"question": "q", "options": ["a", "b"], "answer": "E"}\n',
     r"field 'answer' must be a letter A-B"),
    ("gpqa-diamond", "q.jsonl", '{"Question": "q", "Correct Answer": "a", "Incorrect Answer 1": "b"}\n',
     r"q.jsonl line 1: missing field 'Incorrect Answer 2'"),
    ("math-l5", "m.jsonl", '{"problem": "p", "answer": "1"}\n', r"m.jsonl line 1: missing field 'level'"),
    ("math500", "m.jsonl", '{"problem": "p", "solution": "no box"}\n', r"field 'solution' has no \\boxed"),
])
def test_bad_data_names_file_row_and_field(tmp_path: Path, task: str, name: str, text: str, message: str) -> None:
    with pytest.raises(DataError, match=message):
        get_task(task).load(write(tmp_path, name, text), strict=True)


def test_missing_and_broken_files(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="data file not found: .*nope.jsonl"):
        get_task("gsm8k").load(tmp_path / "nope.jsonl")
    with pytest.raises(DataError, match="not a readable Parquet file"):
        get_task("gsm8k").load(write(tmp_path, "x.parquet", "not parquet"))
    with pytest.raises(DataError, match="no samples left for task math-l5"):
        get_task("math-l5").load(write(tmp_path, "easy.jsonl", '{"problem": "p", "answer": "1", "level": 1}\n'))
