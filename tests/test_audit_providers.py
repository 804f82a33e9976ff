"""`glassboard audit providers`: the released model, an identical second endpoint and a degraded one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from glassboard.audit.providers import ProvidersReport
from glassboard.cli import app

runner = CliRunner(env={"COLUMNS": "200"})

ITEMS = [
    ("Which planet is known as the Red Planet?", ["Venus", "Mars", "Jupiter", "Saturn"], 1),
    ("Who wrote the play Hamlet?", ["Charles Dickens", "Jane Austen", "Mark Twain", "William Shakespeare"], 3),
    ("What is the largest ocean on Earth?", ["Pacific Ocean", "Atlantic Ocean", "Indian Ocean", "Arctic Ocean"], 0),
    ("Which organ pumps blood through the human body?", ["Liver", "Heart", "Lungs", "Kidney"], 1),
    ("What is the main language spoken in Brazil?", ["Portuguese", "Spanish", "French", "Italian"], 0),
    ("Which instrument has black and white keys?", ["Violin", "Piano", "Trumpet", "Drum"], 1),
]
# Three endpoints serving the bundled weights: the reference, a faithful copy under another name, and one that
# cuts every answer after 4 tokens (a provider saving compute). One thread each: the test machine is shared.
REGISTRY = """
[models.smollm2-135m]
backend = "llama_cpp"
model = "bundled:smollm2-135m"
provider = "reference"
params = { temperature = 0.7, max_tokens = 32 }
options = { n_threads = 1 }

[models.provider-2]
backend = "llama_cpp"
model = "bundled:smollm2-135m"
provider = "provider two"
params = { temperature = 0.7, max_tokens = 32 }
options = { n_threads = 1 }

[models.degraded]
backend = "llama_cpp"
model = "bundled:smollm2-135m"
provider = "cheap provider"
params = { temperature = 0.7, max_tokens = 4 }
options = { n_threads = 1 }
"""


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    root = tmp_path_factory.mktemp("providers")
    data = root / "items.jsonl"
    data.write_text("".join(
        json.dumps({"question_id": f"q{i + 1}", "question": q, "options": o, "answer_index": a}) + "\n"
        for i, (q, o, a) in enumerate(ITEMS)
    ))
    config = root / "glassboard.toml"
    config.write_text(REGISTRY)
    return data, config, root


def test_degraded_provider_is_flagged_and_the_copy_is_not(files: tuple[Path, Path, Path]) -> None:
    data, config, root = files
    out = root / "providers.json"
    result = runner.invoke(app, [
        "audit", "providers", "smollm2-135m", "provider-2", "degraded", "--task", "mmlu-pro", "--data", str(data),
        "--config", str(config), "--log-dir", str(root / "runs"), "--identity-prompts", "5",
        "--identity-samples", "6", "--identity-max-tokens", "12", "--json", str(out),
    ])
    assert result.exit_code == 0, result.output
    assert "outlier" in result.output and "degraded" in result.output
    report = json.loads(out.read_text())
    assert report["reference"] == "smollm2-135m"
    assert report["flagged"] == ["degraded"]
    rows = {row["model"]: row for row in report["endpoints"]}
    for row in rows.values():  # accuracy with its interval for every endpoint
        assert row["n"] == len(ITEMS) and 0 <= row["accuracy"] <= 1 and row["ci_low"] <= row["ci_high"]
    assert rows["smollm2-135m"]["reference"] and not rows["smollm2-135m"]["flagged"]
    copy, bad = rows["provider-2"], rows["degraded"]
    assert not copy["flagged"] and copy["identity"]["verdict"] == "same"
    assert copy["vs_reference"]["diff"] == 0.0  # same weights, same seeds: the same answers
    assert bad["identity"]["verdict"] == "different"
    assert bad["identity"]["settings"]["max_tokens_b"] == 4  # the endpoint's own cap is part of what it serves
    assert bad["mean_completion_tokens"] <= 4 < copy["mean_completion_tokens"]
    assert any("identity" in reason for reason in bad["reasons"])
    assert Path(copy["log"]).is_file()  # the bench runner's log: a re-run resumes from it
    typed = ProvidersReport.from_json(report)  # the typed report writes back exactly the document it was read from
    assert json.dumps(typed.to_json()) == json.dumps(report)
    assert typed.endpoints[0].reference and typed.endpoints[0].vs_reference is None


@pytest.mark.parametrize(
    ("models", "message"),
    [
        (["smollm2-135m"], "at least two models"),
        (["smollm2-135m", "SMOLLM2-135M"], "each model may be given once"),
        (["smollm2-135m", "nope"], "unknown model 'nope'"),
    ],
)
def test_providers_errors_are_one_red_line(models: list[str], message: str, files: tuple[Path, Path, Path]) -> None:
    data, config, root = files
    result = runner.invoke(app, ["audit", "providers", *models, "--task", "mmlu-pro", "--data", str(data),
                                 "--config", str(config), "--log-dir", str(root / "err-runs")])
    assert result.exit_code == 2
    assert message in result.output and "Traceback" not in result.output
