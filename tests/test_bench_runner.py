"""The runner through the Python API against scripted loopback servers: storing, resuming, errors, early stop."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench_fixtures import gpqa_rows, gsm8k_rows, math_rows, prompt_counts, scenario_counts, write_jsonl
from glassboard.bench.log import read_log
from glassboard.bench.runner import run_eval, with_overrides
from glassboard.bench.summary import compare_runs, summarize
from glassboard.bench.tasks import get_task
from glassboard.models import ModelHub, Registry, Variant
from glassboard.models.scripted_server import ScriptedServer, free_port
from glassboard.schema import Reading


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    with ScriptedServer() as running:  # one per test: its request counters start at zero
        yield running


def variant_for(base_url: str, name: str = "scripted", **options: float) -> Variant:
    opts = {"retry_base_s": 0.01, "timeout_s": 5.0, "max_retries": 0, **options}
    return Variant(name=name, backend="openai", model="scripted", base_url=base_url,
                   options=tuple(sorted(opts.items())))


async def run(variant: Variant, task_name: str, data: Path, log_dir: Path, **kwargs):
    task = get_task(task_name)
    dataset = task.load(data, kwargs.pop("limit", None))
    async with ModelHub(Registry([variant])) as hub:
        return await run_eval(hub, variant, task, dataset.samples, log_dir=log_dir, data_source=dataset.source,
                              data_sha256=dataset.sha256, **kwargs)


async def test_every_sample_is_stored_and_scored_twice(server: ScriptedServer, tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "g.jsonl", gsm8k_rows(6))
    variant = variant_for(server.base_url("echo"))
    result = await run(variant, "gsm8k", data, tmp_path / "runs", concurrency=3)
    summary = result.summary
    # Echo answers: rows 0, 3 strict right; 1, 4 right only leniently; 2, 5 wrong in both readings.
    assert (summary.n, summary.errors, result.requested, result.resumed) == (6, 0, 6, 0)
    assert summary.strict.accuracy == pytest.approx(2 / 6) and summary.lenient.accuracy == pytest.approx(4 / 6)
    assert summary.strict.unparsed_rate == pytest.approx(2 / 6) and summary.unparsed_rate == 0.0
    low, high = summary.strict.ci
    assert low is not None and high is not None and low <= 2 / 6 <= high
    assert result.log_path == tmp_path / "runs" / "gsm8k" / f"scripted-{variant.id}.jsonl"
    contents = read_log(result.log_path)
    header = contents.header
    assert header["task"] == "gsm8k" and header["variant"]["id"] == variant.id
    assert header["data"]["sha256"] and header["sampling"]["max_tokens"] == 512 and header["glassboard"]
    record = contents.records[("1", 1, get_task("gsm8k").render(get_task("gsm8k").load(data).samples[1], 1).hash)]
    assert record.reading("strict") == Reading(answer=None, pattern=None, correct=False)
    assert record.reading("lenient") == Reading(answer="11", pattern="answer_is", correct=True)
    assert record.scored is not None and record.scored.format_ok is False
    assert record.variant == variant.id and record.task == "gsm8k"


async def test_resume_asks_only_for_what_is_missing(server: ScriptedServer, tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "g.jsonl", gsm8k_rows(6))
    variant = variant_for(server.base_url("echo"))
    first = await run(variant, "gsm8k", data, tmp_path / "runs", limit=4, concurrency=2)
    again = await run(variant, "gsm8k", data, tmp_path / "runs", concurrency=2)  # same log, two more questions
    assert (first.requested, again.requested, again.resumed) == (4, 2, 4)
    assert scenario_counts(server)["echo"] == 6
    assert set(prompt_counts(server).values()) == {1}  # no prompt was asked twice
    epochs = await run(variant, "gsm8k", data, tmp_path / "runs", epochs=2, concurrency=2)
    assert (epochs.requested, epochs.resumed, epochs.summary.n, epochs.summary.epochs) == (6, 6, 12, 2)
    # Echo is deterministic: every question scores the same in both epochs.
    assert epochs.summary.strict.within_question_var == 0.0


async def test_model_errors_are_counted_apart_and_retried(server: ScriptedServer, tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "g.jsonl", gsm8k_rows(6))
    variant = variant_for(server.base_url("status500x2"))  # the first two requests fail (no retries configured)
    first = await run(variant, "gsm8k", data, tmp_path / "runs", concurrency=1)
    assert (first.summary.n, first.summary.errors, first.summary.error_kinds) == (4, 2, {"server": 2})
    # Errors are not wrong answers: accuracy is over the 4 answered samples ("The answer is 42." is wrong).
    assert first.summary.strict.accuracy == 0.0 and first.summary.lenient.estimate.n == 4
    second = await run(variant, "gsm8k", data, tmp_path / "runs", concurrency=1)
    assert (second.requested, second.resumed, second.summary.n, second.summary.errors) == (2, 4, 6, 0)
    records = [json.loads(line) for line in second.log_path.read_text().splitlines()]
    statuses = [r["status"] for r in records if r["type"] == "sample"]
    assert statuses.count("error") == 2 and statuses.count("ok") == 6  # error records stay in the log
    assert sum(1 for r in records if r["type"] == "header") == 2  # one header per invocation


async def test_endpoint_down_stops_early_and_keeps_what_finished(tmp_path: Path) -> None:
    rows = gsm8k_rows(6) + [{**row, "question": row["question"] + " (again)"} for row in gsm8k_rows(6)] * 4
    data = write_jsonl(tmp_path / "g30.jsonl", rows)
    port = free_port()
    variant = variant_for(f"http://127.0.0.1:{port}/echo/v1")
    with ScriptedServer(port=port):
        before = await run(variant, "gsm8k", data, tmp_path / "runs", limit=5, concurrency=2)
    assert before.summary.n == 5
    down = await run(variant, "gsm8k", data, tmp_path / "runs", concurrency=2, stop_after=3)
    assert down.stopped and "connection" in down.stopped
    assert down.requested < 25  # stopped early instead of failing through all 25 missing samples
    assert down.summary.n == 5 and down.summary.errors == down.errors >= 3
    with ScriptedServer(port=port) as back:
        resumed = await run(variant, "gsm8k", data, tmp_path / "runs", concurrency=4)
        assert (resumed.requested, resumed.resumed, resumed.summary.n, resumed.summary.errors) == (25, 5, 30, 0)
        assert scenario_counts(back)["echo"] == 25


async def test_math_and_gpqa_through_the_runner(server: ScriptedServer, tmp_path: Path) -> None:
    variant = variant_for(server.base_url("echo"))
    math = await run(variant, "math500", write_jsonl(tmp_path / "m.jsonl", math_rows()), tmp_path / "runs")
    # Echo: 1/2 strict; \boxed{1} lenient only; 2\sqrt{2} strict; "Answer: 4" for 5 wrong.
    assert math.summary.strict.accuracy == 0.5 and math.summary.lenient.accuracy == 0.75
    assert math.summary.strict.subject is not None and math.summary.strict.subject.clusters == 2
    gpqa = await run(variant, "gpqa-diamond", write_jsonl(tmp_path / "q.jsonl", gpqa_rows(4)), tmp_path / "runs")
    assert gpqa.summary.n == 4 and gpqa.summary.errors == 0
    assert gpqa.summary.strict.unparsed_rate == 1.0  # the echoed question has no "Answer: X" line


async def test_compare_two_runs(server: ScriptedServer, tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "g.jsonl", gsm8k_rows(6))
    echo = await run(variant_for(server.base_url("echo"), "echo"), "gsm8k", data, tmp_path / "runs")
    fixed = await run(variant_for(server.base_url("ok"), "fixed"), "gsm8k", data, tmp_path / "runs")
    comparison = compare_runs(summarize(echo.log_path), summarize(fixed.log_path))
    lenient = comparison.results["lenient"]
    # Per question, echo - fixed = [1, 1, 0, 1, 1, 0]: mean 2/3, variance (4 * 1/9 + 2 * 4/9) / 5 = 4/15
    assert lenient.n == 6 and lenient.diff.mean == pytest.approx(2 / 3)
    assert lenient.diff.se == pytest.approx((4 / 15 / 6) ** 0.5)
    assert lenient.significant
    assert comparison.questions_needed("lenient", 0.1) == 210  # ceil(7.848879 * (4/15) / 0.01)


def test_overrides_make_a_new_variant() -> None:
    base = variant_for("http://127.0.0.1:1/ok/v1")
    assert with_overrides(base) is base
    shorter = with_overrides(base, max_tokens=48, temperature=0.0)
    assert shorter.params.max_tokens == 48 and shorter.id != base.id and shorter.name == base.name


async def test_summary_rescores_records_of_an_older_scorer(server: ScriptedServer, tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "g.jsonl", gsm8k_rows(6))
    result = await run(variant_for(server.base_url("echo")), "gsm8k", data, tmp_path / "runs")
    assert summarize(result.log_path).rescored == 0
    lines = []
    for line in result.log_path.read_text().splitlines():
        record = json.loads(line)
        if record["type"] == "sample":  # as if written by an older, different scorer
            record.update(scorer="0", strict={"answer": "x", "pattern": "old", "correct": True})
        lines.append(json.dumps(record))
    result.log_path.write_text("\n".join(lines) + "\n")
    again = summarize(result.log_path)
    assert again.rescored == 6 and again.strict.accuracy == result.summary.strict.accuracy == pytest.approx(2 / 6)


async def test_torn_last_line_of_a_killed_writer_is_skipped(server: ScriptedServer, tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "g.jsonl", gsm8k_rows(3))
    variant = variant_for(server.base_url("echo"))
    first = await run(variant, "gsm8k", data, tmp_path / "runs", limit=2)
    with first.log_path.open("a") as handle:
        handle.write('{"type":"sample","variant":"x","id":"2","ep')  # died mid-write
    second = await run(variant, "gsm8k", data, tmp_path / "runs")
    assert (second.requested, second.resumed, second.summary.n) == (1, 2, 3)
    assert read_log(second.log_path).torn == 1
