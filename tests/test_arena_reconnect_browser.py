"""The page's stream reconnect (arena.js, Last-Event-ID) in real Chromium: a loopback TCP proxy of the test's own
between the page and the arena cuts the battle's event stream once, mid-answer; the answer completes with no lost
or repeated text."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser

from arena_fixtures import ArenaServer, scripted_registry, settings_for
from glassboard.models.scripted_server import ScriptedServer, free_port
from test_arena_scaleout import LONG_ANSWER

# Every EventSource the page opens reports its chunk events (id and text) to window.__chunks.
RECORD_CHUNKS = """
window.__chunks = [];
const Original = window.EventSource;
window.EventSource = class extends Original {
  constructor(url, options) {
    super(url, options);
    this.addEventListener("chunk", (e) => window.__chunks.push([e.lastEventId, JSON.parse(e.data)]));
  }
};
"""


class CuttingProxy:
    """Forwards loopback TCP connections to `upstream`; the first response that carries `cut_after` chunk events of
    a battle stream is cut there (both sockets closed). Records each stream request's head."""

    def __init__(self, upstream: int, cut_after: int):
        self.upstream, self.cut_after = upstream, cut_after
        self.port = free_port()
        self.cuts = 0
        self.stream_requests: list[bytes] = []
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", self.port))
        self._threads = [threading.Thread(target=self._accept, daemon=True)]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> CuttingProxy:
        self._threads[0].start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._listener.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.upstream))
            watch: dict[str, bool] = {"stream": False}
            for source, sink, upward in ((client, server, True), (server, client, False)):
                thread = threading.Thread(target=self._pump, args=(source, sink, upward, watch, client, server),
                                          daemon=True)
                thread.start()

    def _pump(self, source: socket.socket, sink: socket.socket, upward: bool, watch: dict[str, bool],
              client: socket.socket, server: socket.socket) -> None:
        chunks = 0
        try:
            while data := source.recv(65536):
                if upward and b"/stream" in data.split(b"\r\n", 1)[0]:
                    with self._lock:
                        self.stream_requests.append(data.split(b"\r\n\r\n", 1)[0])
                        watch["stream"] = self.cuts == 0
                if not upward and watch["stream"]:
                    chunks += data.count(b"event: chunk")
                    if chunks >= self.cut_after:
                        with self._lock:
                            self.cuts += 1
                            watch["stream"] = False
                        sink.sendall(data)
                        raise ConnectionAbortedError("cut")
                sink.sendall(data)
        except OSError:
            pass
        for sock in (client, server):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()


@pytest.fixture(name="drip_backend")
def drip_backend_fixture() -> Iterator[ScriptedServer]:
    with ScriptedServer(answer=LONG_ANSWER) as server:
        yield server


def test_page_resumes_a_cut_stream_with_last_event_id_and_nothing_lost_or_repeated(
        browser: Browser, drip_backend: ScriptedServer, tmp_path: Path) -> None:
    # 40 chunks per side, 200 ms apart: the cut comes about 1 s in, the browser reconnects ~3 s later, mid-answer.
    registry = scripted_registry(drip_backend, {"alpha": "drip200ms", "beta": "drip200ms"})
    settings = settings_for(f"sqlite:///{tmp_path / 'arena.db'}", registry)
    with ArenaServer(settings) as server, CuttingProxy(server.port, cut_after=8) as proxy:
        page = browser.new_page()
        try:
            page.add_init_script(RECORD_CHUNKS)
            page.goto(proxy.url)
            page.fill("#prompt", "count for me")
            page.click("#send")
            page.wait_for_selector("#vote:not([hidden]), .battle.failed", timeout=60_000)
            chunks = page.evaluate("window.__chunks")
            panes = {side: page.inner_text(f"#side-{side} .turn[data-turn='0'] .answer") for side in ("a", "b")}
            assert page.locator("#vote:not([hidden])").count() == 1  # votable: the battle did not fail
        finally:
            page.close()
    assert proxy.cuts == 1 and len(proxy.stream_requests) >= 2, proxy.stream_requests
    resumed = proxy.stream_requests[1].lower()
    assert b"last-event-id: 0-" in resumed or b"last_event_id=0-" in resumed, resumed  # resumed, not restarted
    ids = [event_id for event_id, _ in chunks]
    assert len(ids) == len(set(ids)) == 80, ids  # every chunk of both sides exactly once
    for side in ("a", "b"):
        assert "".join(data["text"] for _, data in chunks if data["side"] == side) == LONG_ANSWER
        assert panes[side].split() == LONG_ANSWER.split()
