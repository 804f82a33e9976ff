"""The typed records of schema.py: JSON round trips in today's field names and order, and errors naming the field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from glassboard.audit.style import style_flags
from glassboard.bench.data import DataError
from glassboard.bench.log import read_log
from glassboard.schema import (
    LeaderboardRow,
    Reading,
    RecordError,
    SampleError,
    SampleRecord,
    Scored,
    StyleStanding,
)

OK_LINE = {
    "type": "sample", "variant": "v1", "task": "gsm8k", "id": "7", "epoch": 2, "prompt_hash": "h",
    "status": "ok", "target": "11", "letters": "", "cluster": None, "prompt": "Q?", "response": "The answer is 11",
    "finish_reason": "stop", "prompt_tokens": 5, "completion_tokens": 6, "latency_s": 0.25, "scorer": "3.1",
    "format_ok": False, "strict": {"answer": None, "pattern": None, "correct": False},
    "lenient": {"answer": "11", "pattern": "answer_is", "correct": True}, "time": 1.5,
}
ERROR_LINE = {
    "type": "sample", "variant": "v1", "task": "gsm8k", "id": "8", "epoch": 1, "prompt_hash": "g",
    "status": "error", "target": "3", "letters": "", "cluster": "algebra", "prompt": "Q2?",
    "error": {"kind": "timeout", "message": "timed out", "status": None}, "time": 2.0,
}


def test_sample_records_round_trip_in_the_run_log_field_order() -> None:
    for line in (OK_LINE, ERROR_LINE):
        record = SampleRecord.from_json(line)
        assert list(record.to_json().items()) == list(line.items())  # names, values and order unchanged
    ok = SampleRecord.from_json(OK_LINE)
    assert ok.key == ("7", 2, "h") and ok.reading("lenient") == Reading("11", "answer_is", True)
    assert ok.scored == Scored(False, Reading(None, None, False), Reading("11", "answer_is", True))
    failed = SampleRecord.from_json(ERROR_LINE)
    assert not failed.ok and failed.error == SampleError("timeout", "timed out", None)
    with pytest.raises(RecordError, match="has no score"):
        failed.reading("strict")


@pytest.mark.parametrize(("change", "message"), [
    ({"epoch": "two"}, "field 'epoch' must be int, got str"),
    ({"epoch": True}, "field 'epoch' must be int, got bool"),
    ({"status": "done"}, "field 'status' must be 'ok' or 'error'"),
    ({"prompt_hash": None}, "field 'prompt_hash' is missing"),
    ({"strict": "B"}, "field 'strict' must be an object"),
])
def test_a_bad_sample_record_names_file_line_and_field(tmp_path: Path, change: dict, message: str) -> None:
    log = tmp_path / "run.jsonl"
    lines = [{"type": "header", "task": "gsm8k"}, OK_LINE, {**OK_LINE, **change}]
    log.write_text("".join(json.dumps(line) + "\n" for line in lines))
    with pytest.raises(DataError, match=f"run.jsonl line 3: bad sample record: {message}"):
        read_log(log)


def test_leaderboard_rows_round_trip_with_and_without_style() -> None:
    plain = {"model": "m", "rating": 1012.5, "ci_low": 990.0, "ci_high": 1030.0, "rank": 1, "rank_ub": 1,
             "votes": 40}
    assert LeaderboardRow.from_json(plain).to_json() == plain
    styled = {**plain, "style_rating": 1001.0, "style_ci_low": None, "style_ci_high": None, "style_rank": 2,
              "style_rank_ub": 1, "rank_shift": 0, "elo": 1010.0}
    row = LeaderboardRow.from_json(styled)
    assert row.style == StyleStanding(1001.0, None, None, 2, 1, 0) and row.elo == 1010.0
    assert list(row.to_json().items()) == list(styled.items())
    with pytest.raises(RecordError, match="field 'rank' must be int"):
        LeaderboardRow.from_json({**plain, "rank": "first"})


def test_style_flags_skip_models_whose_intervals_are_not_determined() -> None:
    determined = LeaderboardRow("x", 1100.0, 1080.0, 1120.0, 1, 1, 50, StyleStanding(1090.0, 1070.0, 1110.0, 2, 2, -1))
    newcomer = LeaderboardRow("new", 1200.0, None, None, 1, 1, 1, StyleStanding(1200.0, None, None, 1, 1, 0))
    assert style_flags([determined, newcomer]) == {"x": [], "new": []}
