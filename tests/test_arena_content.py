"""Arena content security (issue 10): answer size caps, rendering off the loop, text the store cannot hold,
failed stores, `done` only once stored, the identity guard on rendered text, admin allow-lists, export pseudonyms."""

from __future__ import annotations

import json
import threading

import httpx
import pytest

from arena_fixtures import (  # noqa: F401 - fixtures
    ArenaServer,
    arena_client,
    db_url_fixture,
    parse_sse,
    pg_database_fixture,
    scripted_registry,
    settings_for,
)
from glassboard.arena.render import Renderer

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


# ------------------------------------------------------------------------------------------- item 3: answer size
@pytest.mark.parametrize("scenario", ["flood32x65536", "flood5000x4"])  # 2 MB in big chunks; 5,000 tiny chunks
async def test_an_answer_past_its_length_limit_is_cut_off_and_not_votable(db_url: str, scripted_server,
                                                                            scenario: str) -> None:
    registry = scripted_registry(scripted_server, {"alpha": scenario, "beta": "ok"})  # max_tokens=32
    async with arena_client(settings_for(db_url, registry)) as client:
        battle_id = await client.create()
        events = await client.stream(battle_id)
        errors = [d["message"] for e, d in events if e == "error"]
        assert any("length limit" in m for m in errors), events[-3:]
        assert events[-1][0] == "end" and events[-1][1]["status"] == "failed"
        for side in "ab":
            streamed = sum(len(d["text"].encode()) for e, d in events if e == "chunk" and d["side"] == side)
            assert streamed <= client.state.settings.max_answer_bytes
        battle = client.state.store.battle(battle_id)
        assert battle["status"] == "failed" and "answer_limit" in battle["error"]
        turns = client.state.store.turns(battle_id)
        assert max(len((t["answer"] or "").encode()) for t in turns) <= 256 * 1024
        response = await client.vote(battle_id)
        assert response.status_code == 409 and "failed" in response.json()["error"]


async def test_answer_limits_are_settings_with_checked_values(db_url: str, scripted_server) -> None:
    from glassboard.models.types import ConfigError

    registry = scripted_registry(scripted_server, {"alpha": "flood4x2000", "beta": "ok"})
    async with arena_client(settings_for(db_url, registry, max_answer_bytes=4096)) as client:
        events = await client.stream(await client.create())
        assert events[-1][1]["status"] == "failed"  # 8,000 bytes > 4,096
    async with arena_client(settings_for(db_url, registry, max_answer_bytes=10_000)) as client:
        events = await client.stream(await client.create())
        assert events[-1] == ("end", {"status": "ready"})  # the same answer fits a larger cap
    for bad in ({"max_answer_bytes": 10}, {"answer_token_margin": 0.5}):
        with pytest.raises(ConfigError, match=next(iter(bad))):
            settings_for(db_url, registry, **bad).check()


async def test_long_answers_are_rendered_off_the_event_loop(db_url: str, scripted_server, monkeypatch) -> None:
    threads: list[str] = []
    real_call = Renderer.__call__

    def recording(self: Renderer, text: str) -> str:
        if len(text or "") > 5000:
            threads.append(threading.current_thread().name)
        return real_call(self, text)

    monkeypatch.setattr(Renderer, "__call__", recording)
    registry = scripted_registry(scripted_server, {"alpha": "flood2x4000", "beta": "flood2x4000"})
    async with arena_client(settings_for(db_url, registry)) as client:
        battle_id = await client.create()
        assert (await client.stream(battle_id))[-1] == ("end", {"status": "ready"})  # live `done` events
        assert len(threads) == 2
        assert (await client.stream(battle_id))[-1] == ("end", {"status": "ready"})  # replayed from the store
        assert len(threads) == 4
        page = (await client.http.get(f"/api/battles/{battle_id}")).json()  # GET /api/battles/{id}
        assert page["turns"][0]["a"]["html"].startswith("<p>xxx")
    assert len(threads) == 6
    assert all(name.startswith("render") for name in threads), threads


# ----------------------------------------------------------------------------- item 7: text the store cannot hold
async def test_a_lone_surrogate_is_replaced_and_the_battle_finishes(db_url: str, scripted_server) -> None:
    registry = scripted_registry(scripted_server, {"alpha": "surrogate", "beta": "ok"})
    async with arena_client(settings_for(db_url, registry)) as client:
        battle_id = await client.create()
        events = await client.stream(battle_id)
        assert events[-1] == ("end", {"status": "ready"}), events
        battle = client.state.store.battle(battle_id)
        side = "a" if battle["model_a"] == "alpha" else "b"
        assert battle[f"conversation_{side}"][-1]["content"] == "Hello \ufffd world"
        assert (await client.vote(battle_id)).status_code == 200


