"""`glassboard audit identity` with the bundled model: same vs same, the chat persona, and a hot sampler."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from typer.testing import CliRunner

from glassboard.audit.identity import IdentityOptions, IdentityReport, audit_identity
from glassboard.audit.prompts import load_prompts
from glassboard.cli import app
from glassboard.models import ModelHub, Registry, builtin_variants

runner = CliRunner(env={"COLUMNS": "200"})
# One thread: other test suites share the two cores, and llama.cpp with 2 threads degrades badly under contention.
REGISTRY_TOML = """
[models.smollm2-135m]
backend = "llama_cpp"
model = "bundled:smollm2-135m"
params = { temperature = 0.7, max_tokens = 256 }
options = { n_threads = 1 }

[models.smollm2-135m-hot]
backend = "llama_cpp"
model = "bundled:smollm2-135m"
params = { temperature = 2.0, max_tokens = 256 }
options = { n_threads = 1 }
description = "the released weights served with a much higher temperature"

[models.smollm2-135m-chat-exp]
backend = "llama_cpp"
model = "bundled:smollm2-135m"
system_prompt = "You are an extremely enthusiastic, friendly assistant! Use lots of emoji 🎉🚀✨😊."
params = { temperature = 0.7, max_tokens = 256 }
options = { n_threads = 1 }
"""
# The test budget: 6 prompts x 10 completions x 12 tokens per side (~700 tokens a side); its power, estimated
# on a separate sample of 20 completions per prompt, is about 0.93 against chat-exp and 0.97 against the hot variant.
OPTIONS = IdentityOptions(prompts=load_prompts(None, 6), samples=10, max_tokens=12, seed=0)


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    # Module fixtures run before conftest's per-test cache isolation: keep the weights-hash cache out of $HOME here.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GLASSBOARD_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))
        yield _run_reports()


def _run_reports() -> dict:
    released = replace(builtin_variants()[0], options=(("n_threads", 1),))
    hot = replace(released, name="smollm2-135m-hot", aliases=(), params=replace(released.params, temperature=2.0))
    registry = Registry([released, hot, replace(builtin_variants()[1], options=(("n_threads", 1),))])

    async def run() -> dict:
        cache: dict = {}  # the released model's side "a" is sampled once for the three comparisons
        async with ModelHub(registry) as hub:
            same = await audit_identity(hub, "smollm2-135m", "smollm2-135m", OPTIONS, cache=cache)
            chat = await audit_identity(hub, "smollm2-135m", "smollm2-135m-chat-exp", OPTIONS, cache=cache)
            hot = await audit_identity(hub, "smollm2-135m", "smollm2-135m-hot", OPTIONS, cache=cache)
        for report in (same, chat, hot):  # the typed report survives its JSON document
            assert IdentityReport.from_json(json.loads(json.dumps(report.to_json()))) == report
        return {"same": same.to_json(), "chat": chat.to_json(), "hot": hot.to_json(), "cache": cache}

    return asyncio.run(run())


def test_same_model_twice_is_same(reports: dict) -> None:
    report = reports["same"]
    assert report["verdict"] == "same", report["p_value"]
    assert report["p_value"] >= 0.05
    assert report["samples"] == 2 * 6 * 10
    sides = [texts for key, (texts, _) in reports["cache"].items() if key[0] == report["model_a"]["id"]]
    assert len(sides) == 2 and sides[0] != sides[1]  # two independent sample sets (different seeds per side)
    assert report["logprobs"]["available"] and report["logprobs"]["identical"]
    assert report["logprobs"]["mean_abs_delta"] == pytest.approx(0.0, abs=1e-4)


def test_chat_persona_is_different(reports: dict) -> None:
    report = reports["chat"]
    assert report["verdict"] == "different", report["p_value"]
    assert report["p_value"] < 0.05
    assert report["statistic"] > reports["same"]["statistic"]
    assert report["logprobs"]["available"] and not report["logprobs"]["identical"]
    assert report["logprobs"]["mean_abs_delta"] > 0.05
    for key in ("statistic", "p_value", "samples", "verdict", "within_a", "within_b", "across", "settings"):
        assert key in report
    assert report["settings"]["temperature_source"] == "each variant's own"


def test_same_weights_at_a_much_higher_temperature_is_different(reports: dict) -> None:
    report = reports["hot"]
    assert report["verdict"] == "different", report["p_value"]
    assert report["settings"]["temperature_a"] == 0.7 and report["settings"]["temperature_b"] == 2.0
    assert report["within_b"] < report["within_a"]  # a hot sampler's answers share fewer characters
    assert report["logprobs"]["mean_abs_delta"] > 0.1  # the same text is less likely under logits / 2


def test_cli_temperature_override_compares_weights_and_prompt_only(tmp_path: Path) -> None:
    """--temperature samples both sides alike, so the hot variant (same weights, same prompt) is then "same";
    at temperature 0 every draw is the greedy answer, which keeps this CLI check cheap."""
    config = tmp_path / "glassboard.toml"
    config.write_text(REGISTRY_TOML)
    out = tmp_path / "identity.json"
    common = ["--config", str(config), "--prompts", "3", "--samples", "2", "--max-tokens", "8", "--temperature", "0"]
    result = runner.invoke(app, ["audit", "identity", "smollm2-135m", "smollm2-135m-hot", *common, "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert "same" in result.output and "MMD" in result.output
    report = json.loads(out.read_text())
    assert report["verdict"] == "same" and report["p_value"] == 1.0 and report["statistic"] == 0.0
    assert report["settings"]["temperature_source"] == "command line"
    assert report["logprobs"]["identical"]  # both sides scored at T = 1 (greedy sides)
    for key in ("statistic", "p_value", "samples", "verdict"):
        assert key in report
    result = runner.invoke(app, ["audit", "identity", "smollm2-135m", "smollm2-135m-chat-exp", *common,
                                 "--json", str(out)])
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert report["verdict"] == "different" and report["within_a"] == report["within_b"] == 1.0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["smollm2-135m", "nope"], "unknown model 'nope'"),
        (["smollm2-135m", "smollm2-135m", "--samples", "1"], "--samples must be at least 2"),
        (["smollm2-135m", "smollm2-135m", "--prompt-file", "missing.txt"], "prompt file not found"),
        (["smollm2-135m", "smollm2-135m", "--prompts", "500"], "45 prompts, 500 were asked for"),
    ],
)
def test_identity_errors_are_one_red_line(args: list[str], message: str) -> None:
    result = runner.invoke(app, ["audit", "identity", *args])
    assert result.exit_code == 2
    assert message in result.output and "Traceback" not in result.output
