"""`glassboard audit context`: effective length per threshold rule, provider truncation, exact token lengths, NoLiMa
needles, derived variants (`extends`) and bad input. Scripted endpoints count whitespace words as tokens."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from glassboard.audit.context import ContextOptions, audit_context, parse_threshold
from glassboard.audit.context_report import ContextReport
from glassboard.audit.context_tasks import LANDMARKS, NAMES, TASKS, content_words
from glassboard.audit.context_tokens import llama_counter
from glassboard.audit.haystack import PAD_WORDS, TokenCounts, build_prompt, prose_pool, vocabulary
from glassboard.cli import app
from glassboard.models import ConfigError, ModelHub, Registry
from glassboard.models.registry import parse_registry_file
from glassboard.models.scripted_server import ScriptedServer

runner = CliRunner(env={"COLUMNS": "200"})
LENGTHS = [1024, 2048, 4096, 8192]


def _registry(tmp_path: Path, server: ScriptedServer, scenario: str, extra: str = "") -> Path:
    path = tmp_path / "glassboard.toml"
    path.write_text(f'[models.endpoint]\nbackend = "openai"\nmodel = "m"\nbase_url = "{server.base_url(scenario)}"\n'
                    f'claimed_context = "8k"\n{extra}')
    return path


async def _audit(config: Path, tmp_path: Path, threshold: str, **kw: object) -> ContextReport:
    options = ContextOptions(lengths=LENGTHS, tasks=("niah_single",), samples=2, threshold=parse_threshold(threshold),
                             log_dir=tmp_path / "runs", **kw)
    async with ModelHub(parse_registry_file(config)) as hub:
        return await audit_context(hub, "endpoint", options)


@pytest.mark.parametrize(("threshold", "effective", "verdict"), [
    ("0.856", 2048, "falls short at 4096"),  # 1.0, 1.0, 0.6, 0.4: the first two clear RULER's bar
    ("relative:0.5", 4096, "falls short at 8192"),  # bar = 0.5 x 1.0 (the 1k score): 0.6 clears it, 0.4 does not
])
async def test_forgetting_endpoint_has_its_effective_length_at_the_right_grid_point(
        scripted_server: ScriptedServer, tmp_path: Path, threshold: str, effective: int, verdict: str) -> None:
    # The endpoint reads only the first 3000 tokens: a needle at depth d of an L-token prompt is found iff d*L < 3000.
    report = await _audit(_registry(tmp_path, scripted_server, "forget3000"), tmp_path, threshold)
    assert [row.accuracy for row in report.lengths] == [1.0, 1.0, 0.6, 0.4]
    assert report.effective_length == effective and report.verdict == verdict
    assert report.truncated_at is None and report.claimed_context == 8192 and report.caveats == []
    cell = next(c for c in report.cells if c.length == 4096 and c.depth == 0.75)
    assert cell.n == 2 and cell.accuracy == 0.0 and not cell.truncated
    # The conservative estimate uses the lower 95% bound, clustered by haystack (the 5 depths of a sample share
    # one): 2 perfect haystacks have a Wilson low of 0.34, which clears neither 0.856 nor 0.5.
    assert report.effective_length_conservative is None
    assert report.lengths[0].ci_low == pytest.approx(1 - 1.959964**2 / (2 + 1.959964**2), abs=1e-6)


async def test_silently_truncating_provider_is_reported_as_truncated_not_as_a_weak_model(
        scripted_server: ScriptedServer, tmp_path: Path) -> None:
    report = await _audit(_registry(tmp_path, scripted_server, "cut3000"), tmp_path, "0.856")
    assert report.verdict == "truncated by provider at 4096" and report.truncated_at == 4096
    assert report.effective_length == 2048
    long = [c for c in report.cells if c.length >= 4096]
    assert long and all(c.truncated and c.n == 0 and c.accuracy is None for c in long)
    log = [json.loads(line) for line in Path(report.log).read_text().splitlines()[1:]]
    cut = next(r for r in log if r["length"] == 8192)
    assert cut["prompt_tokens"] == 3000 and cut["sent_tokens"] == 8192 and cut["score"] is None


async def test_endpoint_without_usage_counts_gets_a_caveat(scripted_server: ScriptedServer, tmp_path: Path) -> None:
    report = await _audit(_registry(tmp_path, scripted_server, "forget3000-nousage"), tmp_path, "0.856")
    assert any("truncation cannot be detected" in c for c in report.caveats)
    assert report.effective_length == 2048


def test_cli_writes_json_and_heatmap_and_resumes(scripted_server: ScriptedServer, tmp_path: Path) -> None:
    config = _registry(tmp_path, scripted_server, "forget3000")
    args = ["audit", "context", "endpoint", "--lengths", "1k,4k", "--tasks", "niah_single,nolima", "--samples", "1",
            "--config", str(config), "--log-dir", str(tmp_path / "runs"), "--json", str(tmp_path / "r.json"),
            "--plot", str(tmp_path / "h.png")]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "falls short at 4096" in result.output
    report = json.loads((tmp_path / "r.json").read_text())
    assert {"model", "claimed_context", "effective_length", "effective_length_conservative", "threshold", "verdict",
            "cells"} <= set(report)
    assert set(report["cells"][0]) >= {"task", "length", "depth", "n", "accuracy", "ci_low", "ci_high", "truncated"}
    assert json.dumps(ContextReport.from_json(report).to_json()) == json.dumps(report)  # typed, the same document
    assert (tmp_path / "h.png").read_bytes()[:4] == b"\x89PNG"
    again = runner.invoke(app, [*args, "--format", "json"])
    assert again.exit_code == 0 and json.loads(again.stdout)["cells"] == report["cells"]
    log = Path(report["log"]).read_text().splitlines()
    assert sum('"type":"sample"' in line for line in log) == 20  # the second run asked nothing again


def test_nolima_needle_shares_no_content_word_with_its_question() -> None:
    for landmark, city in LANDMARKS:
        assert not content_words(landmark) & content_words(city)
    haystack = vocabulary()
    for seed in range(200):
        instance = TASKS["nolima"].make(random.Random(seed), 0.5, "prose")
        needle = instance.layout.inserts[0].text
        question = instance.layout.question
        assert instance.expected[0] in needle and instance.expected[0] not in question
        assert not content_words(needle) & content_words(question), (needle, question)
        assert not content_words(question) & haystack - {"has", "been"}
    assert not {n.lower() for n in NAMES} & haystack


@pytest.mark.parametrize("name", ["niah_single", "nolima"])
def test_shared_sweep_prompts_differ_only_in_the_question_and_each_asks_its_own_needle(model_path: Path,
                                                                                      name: str) -> None:
    count = llama_counter(model_path)
    counts, pool, depths = TokenCounts(count), prose_pool(), [0.0, 0.25, 0.5, 0.75, 1.0]
    task = TASKS[name]
    assert task.shared is not None
    for seed in range(20):
        instances = task.shared(random.Random(seed), depths, "prose")
        inserts = instances[0].layout.inserts
        assert [i.depth for i in inserts] == depths and all(x.layout.inserts == inserts for x in instances)
        assert len({i.text for i in inserts}) == len({x.expected for x in instances}) == len(depths)
        room = max(counts(x.layout.question) for x in instances)
        built = [build_prompt(x.layout, 2048, counts, random.Random(seed), pool=pool, verify=count,
                              room=room - counts(x.layout.question)) for x in instances]
        assert all(b.exact and b.tokens == 2048 for b in built)
        # Identical up to the question (and the one-token pads before it): the haystack is processed once.
        heads = {re.sub(f"(?:{'|'.join(PAD_WORDS)})*$", "", b.text[:b.text.index("\n\nQuestion:")]) for b in built}
        assert len(heads) == 1
        for instance, insert in zip(instances, inserts, strict=True):
            (answer,) = instance.expected
            assert answer in insert.text and sum(answer in i.text for i in inserts) == 1
            if name == "nolima":  # no word shared with its own needle; the other needles name other landmarks
                assert not content_words(insert.text) & content_words(instance.layout.question)
                assert all(not content_words(i.text) & content_words(instance.layout.question) for i in inserts)


async def test_shared_and_isolated_sweeps_agree_on_a_forgetting_endpoint(scripted_server: ScriptedServer,
                                                                         tmp_path: Path) -> None:
    config = _registry(tmp_path, scripted_server, "forget3000")
    shared = await _audit(config, tmp_path, "0.856", sweep="shared")
    isolated = await _audit(config, tmp_path, "0.856", sweep="isolated")
    assert shared.sweep == "shared" and isolated.sweep == "isolated"
    assert [r.accuracy for r in shared.lengths] == [r.accuracy for r in isolated.lengths] == [1.0, 1.0, 0.6, 0.4]
    assert shared.verdict == isolated.verdict == "falls short at 4096"
    # Two logs' worth of samples: the sweep is part of each sample's key, so neither run reused the other's answers.
    lines = Path(shared.log).read_text().splitlines()
    assert sum('"type":"sample"' in line for line in lines) == 2 * 4 * 5 * 2


def test_expected_answers_never_appear_outside_their_needles() -> None:
    for name, task in TASKS.items():
        instance = task.make(random.Random(3), 0.5, "prose")
        for expected in instance.expected:
            assert expected.lower() not in instance.layout.question.lower(), name
            assert expected.lower() not in instance.layout.instruction.lower(), name


def test_prompts_have_exactly_the_requested_llama_cpp_token_count(model_path: Path) -> None:
    count = llama_counter(model_path)
    counts, pool = TokenCounts(count), prose_pool()
    for name, task in TASKS.items():
        for length in (300, 1000, 4097):
            instance = task.make(random.Random(length), 0.25, "prose")
            built = build_prompt(instance.layout, length, counts, random.Random(1), pool=pool, verify=count)
            assert built.exact and built.tokens == length == count(built.text), name
            assert all(e in built.text for e in instance.expected)


SMALL_WINDOW = """
[models.small-window]
extends = "smollm2-135m"
options = { n_ctx = 512, n_threads = 1 }
params = { max_tokens = 16 }
"""


async def test_bundled_model_end_to_end_and_a_smaller_window_is_provider_truncation(tmp_path: Path) -> None:
    config = tmp_path / "glassboard.toml"
    config.write_text('include_builtin = true\n' + SMALL_WINDOW)
    options = ContextOptions(lengths=[256, 1024], depths=(0.5,), tasks=("niah_single",), samples=1,
                             log_dir=tmp_path / "runs", concurrency=1)
    async with ModelHub(parse_registry_file(config)) as hub:
        full = await audit_context(hub, "smollm2-135m", options)
        small = await audit_context(hub, "small-window", options)
    assert full.claimed_context == small.claimed_context == 8192
    assert full.measure.startswith("llama.cpp tokenizer") and full.template_tokens > 0
    log = [json.loads(line) for line in Path(full.log).read_text().splitlines()[1:]]
    # The length we built (our tokenizer + the measured chat template) is what llama.cpp itself counted.
    assert [(r["sent_tokens"], r["prompt_tokens"]) for r in log] == [(256, 256), (1024, 1024)]
    assert full.truncated_at is None and not full.verdict.startswith("truncated")
    assert small.verdict.startswith("truncated by provider at 1024") and small.truncated_at == 1024
    refused = [json.loads(line) for line in Path(small.log).read_text().splitlines()[1:]][-1]
    assert refused["truncated"] and refused["truncation"].startswith("refused")


def test_derived_variant_overrides_only_the_fields_given(tmp_path: Path) -> None:
    path = tmp_path / "glassboard.toml"
    path.write_text(SMALL_WINDOW + '\n[models.tiny-answers]\nextends = "small-window"\nparams = { temperature = 0.0 }\n'
                    'claimed_context = "4k"\naliases = ["tiny"]\n')
    registry = parse_registry_file(path)
    base = Registry.load(None).get("smollm2-135m")
    small, tiny = registry.get("small-window"), registry.get("tiny")
    assert small.model == base.model and small.hf_repo == base.hf_repo and small.aliases == ()
    assert dict(small.options) == {"n_ctx": 512, "n_threads": 1} and small.params.temperature == base.params.temperature
    assert small.params.max_tokens == 16 and small.claimed_context == 8192 and small.id != base.id
    assert tiny.params.max_tokens == 16 and tiny.params.temperature == 0.0 and tiny.claimed_context == 4096
    same = parse_registry_file(_write(tmp_path, '[models.x]\nextends = "smollm2-135m"\nclaimed_context = 100\n'))
    assert same.get("x").id == base.id  # a claim is not behaviour: same id


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "r.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(("text", "message"), [
    ('[models.x]\nextends = "nope"\n', "r.toml line 2: field 'models.x.extends': unknown model 'nope'"),
    ('[models.x]\nextends = "y"\n[models.y]\nextends = "x"\n', "circular extends: x -> y -> x"),
    ('[models.x]\nextends = 3\n', "field 'models.x.extends': must be the name of another model"),
    ('[models.x]\nextends = "smollm2"\nclaimed_context = "12q"\n', "models.x.claimed_context': bad context length"),
    ('[models.x]\nextends = "smollm2"\noptions = { n_cxt = 5 }\n', "unknown option 'n_cxt'"),
])
def test_derived_variant_errors_name_the_file_line_and_field(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(".", r"\.")):
        parse_registry_file(_write(tmp_path, text))


@pytest.mark.parametrize(("args", "message"), [
    (["--tasks", "niah_single,haystack_poem"], "unknown task 'haystack_poem'; known tasks: niah_single"),
    (["--claimed", "128q"], "--claimed: bad context length '128q'"),
    (["--lengths", "40"], "length 40 is below what task 'niah_single' can reach"),
    (["--lengths", "2M"], "length 2097152 is above the longest prompt"),
    (["--threshold", "1.5"], "bad threshold '1.5'"),
    (["--depths", "0,2"], "--depths: give fractions between 0 and 1"),
    (["--sweep", "diagonal"], "unknown sweep 'diagonal'; known: shared, isolated"),
])
def test_bad_input_is_one_clear_line(scripted_server: ScriptedServer, tmp_path: Path, args: list[str],
                                     message: str) -> None:
    config = _registry(tmp_path, scripted_server, "forget3000")
    result = runner.invoke(app, ["audit", "context", "endpoint", "--config", str(config),
                                 "--log-dir", str(tmp_path / "runs"), *args])
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split()) and "Traceback" not in result.output


def test_verdict_names_provider_truncation_first_and_a_model_that_fell_short_before_it() -> None:
    from glassboard.audit.context import summarize
    from glassboard.audit.context_record import ContextRecord

    def row(length: int, score: float | None, truncated: bool = False) -> ContextRecord:
        return ContextRecord(id=f"c{length}", epoch=1, prompt_hash="h", status="ok", task="niah_single",
                             length=length, depth=0.5, sample=0, sent_tokens=length, score=score, truncated=truncated)

    records = [row(512, 1.0), row(1024, 0.0), row(2048, None, truncated=True)]
    report = summarize(records, [512, 1024, 2048], 4096, parse_threshold("0.856"))
    assert report.verdict == "truncated by provider at 2048 (and falls short at 1024)"
    assert report.effective_length == 512 and report.truncated_at == 2048
    beyond = summarize(records, [512, 1024, 2048], 1024, parse_threshold("0.856"))
    assert beyond.verdict == "falls short at 1024"  # truncation beyond the claim does not decide the verdict
    failed = ContextRecord(id="c1024", epoch=1, prompt_hash="h", status="error", task="niah_single", length=1024,
                           depth=0.5, sample=0, sent_tokens=1024, error={"kind": "server", "message": "HTTP 500"})
    errors = summarize([row(512, 1.0), failed, row(2048, 1.0)], [512, 1024, 2048], 4096, parse_threshold("0.856"))
    # A length where nothing was scored is no evidence of a short context: no verdict past it.
    assert errors.verdict.startswith("not measured at 1024: every sample failed with an error")
    assert errors.effective_length == 512 and errors.errors == 1


async def test_llama_cpp_python_server_counts_with_its_tokenizer_and_its_window_is_provider_truncation(
        llama_server: str, tmp_path: Path) -> None:
    # llama-cpp-python's server: POST /extras/tokenize/count (adds BOS to every count), no usage in streams, and an
    # empty 200 stream for a prompt over its window (n_ctx 2048 in the fixture) that only a request without
    # streaming explains ("maximum context length").
    config = tmp_path / "glassboard.toml"
    config.write_text(f'[models.served]\nbackend = "openai"\nmodel = "smollm2-135m"\nbase_url = "{llama_server}"\n'
                      'claimed_context = "4k"\n')
    options = ContextOptions(lengths=[512, 4096], depths=(0.5,), tasks=("niah_single",), samples=1,
                             log_dir=tmp_path / "runs", concurrency=1)
    async with ModelHub(parse_registry_file(config)) as hub:
        report = await audit_context(hub, "served", options)
    assert report.measure == "the server's /extras/tokenize/count route"
    assert report.verdict == "truncated by provider at 4096" and report.truncated_at == 4096 and report.errors == 0
    assert any("no prompt token counts" in caveat for caveat in report.caveats)
    log = [json.loads(line) for line in Path(report.log).read_text().splitlines()[1:]]
    assert log[0]["sent_tokens"] == 512 and log[0]["score"] is not None
    assert log[1]["truncated"] and "maximum context length" in log[1]["truncation"]
