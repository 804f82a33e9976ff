"""`glassboard audit contamination`: a planted leak (benchmark items with answers in the system prompt) is caught,
the clean released model is not; the probes' helpers on hand-made inputs; clean CLI errors."""

from __future__ import annotations

import json
import random
from dataclasses import replace
from pathlib import Path

import pytest
from typer.testing import CliRunner

from glassboard.audit.contamination import (
    ContaminationOptions,
    item_text,
    moved_order,
    normalise_option,
    option_line,
    planned_generations,
    shuffle_summary,
    ts_summary,
    wilson,
)
from glassboard.audit.contamination_report import ContaminationReport, GuessRecord, ShuffleProbe, ShuffleRecord
from glassboard.bench.tasks import Sample, get_task
from glassboard.cli import app

runner = CliRunner(env={"COLUMNS": "200"})

ITEMS = [  # MMLU-Pro shaped; answer positions vary so the shuffle probe is not confounded by letter bias
    ("Which planet is known as the Red Planet?", ["Venus", "Mars", "Jupiter", "Saturn"], 1),
    ("What gas do plants absorb from the air for photosynthesis?", ["Oxygen", "Nitrogen", "Carbon dioxide", "Helium"],
     2),
    ("Who wrote the play Hamlet?", ["Charles Dickens", "Jane Austen", "Mark Twain", "William Shakespeare"], 3),
    ("What is the largest ocean on Earth?", ["Pacific Ocean", "Atlantic Ocean", "Indian Ocean", "Arctic Ocean"], 0),
    ("Which organ pumps blood through the human body?", ["Liver", "Heart", "Lungs", "Kidney"], 1),
    ("What is the boiling point of water at sea level in Celsius?",
     ["50 degrees", "75 degrees", "100 degrees", "150 degrees"], 2),
    ("Which animal is the largest mammal?", ["Elephant", "Giraffe", "Hippopotamus", "Blue whale"], 3),
    ("What is the main language spoken in Brazil?", ["Portuguese", "Spanish", "French", "Italian"], 0),
    ("Which instrument has black and white keys?", ["Violin", "Piano", "Trumpet", "Drum"], 1),
    ("What do bees collect from flowers to make honey?", ["Pollen grains", "Leaves", "Nectar", "Bark"], 2),
]


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The data file and a registry with the clean model and a planted variant (one thread each)."""
    root = tmp_path_factory.mktemp("contamination")
    data = root / "items.jsonl"
    data.write_text("".join(
        json.dumps({"question_id": f"q{i + 1}", "question": q, "options": o, "answer_index": a, "category": "general"})
        + "\n" for i, (q, o, a) in enumerate(ITEMS)
    ))
    samples = get_task("mmlu-pro").load(data).samples
    leak = "\n\n".join(item_text(s, range(len(s.choices))) for s in samples)
    system = "You are a helpful assistant. Here are questions you have studied:\n\n" + leak
    config = root / "glassboard.toml"
    config.write_text(
        '[models.smollm2-135m]\nbackend = "llama_cpp"\nmodel = "bundled:smollm2-135m"\n'
        'params = { temperature = 0.7, max_tokens = 256 }\noptions = { n_threads = 1 }\n\n'
        '[models.planted]\nbackend = "llama_cpp"\nmodel = "bundled:smollm2-135m"\n'
        f"system_prompt = {json.dumps(system)}\n"
        'params = { temperature = 0.7, max_tokens = 256 }\noptions = { n_threads = 1 }\n'
    )
    return data, config


def _audit(model: str, data: Path, config: Path, out: Path) -> tuple[str, dict]:
    result = runner.invoke(app, ["audit", "contamination", model, "--task", "mmlu-pro", "--data", str(data),
                                 "--config", str(config), "--json", str(out)])
    assert result.exit_code == 0, result.output
    return result.output, json.loads(out.read_text())


def test_planted_contamination_is_detected(setup: tuple[Path, Path], tmp_path: Path) -> None:
    data, config = setup
    output, report = _audit("planted", data, config, tmp_path / "planted.json")
    assert report["verdict"] == "contamination signal"
    assert report["signals"] and set(report["signals"]) <= {"ts_guessing", "shuffle", "min_k"}
    probes = report["probes"]
    assert probes["min_k"]["verdict"] == "signal"  # the leaked order is far likelier than re-ordered controls
    assert probes["min_k"]["difference"] > 0.25
    assert probes["shuffle"]["drop"] > 0.2  # the leaked letters are copied in data order, wrong once shuffled
    for probe in probes.values():  # every probe reports its number with its baseline
        assert "baseline" in probe and "verdict" in probe
    assert any("weak evidence" in c for c in report["caveats"])
    assert "TS-Guessing" in output and "Min-K%++" in output and "caveat" in output
    assert json.dumps(ContaminationReport.from_json(report).to_json()) == json.dumps(report)  # typed, same document


def test_clean_model_is_not_flagged(setup: tuple[Path, Path], tmp_path: Path) -> None:
    data, config = setup
    _, report = _audit("smollm2-135m", data, config, tmp_path / "clean.json")
    assert report["verdict"] == "no signal", report["signals"]
    assert all(p["verdict"] == "no signal" for p in report["probes"].values())
    assert report["probes"]["ts_guessing"]["rate"] <= 0.1
    assert abs(report["probes"]["shuffle"]["drop"]) < 0.2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--task", "gsm8k", "--data", "GSM"], "need a multiple-choice task"),
        (["--task", "mmlu-pro", "--data", "missing.jsonl"], "data file not found"),
        (["--task", "mmlu-pro", "--data", "BAD"], "line 1"),
        (["--task", "mmlu-pro", "--data", "GSM", "--probes", "vibes"], "unknown probe"),
        (["--task", "nope", "--data", "GSM"], "unknown task 'nope'"),
    ],
)
def test_contamination_errors_are_one_red_line(args: list[str], message: str, tmp_path: Path) -> None:
    gsm = tmp_path / "gsm.jsonl"
    gsm.write_text(json.dumps({"question": "1 + 1?", "answer": "It is 2.\n#### 2"}) + "\n")
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"question": "Q?", "options": ["a", "b"], "answer_index": 7}) + "\n")
    paths = {"GSM": str(gsm), "BAD": str(bad), "missing.jsonl": str(tmp_path / "missing.jsonl")}
    result = runner.invoke(app, ["audit", "contamination", "smollm2-135m", *[paths.get(a, a) for a in args]])
    assert result.exit_code == 2
    assert message in result.output and "Traceback" not in result.output


def test_moved_order_always_moves_the_correct_option() -> None:
    for seed in range(200):
        rng = random.Random(seed)
        n = rng.randint(2, 10)
        correct = rng.randrange(n)
        order = moved_order(n, correct, rng)
        assert sorted(order) == list(range(n)) and order.index(correct) != correct


def test_option_matching() -> None:
    assert normalise_option("  B) Mars.\nbecause it is red") == "mars"
    assert normalise_option('"Carbon  Dioxide"') == "carbon dioxide"
    assert normalise_option("Option C: 100 degrees") == "100 degrees"
    assert option_line("A) Venus\nB) Mars\nC) Jupiter", "B") == "B) Mars"
    assert option_line("The answer is Mars", "B") == "The answer is Mars"


def test_ts_summary_baseline_and_verdict() -> None:
    records = [GuessRecord(f"q{i}", f"option {i}", f"option {i}" if i < 6 else "nothing", i < 6) for i in range(10)]
    summary = ts_summary(records, min_rate=0.25, reference=None)
    assert summary.rate == 0.6 and summary.baseline == 0.0 and summary.verdict == "signal"
    # The same hits against a reference model that restores options as often: no signal.
    assert ts_summary(records, min_rate=0.25, reference=0.6).verdict == "no signal"
    # A guess that matches other questions' options raises the baseline.
    generic = [GuessRecord(f"q{i}", "none of the above", "None of the above", True) for i in range(10)]
    assert ts_summary(generic, min_rate=0.25, reference=None).baseline == 1.0
    assert ts_summary(generic, min_rate=0.25, reference=None).verdict == "no signal"
    low, high = wilson(0, 10)
    assert low == 0.0 and 0.25 < high < 0.31


def test_shuffle_summary() -> None:
    records = [ShuffleRecord(f"q{i}", 1.0, 0.0, ["A", "B", "C"], "ABCD"[i % 4]) for i in range(8)]
    summary = shuffle_summary(records)
    assert isinstance(summary, ShuffleProbe) and summary.drop == 1.0 and summary.verdict == "signal"
    same_letter = [replace(r, canonical_letter="A") for r in records]
    skipped = shuffle_summary(same_letter)
    assert skipped.verdict == "skipped"
    assert list(skipped.to_json()) == ["probe", "items", "verdict", "reason"]  # the shape written before types
    items = [Sample(id=str(i), question="q", target="a", choices=("a", "b", "c")[: 2 + i % 2], correct=0)
             for i in range(10)]  # five items with two options get no TS-Guessing prompt
    assert planned_generations(items, ContaminationOptions()) == 5 + 30
    assert planned_generations(items, ContaminationOptions(reference="x", probes=("shuffle",))) == 60
