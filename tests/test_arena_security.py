"""Arena HTTP security over real HTTP: raw sockets against uvicorn on loopback (body and head caps, slowloris,
proxy headers, access log) and the in-process app (blind-test leaks, CSRF rules, bad JSON, error echoes, headers).
Each check is exercised through the fast lane (create, vote) and through FastAPI routes (turns, admin, pages)."""

from __future__ import annotations

import json
import logging
import os
import select
import socket
import stat
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy

from arena_fixtures import ArenaServer, arena_client, scripted_registry, settings_for, wait_status
from glassboard.arena.app import create_app
from glassboard.arena.integrity import ip_hash
from glassboard.arena.keys import KeyFileError
from glassboard.store.battles import Store

OK3 = {"alpha": "ok", "beta": "ok", "gamma": "ok"}
PUBLIC = ["/", "/leaderboard", "/transparency", "/api/leaderboard", "/api/transparency", "/api/openapi.json",
          "/static/arena.js", "/api/docs"]
NO_LIMITS = {"create_per_min_voter": 0, "create_per_min_ip": 0, "vote_per_min_voter": 0, "vote_per_min_ip": 0}


def sqlite_settings(tmp_path: Path, scripted_server, scenarios: dict[str, str] = OK3, **overrides):  # noqa: ANN001
    return settings_for(f"sqlite:///{tmp_path / 'arena.db'}", scripted_registry(scripted_server, scenarios),
                        **{**NO_LIMITS, **overrides})


@pytest.fixture
def server(tmp_path: Path, scripted_server) -> Iterator[ArenaServer]:  # noqa: ANN001
    settings = sqlite_settings(tmp_path, scripted_server, admin_token="admin-secret", header_timeout_s=1.0,
                              body_timeout_s=1.0)
    with ArenaServer(settings) as running:
        yield running


def send_until_answered(port: int, head: bytes, chunks: Iterator[bytes], max_bytes: int) -> tuple[bytes, int]:
    """Send `head`, then `chunks` while the server stays silent (up to `max_bytes`); (its answer, bytes sent)."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(head)
        sent = len(head)
        for chunk in chunks:
            if select.select([sock], [], [], 0.05)[0] or sent > max_bytes:
                break
            try:
                sock.sendall(chunk)
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += len(chunk)
        return read_answer(sock), sent


def read_answer(sock: socket.socket) -> bytes:
    sock.settimeout(30)
    answer = b""
    while True:
        try:
            data = sock.recv(65536)
        except ConnectionResetError:
            return answer
        if not data:
            return answer
        answer += data


def chunked(total: int, size: int = 65536) -> Iterator[bytes]:
    piece = b"%x\r\n" % size + b"x" * size + b"\r\n"
    for _ in range(total // size):
        yield piece


def post_head(path: str, extra: bytes = b"") -> bytes:
    return (b"POST " + path.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n" + extra + b"\r\n")


def create_battle(server: ArenaServer, client: httpx.Client) -> str:
    battle_id = client.post(f"{server.url}/api/battles", json={"prompt": "hello"}).json()["battle_id"]
    client.get(f"{server.url}/api/battles/{battle_id}/stream")
    return battle_id


def test_chunked_bodies_are_cut_at_the_cap_before_authentication(server: ArenaServer) -> None:
    with httpx.Client() as client:
        battle_id = create_battle(server, client)
    for path in ["/api/admin/variants", f"/api/battles/{battle_id}/turns", "/api/battles",
                 f"/api/battles/{battle_id}/vote"]:
        answer, sent = send_until_answered(server.port, post_head(path), chunked(200 << 20), 8 << 20)
        assert answer.startswith(b"HTTP/1.1 413"), (path, answer[:200])
        assert b"too large" in answer and b"connection: close" in answer.lower()
        assert sent < 2 << 20, (path, sent)  # answered a few chunks past the ~124 KB cap, not at 200 MB
    assert server.app.state.arena.store.variants()  # the server is still serving


def test_request_heads_are_capped_and_must_arrive_in_time(server: ArenaServer) -> None:
    for path in [b"/api/battles", b"/leaderboard"]:
        head = b"GET " + path + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: "
        answer, sent = send_until_answered(server.port, head, iter(lambda: b"a" * 65536, None), 64 << 20)
        assert answer.startswith(b"HTTP/1.1 431"), answer[:200]
        assert sent < 2 << 20
        # Many small headers add up the same way.
        many = b"".join(b"X-H%d: %s\r\n" % (i, b"v" * 100) for i in range(1000))
        answer, _ = send_until_answered(server.port, b"GET " + path + b" HTTP/1.1\r\nHost: x\r\n" + many + b"\r\n",
                                        iter(()), 0)
        assert answer.startswith(b"HTTP/1.1 431"), answer[:200]
    # Slowloris: one header line every 50 ms never completes the head; the server closes after header_timeout_s.
    lines = (b"X-Slow-%d: 1\r\n" % i for i in range(2000))
    answer, _ = send_until_answered(server.port, b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n", lines, 1 << 30)
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    with socket.create_connection(("127.0.0.1", server.port)) as idle:  # connected, never sends a byte
        assert read_answer(idle).startswith(b"HTTP/1.1 408")
    with httpx.Client() as client:  # normal requests still pass, on a keep-alive connection
        assert all(client.get(f"{server.url}{p}").status_code == 200 for p in ["/", "/leaderboard", "/"])


def test_request_bodies_must_arrive_in_time(server: ArenaServer) -> None:
    """A client that declares a body and trickles it (a byte every 50 ms) gets 408 after body_timeout_s and is
    disconnected, on the fast lane's route and on a FastAPI route alike."""
    for path in [b"/api/battles", b"/api/battles/" + b"x" * 24 + b"/turns"]:
        head = (b"POST " + path + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                b"Content-Length: 1000\r\n\r\n{")
        answer, sent = send_until_answered(server.port, head, iter(lambda: b" ", None), 1 << 20)
        assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
        assert sent < len(head) + 200  # ~20 bytes a second for one second, not the declared 1,000
    with httpx.Client() as client:  # a whole body sent at once is unaffected
        reply = client.post(f"{server.url}/api/battles", json={"prompt": "hello"})
        assert reply.status_code == 200, reply.text


