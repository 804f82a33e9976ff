"""Arena API tests against the real app (httpx ASGI transport) with scripted backends, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio

import pytest

from arena_fixtures import (  # noqa: F401 - fixtures
    arena_client,
    db_url_fixture,
    parse_sse,
    pg_database_fixture,
    scripted_registry,
    scripted_variant,
    settings_for,
)
from glassboard.models import Registry

OK3 = {"alpha": "ok", "beta": "ok", "gamma": "ok"}


async def test_battle_flow_stream_vote_reveal(db_url: str, scripted_server) -> None:
    registry = scripted_registry(scripted_server, {"alpha": "ok", "beta": "echo"})
    async with arena_client(settings_for(db_url, registry)) as client:
        response = await client.http.post("/api/battles", json={"prompt": "What is **6 x 7**?"})
        assert response.status_code == 200
        assert "glassboard_voter=" in response.headers["set-cookie"]
        assert "HttpOnly" in response.headers["set-cookie"]
        battle_id = response.json()["battle_id"]
        events = await client.stream(battle_id)
        names = [e for e, _ in events]
        assert names[0] == "start" and names[-1] == "end"
        assert {d["side"] for e, d in events if e == "chunk"} == {"a", "b"}
        done = {d["side"]: d["html"] for e, d in events if e == "done"}
        assert set(done) == {"a", "b"}
        assert "<p>The answer is 42.</p>\n" in done.values()
        assert "<strong>6 x 7</strong>" in "".join(done.values())  # the echo side, rendered as markdown
        text = " ".join(str(d) for _, d in events)
        assert "alpha" not in text and "beta" not in text and "ttft" not in text  # blind until the vote
        result = (await client.vote(battle_id, "model_b")).json()
        assert {result["model_a"], result["model_b"]} == {"alpha", "beta"} and result["flags"] == []
        stored = client.state.store.battle(battle_id)
        assert stored["status"] == "voted" and stored["winner"] == "model_b"
        assert stored["sampler"]["mode"] == "uniform" and stored["sampler"]["p_pair"] == 1.0
        assert stored["conv_metadata"]["sum_assistant_a_tokens"] > 0
        turns = client.state.store.turns(battle_id)
        assert all(t["ttft_s"] is not None and t["ttft_s"] >= 0 for t in turns)
        assert all(t["completion_tokens"] for t in turns)
        after = (await client.http.get(f"/api/battles/{battle_id}")).json()
        assert after["model_a"] == result["model_a"] and after["turns"][0]["a"]["ttft_s"] is not None
        replayed = await client.stream(battle_id)  # a finished battle replays from the store
        assert replayed[-1] == ("end", {"status": "voted"})
        assert stored["language"] is None  # "What is **6 x 7**?" is too short to name a language
        english, _ = await client.battle("Summarize the following text in three bullet points, please.")
        french, _ = await client.battle("Quelle est la capitale de la France ? Réponds en une phrase.")
        exported = {row["battle_id"]: row for row in client.state.store.voted()}
        assert exported[english]["language"] == "English" and exported[french]["language"] == "French"
        assert "language" not in exported[battle_id]  # unknown: left out, as the LMArena schema allows


async def test_multi_turn_each_side_sees_its_whole_conversation(db_url: str, scripted_server) -> None:
    registry = scripted_registry(scripted_server, {"alpha": "echo", "beta": "ok"})
    async with arena_client(settings_for(db_url, registry, max_turns=2)) as client:
        battle_id = await client.create("first question")
        await client.stream(battle_id)
        response = await client.http.post(f"/api/battles/{battle_id}/turns", json={"prompt": "second question"})
        assert response.status_code == 200 and response.json()["turn"] == 1
        events = await client.stream(battle_id)
        assert events[0] == ("start", {"turn": 1}) and events[-1] == ("end", {"status": "ready"})
        battle = client.state.store.battle(battle_id)
        echo_side = "a" if battle["model_a"] == "alpha" else "b"
        conversation = battle[f"conversation_{echo_side}"]
        assert [m["role"] for m in conversation] == ["user", "assistant", "user", "assistant"]
        assert conversation[3]["content"] == "second question"
        third = await client.http.post(f"/api/battles/{battle_id}/turns", json={"prompt": "third"})
        assert third.status_code == 409 and "2 turns" in third.json()["error"]
        assert (await client.vote(battle_id, "tie")).status_code == 200
        late = await client.http.post(f"/api/battles/{battle_id}/turns", json={"prompt": "after the vote"})
        assert late.status_code == 409  # the vote ends the battle
        assert len(client.state.store.turns(battle_id)) == 4


async def test_vote_refused_before_both_answers_finished(db_url: str, scripted_server) -> None:
    registry = scripted_registry(scripted_server, {"alpha": "ok", "beta": "hang"})
    async with arena_client(settings_for(db_url, registry)) as client:
        battle_id = await client.create()
        await asyncio.sleep(0.2)
        response = await client.vote(battle_id)
        assert response.status_code == 409 and "finished" in response.json()["error"]
        more = await client.http.post(f"/api/battles/{battle_id}/turns", json={"prompt": "more"})
        assert more.status_code == 409
        assert client.state.store.battle(battle_id)["status"] == "streaming"


async def test_model_error_fails_the_battle_and_nothing_is_scored(db_url: str, scripted_server) -> None:
    registry = scripted_registry(scripted_server, {"alpha": "ok", "beta": "status500x99"})
    async with arena_client(settings_for(db_url, registry)) as client:
        battle_id = await client.create()
        events = await client.stream(battle_id)
        errors = [d for e, d in events if e == "error"]
        assert errors and all("127.0.0.1" not in d["message"] for d in errors)  # no endpoint leaks
        assert events[-1][0] == "end" and events[-1][1]["status"] == "failed"
        stored = client.state.store.battle(battle_id)
        assert stored["status"] == "failed" and "HTTP 500" in stored["error"]
        response = await client.vote(battle_id)
        assert response.status_code == 409 and "failed" in response.json()["error"]
        assert (await client.stream(battle_id))[-1][1]["status"] == "failed"  # replay shows it as failed
        assert client.state.store.vote_count() == 0
        board = (await client.http.get("/api/leaderboard")).json()
        assert board["votes"] == 0 and board["rows"] == [] and board["message"]
        page = await client.http.get("/api/battles")  # wrong method: clear JSON error, server still serving
        assert page.status_code == 405 and page.json()["error"]
        assert (await client.http.get("/api/leaderboard")).status_code == 200


async def test_unknown_forged_replayed_and_foreign_battles_are_rejected(db_url: str, scripted_server) -> None:
    registry = scripted_registry(scripted_server, OK3)
    async with arena_client(settings_for(db_url, registry)) as client:
        battle_id, _ = await client.battle()
        replay = await client.vote(battle_id, "model_b")
        assert replay.status_code == 409 and "already" in replay.json()["error"]
        for bad in ("0" * 32, "x", "../../etc/passwd", battle_id[:-1] + ("A" if battle_id[-1] != "A" else "B")):
            response = await client.vote(bad)
            assert response.status_code == 404, bad
            assert (await client.http.get(f"/api/battles/{bad}/stream")).status_code == 404
        mine = await client.create()
        await client.stream(mine)
        async with client.other_voter() as stranger:
            response = await stranger.post(f"/api/battles/{mine}/vote", json={"winner": "model_a"})
            assert response.status_code == 403
            assert (await stranger.get(f"/api/battles/{mine}/stream")).status_code == 403
            assert (await stranger.post(f"/api/battles/{mine}/turns", json={"prompt": "x"})).status_code == 403
            # A forged cookie is not an identity: it is replaced by a fresh voter, who does not own the battle.
            forged = await stranger.post(f"/api/battles/{mine}/vote", json={"winner": "model_a"},
                                         headers={"cookie": "glassboard_voter=IkZPUkdFRCI.forged"})
            assert forged.status_code == 403 and "glassboard_voter=" in forged.headers["set-cookie"]
        bad_winner = await client.vote(mine, "model_c")
        assert bad_winner.status_code == 422 and "model_a, model_b" in bad_winner.json()["error"]
        assert "model_c" not in bad_winner.json()["error"]  # input is never echoed back
        assert (await client.vote(mine, "tie (bothbad)")).status_code == 200
        assert client.state.store.battle(mine)["winner"] == "tie (bothbad)"


async def test_concurrent_double_vote_counts_once(db_url: str, scripted_server) -> None:
    registry = scripted_registry(scripted_server, OK3)
    async with arena_client(settings_for(db_url, registry)) as client:
        battle_id = await client.create()
        await client.stream(battle_id)
        results = await asyncio.gather(*(client.vote(battle_id, w) for w in ("model_a", "model_b", "tie", "tie")))
        assert sorted(r.status_code for r in results) == [200, 409, 409, 409]
        assert client.state.store.vote_count() == 1


async def test_rate_limits_per_voter_and_per_ip(db_url: str, scripted_server) -> None:
    registry = scripted_registry(scripted_server, OK3)
    settings = settings_for(db_url, registry, create_per_min_voter=3, create_per_min_ip=5, vote_per_min_voter=2,
                            vote_per_min_ip=100)
    async with arena_client(settings) as client:
        ids = [await client.create() for _ in range(3)]
        limited = await client.http.post("/api/battles", json={"prompt": "again"})
        assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
        async with client.other_voter() as second:  # same IP as seen by the app? no: another address
            assert (await second.post("/api/battles", json={"prompt": "hi"})).status_code == 200
        # Per IP: fresh voters (no cookie) from one address share the IP bucket (5 per minute).
        statuses = []
        for _ in range(4):
            client.http.cookies.clear()
            statuses.append((await client.http.post("/api/battles", json={"prompt": "x"})).status_code)
        assert statuses == [200, 200, 429, 429]
    async with arena_client(settings) as client:
        ids = [await client.create() for _ in range(3)]
        for battle_id in ids:
            await client.stream(battle_id)
        assert (await client.vote(ids[0])).status_code == 200
        assert (await client.vote(ids[1])).status_code == 200
        third = await client.vote(ids[2])
        assert third.status_code == 429 and "votes" in third.json()["error"]
        assert client.state.store.battle(ids[2])["status"] == "ready"
        stored = client.state.store.battle(ids[0])
        assert stored["ip_hash"] and len(stored["ip_hash"]) == 32 and "127.0.0.1" not in str(stored)


async def test_rate_limits_can_be_turned_off(db_url: str, scripted_server) -> None:
    registry = scripted_registry(scripted_server, OK3)
    settings = settings_for(db_url, registry, create_per_min_voter=0, create_per_min_ip=0,
                            vote_per_min_voter=0, vote_per_min_ip=0)
    async with arena_client(settings) as client:
        for _ in range(40):
            await client.battle()
        assert client.state.store.vote_count() == 40


async def test_bad_prompts_and_routes(db_url: str, scripted_server) -> None:
    registry = scripted_registry(scripted_server, OK3)
    async with arena_client(settings_for(db_url, registry, max_prompt_chars=100)) as client:
        for body, status, words in [
            ({"prompt": ""}, 400, "empty"), ({"prompt": "   \n"}, 400, "empty"),
            ({"prompt": "x" * 101}, 413, "too long"), ({"prompt": 5}, 422, "prompt"), ({}, 422, "prompt"),
            ({"prompt": "a\x00b"}, 400, "NUL"),
        ]:
            response = await client.http.post("/api/battles", json=body)
            assert response.status_code == status, body
            assert words in response.json()["error"], response.json()
        huge = await client.http.post("/api/battles", content=b'{"prompt": "' + b"x" * 10_000 + b'"}',
                                      headers={"content-type": "application/json"})
        assert huge.status_code == 413
        not_json = await client.http.post("/api/battles", content=b"{oops",
                                          headers={"content-type": "application/json"})
        assert not_json.status_code == 422
        assert (await client.http.post("/api/battles", json={"prompt": "x" * 100})).status_code == 200
        api_404 = await client.http.get("/api/nothing/here")
        assert api_404.status_code == 404 and "Not found" in api_404.json()["error"]
        page_404 = await client.http.get("/nothing", headers={"accept": "text/html"})
        assert page_404.status_code == 404 and "Not found" in page_404.text and "<html" in page_404.text
        assert (await client.http.get("/")).status_code == 200


async def test_identity_guard_flags_answers_not_prompts(db_url: str, scripted_server) -> None:
    registry = Registry([
        scripted_variant(scripted_server, "alpha", "echo", aliases=("alpha-chat",), provider="Acme AI"),
        scripted_variant(scripted_server, "beta", "echo", provider="Globex"),
    ])
    async with arena_client(settings_for(db_url, registry)) as client:
        _, result = await client.battle("Hi! By the way, I was made by ACME ai, right?")
        assert result["flags"] == ["identity_revealed"]  # echoed into the answers: they claim a provider
        assert result["names_in_answers"] == ["Acme AI"]
        _, clean = await client.battle("alphabet soup and betamax tapes")  # no word-bounded name
        assert clean["flags"] == []
    registry_ok = Registry([scripted_variant(scripted_server, "alpha", "ok", provider="Acme AI"),
                            scripted_variant(scripted_server, "beta", "status500x0", provider="Globex")])
    async with arena_client(settings_for(db_url, registry_ok)) as client:
        _, prompt_only = await client.battle("Are you alpha or beta from Acme AI or Globex?")
        assert prompt_only["flags"] == []  # a prompt alone never flags
        board = (await client.http.get("/api/leaderboard")).json()
        assert board["votes"] == 3 and board["rated_votes"] == 2  # the flagged vote is kept but not rated


async def test_leaderboard_and_transparency(db_url: str, scripted_server) -> None:
    registry = scripted_registry(scripted_server, {"alpha": "ok", "beta": "echo", "gamma": "status500x0"})
    async with arena_client(settings_for(db_url, registry, create_per_min_voter=0, vote_per_min_voter=0)) as client:
        empty = (await client.http.get("/api/leaderboard")).json()
        assert empty["rows"] == [] and "Not enough votes" in empty["message"]
        page = await client.http.get("/leaderboard")
        assert page.status_code == 200 and "Not enough votes" in page.text and "NaN" not in page.text
        for i in range(12):
            await client.battle(f"question {i}", ("model_a", "model_b", "tie")[i % 3])
        board = (await client.http.get("/api/leaderboard")).json()
        assert board["votes"] == 12 and len(board["rows"]) == 3
        row = board["rows"][0]
        for key in ("model", "rating", "ci_low", "ci_high", "rank_ub", "votes"):
            assert key in row
        # Each variant's answers have one fixed style here, so style is collinear with model identity: the board
        # shows the raw view only and says why (docs/rating.md §3), never a made-up style-controlled interval.
        assert "style_rating" not in row and "rank_shift" not in row
        assert any("raw rating only" in w for w in board["warnings"]), board["warnings"]
        assert sum(r["votes"] for r in board["rows"]) == 24
        html = (await client.http.get("/leaderboard")).text
        assert 'id="ci-plot"' in html and "Rank (UB)" in html and "alpha" in html and "NaN" not in html
        data = (await client.http.get("/api/transparency")).json()
        assert data["battles"] == 12
        assert abs(sum(v["share"] for v in data["variants"]) - 2.0) < 1e-9
        assert abs(sum(p["share"] for p in data["providers"]) - 1.0) < 1e-9
        assert sum(v["votes"] for v in data["variants"]) == 24
        html = (await client.http.get("/transparency")).text
        assert "provider-gamma" in html and "public" in html


async def test_admin_add_retire_export(db_url: str, scripted_server, tmp_path) -> None:
    registry = scripted_registry(scripted_server, {"alpha": "ok", "beta": "ok"})
    settings = settings_for(db_url, registry, admin_token="s3cret", vote_per_min_voter=0, create_per_min_voter=0)
    async with arena_client(settings) as client:
        spec = {"backend": "openai", "model": "new", "base_url": scripted_server.base_url("echo"),
                "provider": "Initech", "public": False}
        assert (await client.http.post("/api/admin/variants", json={"name": "delta", "spec": spec})).status_code == 401
        wrong = await client.http.post("/api/admin/variants", json={"name": "delta", "spec": spec},
                                       headers={"authorization": "Bearer nope"})
        assert wrong.status_code == 401
        auth = {"authorization": "Bearer s3cret"}
        bad = await client.http.post("/api/admin/variants", json={"name": "eps", "spec": {"backend": "x"}},
                                     headers=auth)
        assert bad.status_code == 422 and "backend" in bad.json()["error"]
        added = await client.http.post("/api/admin/variants", json={"name": "delta", "spec": spec}, headers=auth)
        assert added.status_code == 200
        assert "delta" in {v.name for v in client.state.active_variants()}
        for name in ("alpha", "beta"):
            assert (await client.http.post(f"/api/admin/variants/{name}/retire", headers=auth)).status_code == 200
        assert (await client.http.post("/api/admin/variants/alpha/retire", headers=auth)).status_code == 404
        assert [v.name for v in client.state.active_variants()] == ["delta"]
        refused = await client.http.post("/api/battles", json={"prompt": "hi"})
        assert refused.status_code == 503 and "two active" in refused.json()["error"]
        data = (await client.http.get("/api/transparency")).json()
        rows = {v["name"]: v for v in data["variants"]}
        assert rows["alpha"]["retired"] and not rows["alpha"]["sampled"] and rows["delta"]["status"] == "unreleased"
        assert (await client.http.get("/api/admin/export")).status_code == 401
        export = await client.http.get("/api/admin/export?format=jsonl", headers=auth)
        assert export.status_code == 200 and export.text == ""
    # After a restart the admin-added variant is served again and the retirements hold.
    async with arena_client(settings) as client:
        assert [v.name for v in client.state.active_variants()] == ["delta"]
    no_admin = settings_for(db_url, registry)
    async with arena_client(no_admin) as client:
        response = await client.http.get("/api/admin/export", headers={"authorization": "Bearer s3cret"})
        assert response.status_code == 403 and "disabled" in response.json()["error"]


async def test_restart_fails_battles_left_streaming(db_url: str, scripted_server) -> None:
    registry = scripted_registry(scripted_server, {"alpha": "hang", "beta": "hang"})
    settings = settings_for(db_url, registry)
    async with arena_client(settings) as client:
        battle_id = await client.create()
        await asyncio.sleep(0.1)
    async with arena_client(settings) as client:
        assert client.state.store.battle(battle_id)["status"] == "failed"


def test_parse_sse_helper() -> None:
    assert parse_sse('event: end\ndata: {"status": "ready"}\n\n') == [("end", {"status": "ready"})]


pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


async def test_a_database_that_does_not_confirm_a_write_gets_a_clear_503(db_url: str, scripted_server) -> None:
    from glassboard.store.db import StoreError

    registry = Registry([scripted_variant(scripted_server, n, s) for n, s in OK3.items()])
    async with arena_client(settings_for(db_url, registry)) as client:
        ready = await client.create("first question")
        assert (await client.stream(ready))[-1] == ("end", {"status": "ready"})
        real_write = client.state.write

        async def lost_write(fn, *args):  # noqa: ANN001, ANN202 - stands in for ArenaState.write
            raise StoreError("the database writer process stopped (exit code -9); the write was not confirmed")

        client.state.write = lost_write
        try:
            created = await client.http.post("/api/battles", json={"prompt": "hello"})  # the fast lane
            turn = await client.http.post(f"/api/battles/{ready}/turns", json={"prompt": "more"})  # FastAPI
        finally:
            client.state.write = real_write
        for response in (created, turn):
            assert response.status_code == 503, response.text
            message = response.json()["error"]
            assert "did not confirm" in message and "exit code -9" in message and "Traceback" not in message
        assert (await client.vote(ready)).status_code == 200  # nothing was half-done: the battle is still votable
        real_read = client.state.read

        async def lost_read(fn, *args):  # noqa: ANN001, ANN202 - stands in for ArenaState.read
            raise StoreError("connection refused")

        client.state.read = lost_read
        try:
            replay = await client.http.get(f"/api/battles/{ready}/stream")  # a stored battle: read from the store
        finally:
            client.state.read = real_read
        assert replay.status_code == 503 and "connection refused" in replay.json()["error"]
        assert (await client.http.post("/api/battles", json={"prompt": "again"})).status_code == 200
