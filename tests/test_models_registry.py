"""Registry: variant ids change when, and only when, behaviour changes; clear errors on bad files."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from glassboard.models import ConfigError, Registry, SamplingParams, builtin_variants
from glassboard.models.registry import CHAT_EXP_SYSTEM_PROMPT


def test_builtin_registry_has_the_two_variants(registry: Registry) -> None:
    public, chat_exp = registry.get("smollm2-135m"), registry.get("smollm2-135m-chat-exp")
    assert public.public is True and chat_exp.public is False
    assert public.weights_identity() == chat_exp.weights_identity()
    assert public.weights_identity().startswith("sha256:") and len(public.weights_identity()) == 7 + 64
    assert public.id != chat_exp.id
    assert chat_exp.system_prompt == CHAT_EXP_SYSTEM_PROMPT
    assert registry.get("SMOLLM2") is public  # aliases, case-insensitive


def test_id_changes_only_with_behaviour() -> None:
    base = builtin_variants()[0]
    same = [
        dataclasses.replace(base, name="renamed"),
        dataclasses.replace(base, provider="someone else"),
        dataclasses.replace(base, public=False),
        dataclasses.replace(base, description="new words"),
        dataclasses.replace(base, aliases=("x",)),
        dataclasses.replace(base, retired="2026-12-01"),
        dataclasses.replace(base, options=(("n_threads", 1), ("timeout_s", 5))),
    ]
    for variant in same:
        assert variant.id == base.id, variant
    different = [
        dataclasses.replace(base, params=base.params.merged(temperature=0.2)),
        dataclasses.replace(base, params=base.params.merged(max_tokens=10)),
        dataclasses.replace(base, params=base.params.merged(seed=1)),
        dataclasses.replace(base, params=base.params.merged(top_p=0.9)),
        dataclasses.replace(base, params=base.params.merged(stop=("\n",))),
        dataclasses.replace(base, system_prompt="Be brief."),
        dataclasses.replace(base, options=(("n_ctx", 512),)),
    ]
    ids = {v.id for v in different}
    assert base.id not in ids and len(ids) == len(different)


def test_id_is_stable_across_processes() -> None:
    # The id is a pure function of behaviour: recomputing it gives the same string.
    assert builtin_variants()[0].id == builtin_variants()[0].id


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "glassboard.toml"
    path.write_text(text)
    return path


def test_registry_file_round_trip(tmp_path: Path) -> None:
    path = write(tmp_path, """
[models.vllm-llama]
backend = "openai"
model = "meta-llama/Llama-3.1-8B-Instruct"
base_url = "http://127.0.0.1:8000/v1"
hf_repo = "meta-llama/Llama-3.1-8B-Instruct"
hf_revision = "0e9e39f"
public = true
aliases = ["llama"]
added = 2026-11-01

[models.vllm-llama.params]
temperature = 0.0
max_tokens = 64
stop = ["</s>"]
""")
    registry = Registry.load(path)
    variant = registry.get("llama")
    assert variant.provider == "127.0.0.1"
    assert variant.params == SamplingParams(temperature=0.0, max_tokens=64, stop=("</s>",))
    assert variant.weights_identity() == "hf:meta-llama/Llama-3.1-8B-Instruct@0e9e39f"
    assert variant.added == "2026-11-01"
    text = path.read_text().replace("temperature = 0.0", "temperature = 0.1")
    assert Registry.load(write(tmp_path, text)).get("llama").id != variant.id


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[models.a]\nbackend = 'openai'\nmodel = 'x'\nbase_url = 'http://h/v1'\n[models.a.params]\n"
         "temperature = 'hot'\n", "line 6: field 'models.a.params'"),
        ("[models.a]\nbackend = 'llama_cpp'\nmodel = 'bundled:smollm2-135m'\nsytem_prompt = 'x'\n",
         "line 4: field 'models.a.sytem_prompt': unknown field"),
        ("[models.a]\nbackend = 'tgi'\nmodel = 'x'\n", "line 2: field 'models.a.backend'"),
        ("[models.a]\nbackend = 'openai'\nmodel = 'x'\n", "field 'models.a.base_url'"),
        ("[models.a\nbackend = 'openai'\n", "malformed TOML"),
        ("[models.a]\nbackend = 'openai'\nmodel = 'x'\nbase_url = 'http://h/v1'\npublic = 'yes'\n",
         "line 5: field 'models.a.public'"),
        ("[models.a]\nbackend = 'openai'\nmodel = 'x'\nbase_url = 'http://h/v1'\n[models.a.params]\n"
         "max_tokens = 1.5\n", "'max_tokens' must be an integer"),
    ],
)
def test_malformed_registry_names_file_line_field(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        Registry.load(path)
    assert str(path) in str(info.value)
    assert expected in str(info.value)


def test_unknown_model_lists_known(registry: Registry) -> None:
    with pytest.raises(ConfigError, match="unknown model 'gpt-9'.*smollm2-135m, smollm2-135m-chat-exp"):
        registry.get("gpt-9")


def test_missing_model_file(tmp_path: Path) -> None:
    path = write(tmp_path, "[models.a]\nbackend = 'llama_cpp'\nmodel = 'weights/missing.gguf'\n")
    variant = Registry.load(path).get("a")
    with pytest.raises(ConfigError, match=r"weights file not found: .*weights/missing.gguf"):
        _ = variant.id


def test_missing_registry_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="registry file not found"):
        Registry.load(tmp_path / "nope.toml")


@pytest.mark.parametrize(
    "bad",
    [{"temperature": "0.5"}, {"temperature": -1}, {"max_tokens": 0}, {"top_p": 2}, {"seed": "x"},
     {"stop": 3}, {"temprature": 1.0}],
)
def test_sampling_parameter_types(bad: dict) -> None:
    with pytest.raises(ConfigError):
        SamplingParams.from_mapping(bad)