async def test_a_turn_that_cannot_be_stored_ends_the_battle_failed(db_url: str, scripted_server) -> None:
    from glassboard.store.db import StoreError

    registry = scripted_registry(scripted_server, {"alpha": "ok", "beta": "ok"})
    async with arena_client(settings_for(db_url, registry)) as client:
        real_write = client.state.write

        async def refusing_write(fn, *args):  # noqa: ANN001, ANN202 - stands in for ArenaState.write
            if fn.__name__ == "finish_turn":
                raise StoreError("the database refused the answers")
            return await real_write(fn, *args)

        client.state.write = refusing_write
        battle_id = await client.create()
        events = await client.stream(battle_id)
        assert [e for e, _ in events if e == "done"] == []  # nothing was stored, so nothing is votable
        assert events[-1] == ("end", {"status": "failed", "message": "The answers could not be stored."})
        battle = client.state.store.battle(battle_id)
        assert battle["status"] == "failed" and "could not be stored" in battle["error"]
        assert all("could not be stored" in t["error"] for t in client.state.store.turns(battle_id))
        response = await client.vote(battle_id)
        assert response.status_code == 409 and "failed" in response.json()["error"]


# ----------------------------------------------------------------------------- item 8: `done` x2 means votable
async def test_vote_sent_on_the_second_done_is_never_refused(db_url: str, scripted_server) -> None:
    registry = scripted_registry(scripted_server, {"alpha": "ok", "beta": "echo", "gamma": "ok"})
    settings = settings_for(db_url, registry, create_per_min_voter=0, create_per_min_ip=0, vote_per_min_voter=0,
                            vote_per_min_ip=0)
    with ArenaServer(settings) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            statuses = []
            for i in range(40):
                battle_id = (await http.post("/api/battles", json={"prompt": f"question {i}"})).json()["battle_id"]
                done = 0
                async with http.stream("GET", f"/api/battles/{battle_id}/stream") as events:
                    async for line in events.aiter_lines():
                        if line == "event: done":
                            done += 1
                        if done == 2:
                            vote = await http.post(f"/api/battles/{battle_id}/vote", json={"winner": "tie"})
                            statuses.append((vote.status_code, vote.text))
                            break
            assert len(statuses) == 40
            assert {code for code, _ in statuses} == {200}, [s for s in statuses if s[0] != 200][:3]


# ---------------------------------------------------------------------------------- item 5: the identity guard
def _guard(*extra_files: str):
    from glassboard.arena.guard import IdentityGuard, load_identity_terms
    from glassboard.models import Variant

    alpha = Variant(name="alpha-7b", backend="openai", model="a", base_url="http://127.0.0.1:9/v1",
                    provider="Acme AI", aliases=("alpha-chat",))
    return IdentityGuard.from_variants([alpha], terms=load_identity_terms(extra_files))


@pytest.mark.parametrize("answer", [
    "I am alpha-7b.", "alpha\\-7b", "**alpha**-7b", "alpha\u20117b", "alpha\u00ad-7b", "alpha\u200b-7b",
    "[alpha](https://example.com)-7b", "ALPHA\u20137B", "ａｌｐｈａ-7b", "alpha&shy;-7b", "alpha\u2060-7b",
    "`alpha-7b`", "```\nalpha-7b\n```", "[see](https://alpha-7b.example.com)", "al\u200dpha\u00a07b",
])
def test_identity_guard_sees_what_the_voter_sees(answer: str) -> None:
    assert _guard().find(answer) == ["alpha-7b"], answer


@pytest.mark.parametrize(("answer", "term"), [
    ("As GPT-4, made by OpenAI, I can help.", "GPT"), ("I'm Claude, an AI assistant.", "Claude"),
    ("I am a large language model trained by OpenAI.", "OpenAI"), ("I\u2019m ChatGPT.", "ChatGPT"),
    ("You are talking to Gemini.", "Gemini"), ("I'm an AI assistant from Anthropic.", "Anthropic"),
    ("My creators at Google DeepMind say hi.", "Google DeepMind"), ("I was created by **Acme AI**.", "Acme AI"),
    ("My name is Qwen\u200b2.5.", "Qwen"), ("I am Llama 3, made by Meta.", "Llama"),
])
def test_identity_guard_catches_self_identification_of_families_and_vendors(answer: str, term: str) -> None:
    assert term in _guard().find(answer), answer