def test_proxy_headers_are_ignored_unless_the_proxy_is_trusted(tmp_path: Path, scripted_server) -> None:
    forged = {"x-forwarded-for": "203.0.113.7", "x-forwarded-proto": "https"}
    for trusted, expected in [(None, "127.0.0.1"), ("127.0.0.1", "203.0.113.7")]:
        settings = sqlite_settings(tmp_path / str(trusted), scripted_server, forwarded_allow_ips=trusted)
        (tmp_path / str(trusted)).mkdir()
        with ArenaServer(settings) as running, httpx.Client(headers=forged) as client:
            battle_id = create_battle(running, client)
            st = running.app.state.arena
            assert st.store.battle(battle_id)["ip_hash"] == ip_hash(expected, st.ip_salt)


def test_access_log_names_no_client_address(tmp_path: Path, scripted_server, capsys) -> None:  # noqa: ANN001
    with ArenaServer(sqlite_settings(tmp_path, scripted_server), log_level="info") as running, httpx.Client() as client:
        assert client.get(f"{running.url}/api/leaderboard").status_code == 200
    logged = capsys.readouterr().out
    assert '"GET /api/leaderboard HTTP/1.1" 200' in logged
    assert "127.0.0.1" not in logged
    logging.getLogger("uvicorn.access").handlers.clear()


