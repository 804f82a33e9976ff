"""Same-site CSRF in real Chromium: a page on another port of the same host auto-submits text/plain forms whose
body is valid JSON; the arena must store neither the battle nor the vote, while its own page keeps working."""

from __future__ import annotations

import html
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from playwright.sync_api import Browser

from arena_fixtures import ArenaServer, scripted_registry, settings_for


def attack_page(action: str, json_head: str) -> bytes:
    """A form whose text/plain body is `json_head` + `=` + `"}`: valid JSON the arena used to accept."""
    return (f'<!doctype html><form method="POST" enctype="text/plain" action="{html.escape(action)}">'
            f'<input name="{html.escape(json_head)}" value=\'"}}\'></form>'
            "<script>document.forms[0].submit()</script>").encode()


class AttackSite:
    """A loopback HTTP server on another port serving the page set in `body`."""

    def __init__(self) -> None:
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                self.send_response(200)
                self.send_header("content-type", "text/html")
                self.end_headers()
                self.wfile.write(site.body)

            def log_message(self, *args: object) -> None:
                pass

        self.body = b""
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def test_same_site_forms_cannot_create_or_vote(browser: Browser, scripted_server, tmp_path: Path) -> None:
    registry = scripted_registry(scripted_server, {"alpha": "ok", "beta": "ok"})
    attack = AttackSite()
    try:
        with ArenaServer(settings_for(f"sqlite:///{tmp_path / 'arena.db'}", registry)) as server:
            store = server.app.state.arena.store
            page = browser.new_page()
            page.goto(server.url)  # the victim has a voter cookie
            page.fill("#prompt", "my own question")
            page.click("#send")  # the arena's own page still works (same-origin fetch with Origin set)
            page.wait_for_selector("#vote:not([hidden])", timeout=30_000)
            [mine] = [row for row in store.voted(include_unvoted=True)]
            battle_id = mine["battle_id"]
            for action, json_head in [(f"{server.url}/api/battles", '{"prompt":"X","pad":"'),
                                      (f"{server.url}/api/battles/{battle_id}/vote", '{"winner":"model_b","pad":"')]:
                attack.body = attack_page(action, json_head)
                with page.expect_navigation(url=action):
                    page.goto(attack.url)
                assert page.evaluate("document.body.innerText").startswith('{"error"'), page.content()
            assert [b["battle_id"] for b in store.voted(include_unvoted=True)] == [battle_id]  # no battle added
            assert store.battle(battle_id)["status"] == "ready"  # and no vote cast
            page.goto(server.url)
            page.fill("#prompt", "another question")
            page.click("#send")
            page.wait_for_selector("#vote:not([hidden])", timeout=30_000)
            page.click("button[data-winner='model_a']")
            page.wait_for_selector("#reveal:not([hidden])")
            assert store.vote_count() == 1
            page.close()
    finally:
        attack.close()
