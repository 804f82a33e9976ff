"""The missing-part machinery: a missing part skips its tests with one summary line; REQUIRE_ALL=1 fails them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent

FAKE_SUITE = '''
import pytest
from parts import Part, need

FAKE = Part("Fake part", "apt-get install fake-part")


@pytest.fixture(scope="session")
def fake(pytestconfig):
    need(pytestconfig, FAKE, "not installed here")


def test_one(fake):
    assert False, "never runs"


def test_two(fake):
    assert False, "never runs"


def test_without_the_part():
    assert 1 + 1 == 2
'''


def run_fake_suite(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_fake.py").write_text(FAKE_SUITE, encoding="utf-8")
    environ = {k: v for k, v in os.environ.items() if k != "GLASSBOARD_REQUIRE_ALL"}
    environ.update(PYTHONPATH=str(TESTS), **env)
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "parts", "-p", "no:cacheprovider",
                           "--rootdir", str(tmp_path), str(tmp_path / "test_fake.py")],
                          capture_output=True, text=True, cwd=tmp_path, env=environ, timeout=120)


def test_a_missing_part_skips_its_tests_with_one_summary_line(tmp_path: Path) -> None:
    result = run_fake_suite(tmp_path)
    assert result.returncode == 0, result.stdout
    assert "1 passed, 2 skipped" in result.stdout
    lines = [line for line in result.stdout.splitlines() if "missing part Fake part" in line]
    assert lines == ["glassboard: 2 test(s) skipped, missing part Fake part; get it: apt-get install fake-part"]


def test_require_all_turns_the_skip_into_a_failure(tmp_path: Path) -> None:
    result = run_fake_suite(tmp_path, GLASSBOARD_REQUIRE_ALL="1")
    assert result.returncode == 1, result.stdout
    assert "1 passed, 2 errors" in result.stdout
    assert "missing part: Fake part (not installed here); get it: apt-get install fake-part" in result.stdout
    assert "GLASSBOARD_REQUIRE_ALL=1 makes a missing part a failure" in result.stdout


def test_ci_only_runs_make_test_with_every_part_required() -> None:
    commands = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()
                if line.strip() and not line.lstrip().startswith("#")]
    assert commands[-2:] == ["export GLASSBOARD_REQUIRE_ALL=1", "exec make test"]
    assert not any("apt-get" in line or "pg_ctl" in line for line in commands)
    makefile = (ROOT / "Makefile").read_text()
    assert "./scripts/setup-system.sh" in makefile.split("\ntest:")[1].split("\n\n")[0]


def test_setup_script_names_what_it_cannot_provide_and_never_fails(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"  # a machine without chromium, PostgreSQL, Redis or apt-get
    bin_dir.mkdir()
    for tool in ("id", "printf", "ls", "grep", "sleep"):
        source = next(Path(d) / tool for d in ("/usr/bin", "/bin") if (Path(d) / tool).exists())
        (bin_dir / tool).symlink_to(source)
    result = subprocess.run(["/bin/bash", str(ROOT / "scripts" / "setup-system.sh")], capture_output=True,
                            text=True, env={"PATH": str(bin_dir)}, timeout=60)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "chromium missing and not installable here" in out and "sudo apt-get install chromium" in out
    assert "PostgreSQL not installed" in out and "redis-server not installed" in out