@pytest.mark.parametrize("answer", [
    "Search it on Google.", "Meta released Llama 3 last year.", "I am using Google Chrome.",
    "As the Llama paper shows, scale helps.", "I am sure that Android was developed by Google.",
    "OpenAI and Anthropic both publish model cards.", "Acme AI is a company in the cartoons.",
    "The alphabet has 26 letters; alpha-7bx is not a word.", "Claude Monet painted water lilies.",
])
def test_identity_guard_leaves_ordinary_text_alone(answer: str) -> None:
    assert _guard().find(answer) == [], answer


def test_operators_extend_the_family_and_vendor_list(tmp_path) -> None:  # noqa: ANN001 - pytest fixture
    from glassboard.models.types import ConfigError

    extra = tmp_path / "terms.toml"
    extra.write_text('families = ["Wombat"]\nvendors = ["Initech"]\n')
    assert _guard().find("I am Wombat. I was trained by Initech.") == []
    assert _guard(str(extra)).find("I am Wombat. I was trained by Initech.") == ["Wombat", "Initech"]
    bad = tmp_path / "bad.toml"
    bad.write_text('families = "Wombat"\n')
    with pytest.raises(ConfigError, match="bad.toml.*families"):
        _guard(str(bad))
    with pytest.raises(ConfigError, match="not found"):
        _guard(str(tmp_path / "missing.toml"))


async def test_an_evasive_answer_is_flagged_over_http(db_url: str, scripted_server, tmp_path) -> None:
    from arena_fixtures import scripted_variant
    from glassboard.models import Registry

    extra = tmp_path / "terms.toml"
    extra.write_text('vendors = ["Initech"]\n')
    registry = Registry([scripted_variant(scripted_server, "alpha-7b", "echo"),
                         scripted_variant(scripted_server, "beta", "echo")])
    async with arena_client(settings_for(db_url, registry, identity_terms=(str(extra),))) as client:
        _, result = await client.battle("Hello, I am **alpha**\u200b-7b")
        assert result["flags"] == ["identity_revealed"] and result["names_in_answers"] == ["alpha-7b"]
        _, vendor = await client.battle("I was trained by Initech.")
        assert vendor["names_in_answers"] == ["Initech"]
        _, clean = await client.battle("Search it on Google, or ask Initech support.")
        assert clean["flags"] == []


# ------------------------------------------------------------------------------ item 6: admin API allow-lists
AUTH = {"authorization": "Bearer s3cret"}


async def _add(client, name: str, **spec) -> httpx.Response:  # noqa: ANN001 - ArenaClient
    return await client.http.post("/api/admin/variants", json={"name": name, "spec": spec}, headers=AUTH)


async def test_admin_variants_may_only_name_allowed_key_variables(db_url: str, scripted_server) -> None:
    registry = scripted_registry(scripted_server, {"alpha": "ok", "beta": "ok"})
    settings = settings_for(db_url, registry, admin_token="s3cret", admin_key_envs=("VLLM_TOKEN",))
    url = scripted_server.base_url("ok")
    async with arena_client(settings) as client:
        for env in ("DB_PASSWORD", "GLASSBOARD_SECRET", "GLASSBOARD_ADMIN_TOKEN", "HOME"):
            refused = await _add(client, "delta", backend="openai", model="m", base_url=url, api_key_env=env)
            assert refused.status_code == 422, env
            assert "api_key_env" in refused.json()["error"] and "GLASSBOARD_KEY_" in refused.json()["error"]
        assert (await _add(client, "delta", backend="openai", model="m", base_url=url,
                           api_key_env="GLASSBOARD_KEY_DELTA")).status_code == 200
        assert (await _add(client, "eps", backend="openai", model="m", base_url=url,
                           api_key_env="VLLM_TOKEN")).status_code == 200


@pytest.mark.parametrize("url", [
    "http://169.254.169.254/latest/meta-data/", "http://2852039166/v1", "http://0xa9fea9fe/v1",
    "http://[fe80::1]/v1", "http://[::ffff:169.254.169.254]/v1", "http://100.100.100.200/v1",
    "http://[fd00:ec2::254]/v1", "http://0.0.0.0:8000/v1", "http://user:pw@127.0.0.1:9/v1",
])
async def test_admin_variants_may_not_reach_metadata_or_carry_credentials(tmp_path, scripted_server,
                                                                          url: str) -> None:
    registry = scripted_registry(scripted_server, {"alpha": "ok", "beta": "ok"})
    db_url = f"sqlite:///{tmp_path / 'arena.db'}"
    async with arena_client(settings_for(db_url, registry, admin_token="s3cret")) as client:
        refused = await _add(client, "delta", backend="openai", model="m", base_url=url)
        assert refused.status_code == 422 and "base_url" in refused.json()["error"], refused.text
        assert "--allow-private-endpoints" in refused.json()["error"]
        assert "delta" not in {v.name for v in client.state.active_variants()}
    async with arena_client(settings_for(db_url, registry, admin_token="s3cret",
                                         allow_private_endpoints=True)) as client:
        assert (await _add(client, "delta", backend="openai", model="m", base_url=url)).status_code == 200


