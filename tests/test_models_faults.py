"""Fault handling of the openai backend against a scripted loopback server: retries, then typed errors."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from glassboard.models import ModelError, ModelHub, Registry
from glassboard.models.registry import Variant
from glassboard.models.scripted_server import ScriptedServer, free_port


@pytest.fixture(scope="module")
def scripted_server() -> Iterator[ScriptedServer]:
    """This module's own server: its per-scenario request counts must not include other modules' requests."""
    with ScriptedServer() as server:
        yield server


def hub_for(base_url: str, **options: float) -> ModelHub:
    opts = {"retry_base_s": 0.01, "timeout_s": 2.0, "max_retries": 2, **options}
    variant = Variant(name="scripted", backend="openai", model="scripted", base_url=base_url,
                      options=tuple(sorted(opts.items())))
    return ModelHub(Registry([variant]))


def requests_seen(server: ScriptedServer, scenario: str) -> int:
    return httpx.get(f"http://127.0.0.1:{server.port}/stats").json().get(scenario, 0)


async def test_ok(scripted_server: ScriptedServer) -> None:
    async with hub_for(scripted_server.base_url("ok")) as hub:
        final = await hub.get("scripted").complete("hello")
    assert final.text == "The answer is 42." and final.completion_tokens == 4 and final.prompt_tokens == 10


@pytest.mark.parametrize(("status", "kind"), [(500, "server"), (503, "server"), (429, "rate_limit")])
async def test_retries_then_succeeds(scripted_server: ScriptedServer, status: int, kind: str) -> None:
    scenario = f"status{status}x2"
    async with hub_for(scripted_server.base_url(scenario)) as hub:
        final = await hub.get("scripted").complete("hello")
    assert final.text == "The answer is 42."
    assert requests_seen(scripted_server, scenario) == 3


@pytest.mark.parametrize(("status", "kind"), [(500, "server"), (429, "rate_limit")])
async def test_retries_exhausted_gives_typed_error(
    scripted_server: ScriptedServer, status: int, kind: str
) -> None:
    scenario = f"status{status}x99"
    async with hub_for(scripted_server.base_url(scenario)) as hub:
        with pytest.raises(ModelError) as info:
            await hub.get("scripted").complete("hello")
    assert info.value.kind == kind and info.value.status == status
    assert scripted_server.base_url(scenario) in str(info.value)
    assert requests_seen(scripted_server, scenario) == 3  # 1 try + 2 retries


@pytest.mark.parametrize(("status", "kind"), [(401, "refused"), (404, "not_found")])
async def test_client_errors_are_not_retried(scripted_server: ScriptedServer, status: int, kind: str) -> None:
    scenario = f"status{status}x99"
    async with hub_for(scripted_server.base_url(scenario)) as hub:
        with pytest.raises(ModelError) as info:
            await hub.get("scripted").complete("hello")
    assert info.value.kind == kind
    assert requests_seen(scripted_server, scenario) == 1


async def test_hang_times_out(scripted_server: ScriptedServer) -> None:
    async with hub_for(scripted_server.base_url("hang"), timeout_s=0.3, max_retries=1) as hub:
        with pytest.raises(ModelError) as info:
            await hub.get("scripted").complete("hello")
    assert info.value.kind == "timeout"
    assert requests_seen(scripted_server, "hang") == 2


async def test_truncated_stream(scripted_server: ScriptedServer) -> None:
    async with hub_for(scripted_server.base_url("truncate"), max_retries=1) as hub:
        model = hub.get("scripted")
        with pytest.raises(ModelError) as info:
            await model.complete("hello")
        assert info.value.kind == "truncated"
        # stream(): chunks were already shown, so it raises instead of silently restarting.
        seen = []
        with pytest.raises(ModelError, match="truncated"):
            async for event in model.stream("hello"):
                seen.append(event)
        assert seen == ["The ", "answer "]


async def test_invalid_json(scripted_server: ScriptedServer) -> None:
    async with hub_for(scripted_server.base_url("badjson")) as hub:
        with pytest.raises(ModelError) as info:
            await hub.get("scripted").complete("hello")
    assert info.value.kind == "bad_response"


async def test_empty_answer_is_an_error_not_a_result(scripted_server: ScriptedServer) -> None:
    async with hub_for(scripted_server.base_url("empty")) as hub:
        with pytest.raises(ModelError) as info:
            await hub.get("scripted").complete("hello")
    assert info.value.kind == "empty"


async def test_unreachable_endpoint_names_url() -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    async with hub_for(url, max_retries=1) as hub:
        with pytest.raises(ModelError) as info:
            await hub.get("scripted").complete("hello")
    assert info.value.kind == "connection"
    assert url in str(info.value)
