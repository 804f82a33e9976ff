"""Optional system parts of the test suite (Chromium, PostgreSQL, Redis, llama-cpp-python's server): skip or fail.

A test that needs a part asks for its fixture. When the part is missing the test is skipped, and the run ends with
one line per missing part naming it and how to get it; with GLASSBOARD_REQUIRE_ALL=1 (set by .ci/run) the test
fails instead, so CI can never pass by skipping. scripts/setup-system.sh (run by `make test`) provides the parts
it can. Loaded by conftest.py as a pytest plugin; the counts live in the session's config stash, not in globals.
"""

from __future__ import annotations

import importlib
import os
import shutil
import socket
from collections import Counter
from dataclasses import dataclass
from typing import NoReturn

import pytest

REQUIRE_ALL = "GLASSBOARD_REQUIRE_ALL"


@dataclass(frozen=True, slots=True)
class Part:
    """A system part some tests need, and how a developer gets it."""

    name: str
    how: str


CHROMIUM = Part("Chromium", "run `make test` as root on Debian, or `sudo apt-get install chromium`")
POSTGRESQL = Part("PostgreSQL", "`sudo apt-get install postgresql`, then `make test` (starts it, creates db `test`), "
                                "or point GLASSBOARD_TEST_POSTGRES at a server")
REDIS = Part("Redis", "`sudo apt-get install redis-server`, then `make test` starts it on 127.0.0.1:6379, "
                      "or point GLASSBOARD_TEST_REDIS at a server")
LLAMA_SERVER = Part("llama-cpp-python server", "pip install 'llama-cpp-python[server]' (part of the test extras)")

MISSING = pytest.StashKey[set[Part]]()


def need(config: pytest.Config, part: Part, problem: str) -> NoReturn:
    """Skip the current test because `part` is missing (fail it under GLASSBOARD_REQUIRE_ALL=1)."""
    reason = f"missing part: {part.name} ({problem})"
    if os.environ.get(REQUIRE_ALL) == "1":
        pytest.fail(f"{reason}; get it: {part.how} [{REQUIRE_ALL}=1 makes a missing part a failure]", pytrace=False)
    config.stash.setdefault(MISSING, set()).add(part)
    pytest.skip(reason)


@pytest.hookimpl(trylast=True)
def pytest_terminal_summary(terminalreporter, config: pytest.Config) -> None:
    """One line per missing part: how many tests it skipped and how to get it."""
    reasons = Counter()
    for report in terminalreporter.stats.get("skipped", []):
        if isinstance(report.longrepr, tuple):
            reasons[report.longrepr[2]] += 1
    for part in sorted(config.stash.get(MISSING, set()), key=lambda p: p.name):
        count = sum(n for reason, n in reasons.items() if f"missing part: {part.name} (" in reason)
        terminalreporter.write_line(f"glassboard: {count} test(s) skipped, missing part {part.name}; get it: "
                                    f"{part.how}", yellow=True)


def chromium_executable() -> str | None:
    """Debian's chromium (Playwright drives it; the project never downloads a browser)."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


def redis_answers(host: str, port: int) -> str | None:
    """None when a Redis server answers PING at host:port, else what went wrong."""
    try:
        with socket.create_connection((host, port), timeout=2) as connection:
            connection.sendall(b"PING\r\n")
            reply = connection.recv(64)
    except OSError as err:
        return f"nothing answers at {host}:{port}: {err.strerror or err}"
    return None if reply.startswith(b"+PONG") else f"{host}:{port} is not Redis (replied {reply[:20]!r})"


def missing_module(name: str) -> str | None:
    """None when `name` imports, else the import error."""
    try:
        importlib.import_module(name)
    except ImportError as err:
        return f"cannot import {name}: {err}"
    return None