async def test_nothing_public_changes_while_a_battle_can_still_be_voted(tmp_path: Path, scripted_server) -> None:
    settings = sqlite_settings(tmp_path, scripted_server, {"alpha": "ok", "beta": "ok", "gamma": "status404x100000"},
                               max_turns=3)
    # Earlier votes, so the leaderboard, its category board and the selection summary have numbers to change.
    pairs = [("alpha", "beta"), ("beta", "gamma"), ("gamma", "alpha")] * 4
    earlier = [{"model_a": a, "model_b": b, "winner": ("model_a", "model_b", "tie")[i % 3], "category": ["coding"],
                "battle_id": f"earlier-{i}", "tstamp": 1.7e9 + i} for i, (a, b) in enumerate(pairs)]
    (tmp_path / "earlier.jsonl").write_text("".join(json.dumps(r) + "\n" for r in earlier))
    store = Store(settings.db_url)
    store.import_file(str(tmp_path / "earlier.jsonl"))
    store.close()
    async with arena_client(settings) as client:
        await client.battle("a first, voted battle")
        paths = [*PUBLIC, "/leaderboard?category=coding", "/api/leaderboard?category=coding"]

        async def public() -> dict[str, bytes]:
            return {path: (await client.http.get(path)).content for path in paths}

        before = await public()
        assert json.loads(before["/api/transparency"])["selection"]["providers"]  # computed, not a message
        assert json.loads(before["/api/leaderboard?category=coding"])["rows"]
        pending: list[str] = []
        for i in range(6):  # every pair of three variants, created (fast lane) and continued (FastAPI route)
            battle_id = await client.create(f"question {i}")
            pending.append(battle_id)
            await client.stream(battle_id)
            assert await public() == before, "a public page changed when a battle started"
            await client.http.post(f"/api/battles/{battle_id}/turns", json={"prompt": "and then?"})
            await client.stream(battle_id)
            assert await public() == before, "a public page changed when a battle continued"
        statuses = {await wait_status(client, b, {"ready", "failed"}) for b in pending}
        assert statuses == {"ready", "failed"}  # gamma fails: failed battles stay out of the counts for now
        ready = next(b for b in pending if client.state.store.battle(b)["status"] == "ready")
        assert (await client.vote(ready)).status_code == 200
        assert (await client.http.get("/api/transparency")).json()["battles"] == 2  # a vote is counted at once
    settings.public_delay_s = 0
    async with arena_client(settings) as client:  # failed battles count once public_delay_s has passed
        data = (await client.http.get("/api/transparency")).json()
        assert data["battles"] == 2 + sum(client.state.store.battle(b)["status"] == "failed" for b in pending)


async def test_state_changes_need_json_from_this_origin(tmp_path: Path, scripted_server) -> None:
    settings = sqlite_settings(tmp_path, scripted_server, public_origins=("https://arena.example",),
                               admin_token="admin-secret")
    async with arena_client(settings) as client:
        battle_id, _ = await client.battle()
        open_id = await client.create()
        await client.stream(open_id)
        requests = [("/api/battles", b'{"prompt":"X","pad":"="}'),  # what a text/plain form can send
                    (f"/api/battles/{open_id}/vote", b'{"winner":"model_a","pad":"="}'),
                    (f"/api/battles/{open_id}/turns", b'{"prompt":"X","pad":"="}'),
                    ("/api/admin/variants", b'{"name":"x","spec":{}}')]
        json_type = {"content-type": "application/json"}
        refused = [({"content-type": "text/plain"}, 415), ({"content-type": "application/x-www-form-urlencoded"}, 415),
                   ({"content-type": "multipart/form-data; boundary=x"}, 415), ({}, 415),
                   ({**json_type, "origin": "http://arena.test:8001"}, 403), ({**json_type, "origin": "null"}, 403),
                   ({**json_type, "origin": "http://evil.test"}, 403),
                   ({**json_type, "sec-fetch-site": "same-site"}, 403),
                   ({**json_type, "sec-fetch-site": "cross-site", "origin": "http://arena.test"}, 403)]
        for path, body in requests:
            for headers, status in refused:
                response = await client.http.post(path, content=body, headers=headers)
                assert response.status_code == status, (path, headers, response.text)
                assert response.json()["error"]
        assert client.state.store.battle(open_id)["status"] == "ready"
        assert len(list(client.state.store.voted())) == 1
        allowed = [{}, {"origin": "http://arena.test"}, {"origin": "http://arena.test:80"},
                   {"origin": "https://arena.example", "sec-fetch-site": "same-origin"}, {"sec-fetch-site": "none"}]
        for headers in allowed:
            response = await client.http.post("/api/battles", json={"prompt": "fine"}, headers=headers)
            assert response.status_code == 200, (headers, response.text)
        assert (await client.http.post(f"/api/battles/{open_id}/vote", json={"winner": "tie"},
                                       headers={"origin": "http://arena.test"})).status_code == 200
        retire = await client.http.post("/api/admin/variants/gamma/retire",
                                        headers={"authorization": "Bearer admin-secret"})
        assert retire.status_code == 200, retire.text  # no body: no content type needed


