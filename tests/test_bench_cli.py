"""`glassboard eval` and `glassboard compare` as a user runs them: real models, a killed run, bad input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bench_fixtures import (
    glassboard,
    glassboard_command,
    gsm8k_rows,
    prompt_counts,
    registry_toml,
    sample_lines,
    write_jsonl,
)
from glassboard.bench.summary import summarize
from glassboard.cli import app
from glassboard.models.scripted_server import ScriptedServer, free_port

JSON_KEYS = {"task", "model", "n", "errors", "unparsed_rate", "log", "strict", "lenient"}


@pytest.fixture(scope="module")
def echo_server() -> Iterator[ScriptedServer]:
    with ScriptedServer() as server:
        yield server


def invoke(*args: str):
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})


def test_eval_bundled_model_json_claim_inspect_log_and_resume(tmp_path: Path) -> None:
    from inspect_ai.log import read_eval_log

    data = write_jsonl(tmp_path / "gsm8k.jsonl", gsm8k_rows(2))
    args = ["eval", "smollm2-135m", "--task", "gsm8k", "--data", str(data), "--max-tokens", "8",
            "--temperature", "0", "--claim", "55%", "--json", "out.json"]
    result = glassboard(*args, "--inspect-log", "inspect-logs", cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for text in ("gsm8k · smollm2-135m", "strict", "lenient", "95% CI", "unparsed", "errors   0", "claim    0.550"):
        assert text in out
    summary = json.loads((tmp_path / "out.json").read_text())
    assert JSON_KEYS <= set(summary) and summary["n"] == 2 and summary["errors"] == 0
    for scoring in ("strict", "lenient"):
        block = summary[scoring]
        assert {"accuracy", "ci_low", "ci_high"} <= set(block)
        assert 0.0 <= block["ci_low"] <= block["accuracy"] <= block["ci_high"] <= 1.0
    assert summary["claim"]["value"] == 0.55
    assert summary["claim"]["verdict_strict"] in ("consistent", "below", "above")
    log = Path(summary["log"])
    assert log.is_file() and log.is_relative_to(tmp_path / "glassboard-runs" / "gsm8k")
    assert f"samples  {log.relative_to(tmp_path)}" in out  # where the per-sample records are
    assert len(sample_lines(log)) == 2

    eval_logs = list((tmp_path / "inspect-logs").glob("*.eval"))
    assert len(eval_logs) == 1
    inspect_log = read_eval_log(str(eval_logs[0]))
    assert inspect_log.status == "success" and inspect_log.eval.model == "glassboard/smollm2-135m"
    assert len(inspect_log.samples or []) == 2
    scores = {s.name: s.metrics["accuracy"].value for s in inspect_log.results.scores}  # type: ignore[union-attr]
    assert scores == {"strict": summary["strict"]["accuracy"], "lenient": summary["lenient"]["accuracy"]}

    again = glassboard(*args, cwd=tmp_path, timeout=120)  # the same command resumes: nothing is generated
    assert again.returncode == 0, again.stderr
    assert "0 requested now, 2 resumed" in again.stdout
    resumed = json.loads((tmp_path / "out.json").read_text())
    assert resumed["strict"] == summary["strict"] and resumed["lenient"] == summary["lenient"]


def test_eval_through_llama_cpp_openai_server(llama_server: str, tmp_path: Path) -> None:
    config = tmp_path / "glassboard.toml"
    config.write_text(f"[models.served]\nbackend = 'openai'\nmodel = 'smollm2-135m'\nbase_url = '{llama_server}'\n"
                      "params = { temperature = 0.0, max_tokens = 8 }\n")
    rows = [{"question_id": 1, "question": "What is the capital of France?",
             "options": ["Rome", "Paris", "Oslo", "Bern"], "answer": "B", "answer_index": 1, "category": "geography"},
            {"question_id": 2, "question": "What is 2 + 2?", "options": ["3", "5", "4", "22"], "answer": "C",
             "answer_index": 2, "category": "math"}]
    data = write_jsonl(tmp_path / "mmlu.jsonl", rows)  # short prompts: prompt evaluation dominates on 2 cores
    result = glassboard("eval", "served", "--task", "mmlu-pro", "--data", str(data), "--json", "out.json",
                        "--concurrency", "2", cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stderr
    summary = json.loads((tmp_path / "out.json").read_text())
    assert summary["n"] == 2 and summary["errors"] == 0 and summary["task"] == "mmlu-pro"
    records = sample_lines(Path(summary["log"]))
    assert all(r["letters"] == "ABCD" and r["response"] and r["target"] in "ABCD" for r in records)


def test_resume_after_kill_gives_the_same_numbers(tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "gsm8k.jsonl", gsm8k_rows(40))
    with ScriptedServer(latency=0.25) as server:
        config = registry_toml(tmp_path / "glassboard.toml", server.base_url("echo"))
        args = ["eval", "scripted", "--task", "gsm8k", "--data", str(data), "--concurrency", "4", "--config",
                str(config), "--json", "out.json", "--no-progress"]
        log = tmp_path / "glassboard-runs" / "gsm8k"
        process = subprocess.Popen(glassboard_command(*args), cwd=tmp_path, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        stored: list[dict] = []
        while len(stored) < 10:
            assert process.poll() is None and time.monotonic() < deadline, "the run ended before it was killed"
            time.sleep(0.05)
            files = list(log.glob("*.jsonl"))
            stored = sample_lines(files[0]) if files else []
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
        stored = sample_lines(next(log.glob("*.jsonl")))
        assert 10 <= len(stored) < 40

        finished = glassboard(*args, cwd=tmp_path)
        assert finished.returncode == 0, finished.stderr
        counts = prompt_counts(server)
        assert all(counts[record["prompt_hash"]] == 1 for record in stored)  # stored samples: never asked again
        assert len(counts) == 40 and sum(counts.values()) <= 40 + 4  # at most the 4 in flight at the kill
        resumed = json.loads((tmp_path / "out.json").read_text())
        final = sample_lines(Path(resumed["log"]))
        assert len({(r["id"], r["epoch"]) for r in final}) == 40 and all(r["status"] == "ok" for r in final)

        uninterrupted = glassboard(*args, "--log-dir", "fresh", cwd=tmp_path)
        assert uninterrupted.returncode == 0, uninterrupted.stderr
        clean = json.loads((tmp_path / "out.json").read_text())
    for key in ("n", "errors", "unparsed_rate", "strict", "lenient"):
        assert resumed[key] == clean[key]
    assert clean["n"] == 40 and clean["strict"]["accuracy"] == pytest.approx(14 / 40)


def test_compare_command(echo_server: ScriptedServer, tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "gsm8k.jsonl", gsm8k_rows(6))
    for name, scenario in (("echo", "echo"), ("fixed", "ok")):
        config = registry_toml(tmp_path / f"{name}.toml", echo_server.base_url(scenario), name=name)
        result = invoke("eval", name, "--task", "gsm8k", "--data", str(data), "--config", str(config),
                        "--log-dir", str(tmp_path / "runs"), "--json", str(tmp_path / f"{name}.json"),
                        "--no-progress")
        assert result.exit_code == 0, result.output
    result = invoke("compare", str(tmp_path / "echo.json"), str(tmp_path / "fixed.json"), "--json",
                    str(tmp_path / "cmp.json"))
    assert result.exit_code == 0, result.output
    assert "lenient" in result.stdout and "A higher" in result.stdout and "6 shared questions" in result.stdout
    compared = json.loads((tmp_path / "cmp.json").read_text())
    assert compared["lenient"]["diff"] == pytest.approx(2 / 3) and compared["lenient"]["significant"]
    log_a = json.loads((tmp_path / "echo.json").read_text())["log"]
    assert summarize(log_a).lenient.accuracy == pytest.approx(4 / 6)
    by_log = invoke("compare", log_a, json.loads((tmp_path / "fixed.json").read_text())["log"])
    assert by_log.exit_code == 0 and "A higher" in by_log.stdout


@pytest.mark.parametrize(("args", "message"), [
    (["--task", "mmlu"], "unknown task 'mmlu'; known tasks: gsm8k"),
    (["--task", "gsm8k", "--data", "missing.jsonl"], "data file not found: missing.jsonl"),
    (["--task", "gsm8k", "--data", "bad.jsonl", "--strict-data"], "bad.jsonl line 2: missing field 'question'"),
    (["--task", "gsm8k", "--data", "good.jsonl", "--claim", "lots"], "--claim must be a score"),
])
def test_bad_input_is_one_clean_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str],
                                     message: str) -> None:
    monkeypatch.chdir(tmp_path)
    write_jsonl(tmp_path / "good.jsonl", gsm8k_rows(2))
    (tmp_path / "bad.jsonl").write_text('{"question": "q", "answer": "#### 1"}\n{"answer": "#### 2"}\n')
    result = invoke("eval", "smollm2-135m", *args)
    assert result.exit_code == 2
    assert message in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) <= 3  # one message (soft-wrapped at most)


def test_unknown_model_and_bad_compare_input(tmp_path: Path) -> None:
    result = invoke("eval", "gpt-9", "--task", "gsm8k")
    assert result.exit_code == 2 and "unknown model 'gpt-9'" in result.stderr
    (tmp_path / "notes.jsonl").write_text("hello\n")
    result = invoke("compare", str(tmp_path / "notes.jsonl"), str(tmp_path / "nope.jsonl"))
    assert result.exit_code == 2 and "notes.jsonl line 1: malformed JSON" in result.stderr


def test_endpoint_down_is_a_clear_message_and_keeps_finished_samples(tmp_path: Path) -> None:
    port = free_port()
    config = registry_toml(tmp_path / "glassboard.toml", f"http://127.0.0.1:{port}/echo/v1")
    data = write_jsonl(tmp_path / "gsm8k.jsonl", gsm8k_rows(30))
    args = ["eval", "scripted", "--task", "gsm8k", "--data", str(data), "--config", str(config), "--log-dir",
            str(tmp_path / "runs"), "--concurrency", "2", "--no-progress"]
    with ScriptedServer(port=port):
        assert invoke(*args, "--limit", "4").exit_code == 0
    result = invoke(*args, "--inspect-log", str(tmp_path / "inspect"))
    assert result.exit_code == 2 and "Traceback" not in result.stderr
    assert "endpoint down, run stopped early" in result.stderr and "connection" in result.stderr
    assert "4 finished samples are stored" in result.stderr and "re-run the same command to resume" in result.stderr
    assert "errors" in result.stdout  # the partial summary is printed first

    from inspect_ai.log import read_eval_log

    inspect_log = read_eval_log(str(next((tmp_path / "inspect").glob("*.eval"))))
    assert inspect_log.status == "error" and "connection" in (inspect_log.error.message if inspect_log.error else "")
    assert sum(1 for s in inspect_log.samples or [] if s.error is None) == 4
