"""Real benchmark files load: odd line breaks, BOMs, CRLF, and defective rows become warnings (fatal if strict)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bench_fixtures import gsm8k_rows, registry_toml, write_jsonl
from glassboard.bench.data import DataError
from glassboard.bench.tasks import get_task
from glassboard.cli import app
from glassboard.models.scripted_server import ScriptedServer

REAL_GSM8K = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "gsm8k" / "test.jsonl"


def mmlu_row(qid: int, question: str = "Which?", answer: str = "B", index: int = 1, **extra: object) -> dict:
    return {"question_id": qid, "question": question, "options": ["w", "x", "y", "z"], "answer": answer,
            "answer_index": index, "category": "law", **extra}


def jsonl(rows: list[dict]) -> str:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


def test_raw_next_line_character_inside_a_question_is_text(tmp_path: Path) -> None:
    question = "Which clause\x85applies here?\u2028Second line."
    path = tmp_path / "mmlu.jsonl"
    path.write_text(jsonl([mmlu_row(1, question), mmlu_row(2)]), encoding="utf-8")
    data = get_task("mmlu-pro").load(path)
    assert [s.id for s in data.samples] == ["1", "2"] and data.samples[0].question == question
    assert data.warnings == ()


def test_mmlu_pro_answer_letter_wins_over_answer_index_with_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "mmlu.jsonl"
    path.write_text(jsonl([mmlu_row(3982), mmlu_row(3983, answer="C", index=1), mmlu_row(3984)]), encoding="utf-8")
    data = get_task("mmlu-pro").load(path)
    assert len(data.samples) == 3
    sample = data.samples[1]
    assert sample.id == "3983" and sample.target == "y" and sample.choices[sample.correct] == "y"
    [warning] = data.warnings
    assert warning.where == f"{path} line 2"
    assert "'answer' (C) and 'answer_index' (1) disagree" in warning.message
    assert "official MMLU-Pro scorer" in warning.message
    with pytest.raises(DataError, match=r"mmlu.jsonl line 2: fields 'answer' \(C\) and 'answer_index' \(1\) "
                                        r"disagree.*--strict-data"):
        get_task("mmlu-pro").load(path, strict=True)


def test_defective_rows_are_skipped_with_a_warning_each(tmp_path: Path) -> None:
    rows = [mmlu_row(1), mmlu_row(2), mmlu_row(1, question="Same id again"), {"question_id": 4, "question": "No"},
            mmlu_row(5, options=["w", "", "y"], answer="C", index=2), mmlu_row(6, answer="Z")]
    text = "\ufeff" + jsonl(rows[:2]).replace("\n", "\r\n") + "\n" + jsonl(rows[2:]) + "{broken\n\n\n"
    path = tmp_path / "mmlu.jsonl"
    path.write_text(text, encoding="utf-8")
    data = get_task("mmlu-pro").load(path)
    assert [s.id for s in data.samples] == ["1", "2", "5"]
    assert data.samples[2].choices == ("w", "y")  # the empty option is dropped
    messages = {w.where.removeprefix(str(path)): w.message for w in data.warnings}
    assert messages == {
        "": "1 blank line(s) between rows skipped (line 3)",
        " line 4": "duplicate sample id '1' (the first, at " + str(path) + " line 1, is kept); row skipped",
        " line 5": "missing field 'options' (fields present: question, question_id); row skipped",
        " line 6": "empty option(s) B dropped",
        " line 7": "field 'answer' must be a letter A-D, got 'Z'; row skipped",
        " line 8": "malformed JSON (Expecting property name enclosed in double quotes at column 2); row skipped",
    }


def test_limit_stops_reading_rows_and_their_warnings(tmp_path: Path) -> None:
    path = tmp_path / "mmlu.jsonl"
    path.write_text(jsonl([mmlu_row(1), mmlu_row(2), mmlu_row(3, answer="C", index=1)]), encoding="utf-8")
    data = get_task("mmlu-pro").load(path, limit=2)
    assert len(data.samples) == 2 and data.warnings == ()


def test_a_file_without_usable_rows_is_an_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "g.jsonl"
    path.write_text("question,answer\nq,#### 1\n", encoding="utf-8")  # a CSV file named .jsonl
    with pytest.raises(DataError, match=r"g.jsonl: the file has no data rows \(first: .*g.jsonl line 1: malformed"):
        get_task("gsm8k").load(path)


def test_csv_cells_keep_their_own_line_breaks(tmp_path: Path) -> None:
    path = tmp_path / "gpqa.csv"
    question = "Line one\r\nline two\x85still two\u2028and three"
    cells = ["Record ID", "Question", "Correct Answer", "Incorrect Answer 1", "Incorrect Answer 2",
             "Incorrect Answer 3"]
    body = [["rec1", question, " right ", "w1", "w2", "w3"], ["rec2", "Q2", "same", "same", "w2", "w3"]]
    import csv

    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\r\n")
        writer.writerow(cells)
        writer.writerows(body)
    data = get_task("gpqa-diamond").load(path)
    assert [s.id for s in data.samples] == ["rec1"]
    assert data.samples[0].question == question and data.samples[0].target == "right"
    [warning] = data.warnings
    assert warning.where == f"{path} line 4"  # the csv module counts the physical lines of the quoted cell
    assert warning.message == "the correct answer is also 'Incorrect Answer 1'; row skipped"


def test_real_gsm8k_test_split_loads_cleanly() -> None:
    if not REAL_GSM8K.is_file():
        pytest.skip(f"real GSM8K data not present at {REAL_GSM8K} (shared data of this machine kind)")
    data = get_task("gsm8k").load(REAL_GSM8K)
    assert len(data.samples) == 1319 and data.warnings == ()
    assert data.samples[0].target == "18" and len(data.sha256 or "") == 64


@pytest.fixture(scope="module")
def echo_server() -> Iterator[ScriptedServer]:
    with ScriptedServer() as server:
        yield server


def test_eval_counts_and_lists_data_warnings_and_strict_data_stops(echo_server: ScriptedServer,
                                                                    tmp_path: Path) -> None:
    rows = gsm8k_rows(3)
    path = tmp_path / "gsm8k.jsonl"
    write_jsonl(path, rows)
    path.write_text(path.read_text() + '{"question": "no answer"}\n', encoding="utf-8")
    config = registry_toml(tmp_path / "glassboard.toml", echo_server.base_url("echo"))
    args = ["eval", "scripted", "--task", "gsm8k", "--data", str(path), "--config", str(config), "--log-dir",
            str(tmp_path / "runs"), "--no-progress"]
    result = CliRunner().invoke(app, [*args, "--json", str(tmp_path / "out.json")], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    assert "data     1 warnings" in result.stdout
    assert f"data warning: {path} line 4: missing field 'answer'" in result.stderr
    summary = json.loads((tmp_path / "out.json").read_text())
    assert summary["n"] == 3
    assert summary["data_warnings"] == [{"where": f"{path} line 4", "message": "missing field 'answer' (fields "
                                         "present: question); row skipped"}]
    piped = CliRunner().invoke(app, [*args, "--format", "json"], env={"COLUMNS": "80"})
    assert json.loads(piped.stdout)["data_warnings"][0]["where"] == f"{path} line 4"
    strict = CliRunner().invoke(app, [*args, "--strict-data"])
    assert strict.exit_code == 2 and "line 4: missing field 'answer'" in strict.stderr
    assert "--strict-data" in strict.stderr and "Traceback" not in strict.output