async def test_bad_json_and_text_get_short_clear_400s(tmp_path: Path, scripted_server) -> None:
    async with arena_client(sqlite_settings(tmp_path, scripted_server, admin_token="t")) as client:
        battle_id = await client.create()
        await client.stream(battle_id)
        deep = b'{"prompt": ' + b"[" * 1000 + b"]" * 1000 + b"}"
        for path in ["/api/battles", f"/api/battles/{battle_id}/vote", f"/api/battles/{battle_id}/turns",
                     "/api/admin/variants"]:
            response = await client.http.post(path, content=deep, headers={"content-type": "application/json",
                                                                           "authorization": "Bearer t"})
            assert response.status_code == 400 and "nested too deeply" in response.json()["error"], response.text
        for path in ["/api/battles", f"/api/battles/{battle_id}/turns"]:
            response = await client.http.post(path, content=b'{"prompt": "hi \\ud800 there"}',
                                              headers={"content-type": "application/json"})
            assert response.status_code == 400 and "surrogate" in response.json()["error"], response.text
        huge = "z" * 100_000
        for path, body in [(f"/api/battles/{battle_id}/vote", {"winner": huge}),
                           ("/api/battles", {"prompt": 5, huge: 1}),
                           ("/api/admin/variants", {"name": huge, "spec": {"backend": huge}})]:
            response = await client.http.post(path, json=body, headers={"authorization": "Bearer t"})
            assert response.status_code in (413, 422), (path, response.status_code)
            assert len(response.content) < 1000 and "zzzzzzzzzz" not in response.text, response.text[:300]
        assert client.state.store.battle(battle_id)["status"] == "ready"


async def test_security_headers_on_every_response(tmp_path: Path, scripted_server) -> None:
    async with arena_client(sqlite_settings(tmp_path, scripted_server, max_prompt_chars=100)) as client:
        battle_id = await client.create()
        responses = [await client.http.post("/api/battles", json={"prompt": "hi"}),  # fast lane JSON
                     await client.http.get(f"/api/battles/{battle_id}/stream"),  # fast lane SSE
                     await client.http.post("/api/battles", json={"prompt": "x" * 1000}),  # 413 by the rules
                     await client.http.post("/api/battles", json={"prompt": 1}),  # FastAPI 422
                     await client.http.post("/api/battles", content=b"x", headers={"content-type": "text/plain"}),
                     await client.http.get(f"/api/battles/{battle_id}")]
        responses += [await client.http.get(path, headers={"accept": "text/html"}) for path in [*PUBLIC, "/nothing"]]
        for response in responses:
            assert "script-src 'self'" in response.headers["content-security-policy"], response.url
            assert response.headers["x-content-type-options"] == "nosniff"
            assert response.headers["x-frame-options"] == "DENY" and response.headers["referrer-policy"]
        assert (await client.http.get("/api/docs")).status_code == 404  # no interactive docs, no CDN script
        assert (await client.http.get("/api/openapi.json")).json()["info"]["title"] == "glassboard arena"


async def test_secret_key_lives_in_a_private_file_outside_the_database(tmp_path: Path, scripted_server) -> None:
    settings = sqlite_settings(tmp_path, scripted_server, secret_key=None)
    async with arena_client(settings) as client:
        await client.battle()
        cookie = client.http.cookies["glassboard_voter"]
    key_file = tmp_path / "arena.db.secret"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    engine = sqlalchemy.create_engine(settings.db_url)
    with engine.connect() as conn:
        dump = " ".join(str(row) for table in ("meta", "battles") for row in conn.exec_driver_sql(
            f"SELECT * FROM {table}"))
    engine.dispose()
    key = key_file.read_text().strip()
    assert key not in dump and "cookie_secret" not in dump and "ip_salt" not in dump
    async with arena_client(settings) as client:  # a restart keeps the key: the voter is still the voter
        client.http.cookies.set("glassboard_voter", cookie)
        assert "set-cookie" not in (await client.http.get("/api/leaderboard")).headers
    os.chmod(key_file, 0o644)
    with pytest.raises(KeyFileError, match="arena.db.secret.*readable by other users"):
        create_app(settings)


def test_error_replies_are_json_without_tracebacks(server: ArenaServer) -> None:
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(b"POST /api/battles HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 10000000000\r\n\r\n")
        answer = read_answer(sock)
    assert answer.startswith(b"HTTP/1.1 413")
    body = json.loads(answer.split(b"\r\n\r\n", 1)[1])
    assert "too large" in body["error"] and "Traceback" not in body["error"]