async def test_admin_variants_on_loopback_by_name_are_allowed(db_url: str, scripted_server) -> None:
    registry = scripted_registry(scripted_server, {"alpha": "ok", "beta": "ok"})
    async with arena_client(settings_for(db_url, registry, admin_token="s3cret")) as client:
        url = f"http://localhost:{scripted_server.port}/ok/v1"
        assert (await _add(client, "delta", backend="openai", model="m", base_url=url)).status_code == 200


async def test_admin_weights_only_from_the_models_directory(tmp_path, scripted_server) -> None:
    registry = scripted_registry(scripted_server, {"alpha": "ok", "beta": "ok"})
    models = tmp_path / "models"
    models.mkdir()
    (models / "tiny.gguf").write_bytes(b"GGUF not really")
    secret = tmp_path / "secret.gguf"
    secret.write_bytes(b"outside")
    (models / "escape.gguf").symlink_to(secret)
    db_url = f"sqlite:///{tmp_path / 'arena.db'}"
    for models_dir in (None, str(models)):
        settings = settings_for(db_url, registry, admin_token="s3cret", models_dir=models_dir)
        async with arena_client(settings) as client:
            messages = set()
            for path in (str(secret), str(tmp_path / "missing.gguf"), "/etc/passwd", "../secret.gguf",
                         "escape.gguf"):
                refused = await _add(client, "delta", backend="llama_cpp", model=path)
                assert refused.status_code == 422, path
                messages.add(refused.json()["error"])
            assert len(messages) == 1 and "models directory" in messages.pop()  # exists or not: one answer
    async with arena_client(settings) as client:
        added = await _add(client, "delta", backend="llama_cpp", model="tiny.gguf")
        assert added.status_code == 200, added.text
        missing = await _add(client, "eps", backend="llama_cpp", model="nope.gguf")
        assert missing.status_code == 422 and "not found" in missing.json()["error"]  # inside: may say so
    async with arena_client(settings_for(db_url, registry, admin_token="s3cret")) as client:
        # Restarted without --models-dir: the stored variant no longer passes, so it is not served.
        assert "delta" not in {v.name for v in client.state.active_variants()}


# ------------------------------------------------------------------------ item 7: per-export voter pseudonyms
async def test_export_voter_pseudonyms_link_within_an_export_not_across(db_url: str, scripted_server,
                                                                         tmp_path) -> None:
    registry = scripted_registry(scripted_server, {"alpha": "ok", "beta": "ok"})
    async with arena_client(settings_for(db_url, registry, admin_token="s3cret")) as client:
        first, _ = await client.battle("one")
        second, _ = await client.battle("two")
        async with client.other_voter() as other:
            battle_id = (await other.post("/api/battles", json={"prompt": "three"})).json()["battle_id"]
            await other.get(f"/api/battles/{battle_id}/stream")
            assert (await other.post(f"/api/battles/{battle_id}/vote", json={"winner": "tie"})).status_code == 200
        stored = {battle_id: client.state.store.battle(battle_id)["voter"] for battle_id in (first, second)}
        exports = []
        for _ in range(2):
            response = await client.http.get("/api/admin/export?format=jsonl", headers=AUTH)
            assert response.status_code == 200
            exports.append({row["battle_id"]: row["voter"] for row in map(json.loads, response.text.splitlines())})
        client.state.store.export(str(tmp_path / "third.jsonl"))
        rows = [json.loads(line) for line in (tmp_path / "third.jsonl").read_text().splitlines()]
        exports.append({row["battle_id"]: row["voter"] for row in rows})
    for export in exports:
        assert export[first] == export[second] != export[battle_id]  # linkable within one export
        assert not set(export.values()) & set(stored.values())  # never the stored pseudonym
    assert len({export[first] for export in exports}) == 3  # not linkable across exports


def test_serve_flags_reach_the_settings_with_clear_errors(tmp_path) -> None:  # noqa: ANN001 - pytest fixture
    from typer.testing import CliRunner

    from glassboard.cli import app

    db = f"sqlite:///{tmp_path}/x.db"
    for args, message in [
        (["--identity-terms", str(tmp_path / "nope.toml")], "identity terms file not found"),
        (["--max-answer-bytes", "10"], "max_answer_bytes must be at least 1024"),
        (["--answer-token-margin", "0.5"], "answer_token_margin must be at least 1"),
    ]:
        result = CliRunner().invoke(app, ["serve", "--db", db, *args])
        assert result.exit_code != 0 and message in result.output, result.output
        assert "Traceback" not in result.output
