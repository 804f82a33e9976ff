"""How the arena runs under uvicorn: one `uvicorn_config` for `glassboard serve`, the tests and the benchmark.

It owns what must hold before a request exists, below the ASGI app:
* `HeadLimitedHttpTools`, uvicorn's httptools protocol (kept: the arena's speed depends on its C parser) with a
  cap on the request head (request line + headers; 431 past `max_header_bytes`, counted while it arrives, so a
  64 MB header is never buffered) and a deadline for it (408 and the connection closed when a client has not
  sent its whole head within `header_timeout_s` of connecting or of starting the request: slowloris), and a
  deadline for the body (`body_timeout_s` after the head: a client that declares a body and trickles it gets 408
  and is disconnected; the body's size is capped by the app, http.py).
* Proxy headers: X-Forwarded-For/-Proto are read only from `forwarded_allow_ips` (default: nobody).
* Logging: the access log names method, path and status, never the client's address.
* `--workers N` (`serve_workers`): N processes, each with its own app and its own SO_REUSEPORT socket on the same
  port (the kernel spreads connections); the parent only starts, restarts and stops them. The workers share
  nothing in memory, so Settings.check() demands PostgreSQL and Redis.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import multiprocessing
import signal
import socket
import time
from typing import Any

import uvicorn
from uvicorn.config import LOGGING_CONFIG
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from glassboard.arena.settings import Settings


class _HeadTooLarge(Exception):
    """Raised inside a parser callback to stop parsing a request head that passed the cap."""


class HeadLimitedHttpTools(HttpToolsProtocol):
    """uvicorn's httptools protocol with a size cap and a deadline on every request head (see the module doc)."""

    max_header_bytes = 32 * 1024
    header_timeout_s = 10.0
    body_timeout_s = 30.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_head = False
        self._head_bytes = 0  # url + header names and values seen by the parser
        self._head_raw = 0  # bytes received while the head was incomplete
        self._head_timer: asyncio.TimerHandle | None = None
        self._head_refused = False
        self._body_timer: asyncio.TimerHandle | None = None

    @classmethod
    def with_limits(cls, max_header_bytes: int, header_timeout_s: float,
                    body_timeout_s: float = 30.0) -> type[HeadLimitedHttpTools]:
        return type(cls.__name__, (cls,), {"max_header_bytes": max_header_bytes, "header_timeout_s": header_timeout_s,
                                           "body_timeout_s": body_timeout_s})

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._begin_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._end_head()
        self._end_body()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._in_head and not self.transport.is_closing():
            self._head_raw += len(data)  # the head is still incomplete: every byte of this chunk belongs to it
            if self._head_raw > self.max_header_bytes:
                self._refuse(431, "Request header fields too large.")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._begin_head()

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value) + 4)
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._end_head()
        super().on_headers_complete()
        # Cancelled by on_message_complete, which a request without a body reaches in the same parser call.
        self._body_timer = self.loop.call_later(self.body_timeout_s, self._body_timeout)

    def on_message_complete(self) -> None:
        self._end_body()
        super().on_message_complete()

    def send_400_response(self, msg: str) -> None:
        if self._head_refused:  # our callback stopped the parser: answer 431, not uvicorn's 400
            self._refuse(431, "Request header fields too large.")
        else:
            super().send_400_response(msg)

    def _count(self, n: int) -> None:
        self._head_bytes += n
        if self._head_bytes > self.max_header_bytes:
            self._head_refused = True
            raise _HeadTooLarge

    def _begin_head(self) -> None:
        self._in_head = True
        self._head_bytes = self._head_raw = 0
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(self.header_timeout_s, self._head_timeout)

    def _end_head(self) -> None:
        self._in_head = False
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _end_body(self) -> None:
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None

    def _body_timeout(self) -> None:
        self._body_timer = None
        if self.transport.is_closing():
            return
        if self.cycle is not None and self.cycle.response_started:
            self.transport.close()  # the app already answered (e.g. 413): just hang up
        else:
            self._refuse(408, "The request body did not arrive in time.")

    def _head_timeout(self) -> None:
        self._head_timer = None
        if self._in_head:
            self._refuse(408, "The request head did not arrive in time.")

    def _refuse(self, status: int, message: str) -> None:
        self._end_head()
        if self.transport.is_closing():
            return
        reason = {408: b"Request Timeout", 431: b"Request Header Fields Too Large"}[status]
        body = message.encode("ascii")
        self.transport.write(b"HTTP/1.1 %d %s\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: %d\r\n"
                             b"connection: close\r\n\r\n%s" % (status, reason, len(body), body))
        self.transport.close()


def access_log_config() -> dict[str, Any]:
    """uvicorn's logging configuration with an access line that leaves out the client address."""
    config = copy.deepcopy(LOGGING_CONFIG)
    config["formatters"]["access"]["fmt"] = '%(levelprefix)s "%(request_line)s" %(status_code)s'
    return config


def uvicorn_config(app: Any, settings: Settings, host: str = "127.0.0.1", port: int = 8000,
                   log_level: str = "info", **extra: Any) -> uvicorn.Config:
    """The uvicorn configuration of an arena app built from `settings`."""
    trusted = settings.forwarded_allow_ips
    return uvicorn.Config(
        app, host=host, port=port, log_level=log_level, log_config=access_log_config(),
        http=HeadLimitedHttpTools.with_limits(settings.max_header_bytes, settings.header_timeout_s,
                                              settings.body_timeout_s),
        proxy_headers=bool(trusted), forwarded_allow_ips=trusted or "", server_header=False,
        timeout_graceful_shutdown=5, **extra,
    )


def reuseport_socket(host: str, port: int) -> socket.socket:
    """A listening socket on (host, port) that other processes may bind too (the kernel balances between them)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _worker(settings: Settings, host: str, port: int, log_level: str) -> None:
    """One worker process: its own app (store, writer, Redis connection) on its own SO_REUSEPORT socket."""
    from glassboard.arena.app import create_app

    app = create_app(settings)
    server = uvicorn.Server(uvicorn_config(app, settings, host, port, log_level))
    server.run(sockets=[reuseport_socket(host, port)])


def serve_workers(settings: Settings, host: str, port: int, log_level: str = "info") -> None:
    """Run `settings.workers` arena processes on one port until SIGINT/SIGTERM; a worker that dies is restarted."""
    log = logging.getLogger("glassboard.arena")
    context = multiprocessing.get_context("spawn")
    stopping = False

    def start() -> multiprocessing.process.BaseProcess:
        process = context.Process(target=_worker, args=(settings, host, port, log_level), daemon=False)
        process.start()
        return process

    def stop(_signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    reuseport_socket(host, port).close()  # fail here, once, if the port is taken
    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    workers = [start() for _ in range(settings.workers)]
    try:
        while not stopping:
            time.sleep(0.5)
            for i, process in enumerate(workers):
                if not process.is_alive() and not stopping:
                    log.error("worker %d (pid %s) exited with %s; starting a new one", i, process.pid,
                              process.exitcode)
                    workers[i] = start()
    finally:
        for process in workers:
            if process.is_alive() and process.pid is not None:
                process.terminate()  # SIGTERM: uvicorn drains, the app lets live turns finish
        for process in workers:
            process.join(timeout=settings.drain_s + 10)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
