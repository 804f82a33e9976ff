"""Inspect AI interop: a run written as an Inspect eval log and read back; registry variants as an Inspect model."""

from __future__ import annotations

from importlib.metadata import entry_points
from pathlib import Path

from inspect_ai import Task
from inspect_ai import eval as inspect_eval
from inspect_ai.dataset import Sample
from inspect_ai.log import read_eval_log
from inspect_ai.scorer import exact, includes
from inspect_ai.solver import generate

from bench_fixtures import gsm8k_rows, registry_toml, write_jsonl
from glassboard.bench.inspect_interop import write_inspect_log
from glassboard.bench.runner import run_eval
from glassboard.bench.tasks import get_task
from glassboard.models import ModelHub, Registry
from glassboard.models.scripted_server import ScriptedServer


async def test_run_as_inspect_log_round_trip(tmp_path: Path) -> None:
    task = get_task("gsm8k")
    samples = task.load(write_jsonl(tmp_path / "g.jsonl", gsm8k_rows(6))).samples
    with ScriptedServer() as server:  # the first request fails (no retries): one sample is a model error
        registry = Registry.load(registry_toml(tmp_path / "glassboard.toml", server.base_url("status500x1")))
        async with ModelHub(registry) as hub:
            result = await run_eval(hub, "scripted", task, samples, concurrency=1, log_dir=tmp_path / "runs")
    summary = result.summary
    assert (summary.n, summary.errors) == (5, 1)
    path = write_inspect_log(summary, tmp_path / "inspect")
    assert path.suffix == ".eval" and path.parent == tmp_path / "inspect"

    log = read_eval_log(str(path))
    assert log.status == "success" and log.eval.task == "gsm8k" and log.eval.model == "glassboard/scripted"
    assert log.eval.metadata and log.eval.metadata["glassboard_log"] == str(result.log_path)
    assert log.results is not None and log.results.total_samples == 6 and log.results.completed_samples == 5
    metrics = {score.name: score.metrics["accuracy"].value for score in log.results.scores}
    assert metrics == {"strict": summary.strict.accuracy, "lenient": summary.lenient.accuracy}
    samples_back = log.samples or []
    assert len(samples_back) == 6
    errored = [s for s in samples_back if s.error is not None]
    assert len(errored) == 1 and "HTTP 500" in errored[0].error.message and not errored[0].scores
    answered = [s for s in samples_back if s.error is None]
    for sample in answered:
        assert sample.output.completion == "The answer is 42."
        assert sample.scores is not None and set(sample.scores) == {"strict", "lenient"}
        assert sample.scores["lenient"].answer == "42" and sample.scores["lenient"].value == "I"
        assert sample.scores["strict"].answer is None and "unparsed" in (sample.scores["strict"].explanation or "")
        assert sample.input.startswith("Solve the following math problem") and sample.target.isdigit()


def test_provider_is_registered_as_an_entry_point() -> None:
    names = {ep.name: ep.value for ep in entry_points(group="inspect_ai")}
    assert names.get("glassboard") == "glassboard.bench.inspect_interop"


def test_inspect_task_on_a_registry_variant(tmp_path: Path) -> None:
    dataset = [Sample(input="Say: blue", target="Say: blue"), Sample(input="Say: green", target="Say: green")]
    task = Task(dataset=dataset, solver=generate(), scorer=exact())
    with ScriptedServer() as server:
        config = registry_toml(tmp_path / "glassboard.toml", server.base_url("echo"), name="echoer")
        logs = inspect_eval(task, model="glassboard/echoer", model_args={"registry": str(config)},
                            log_dir=str(tmp_path / "logs"), display="none")
    log = logs[0]
    assert log.status == "success", log.error
    assert [s.output.completion for s in log.samples or []] == ["Say: blue", "Say: green"]
    assert log.results is not None and log.results.scores[0].metrics["mean"].value == 1.0


def test_inspect_task_on_the_bundled_model(tmp_path: Path) -> None:
    dataset = [Sample(input="What is the capital of France?", target="Paris"), Sample(input="Say hi.", target="hi")]
    task = Task(dataset=dataset, solver=generate(), scorer=includes())
    logs = inspect_eval(task, model="glassboard/smollm2-135m", log_dir=str(tmp_path / "logs"), display="none",
                        max_tokens=8, temperature=0.0)
    log = logs[0]
    assert log.status == "success", log.error
    outputs = [s.output.completion for s in log.samples or []]
    assert len(outputs) == 2 and all(outputs)
    assert all(s.output.usage is not None and s.output.usage.output_tokens > 0 for s in log.samples or [])
