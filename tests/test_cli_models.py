"""The `glassboard models` and `glassboard chat` commands, run as a user would (subprocess)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path


def glassboard(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "glassboard.cli", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=120, env=env)


def test_models_lists_builtin_variants(tmp_path: Path) -> None:
    result = glassboard("models", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "smollm2-135m-chat-exp" in result.stdout and "llama_cpp" in result.stdout
    assert re.search(r"\b[0-9a-f]{12}\b", result.stdout)  # the weights' sha256, short in a table


def test_chat_streams_and_reports_speed(tmp_path: Path) -> None:
    result = glassboard("chat", "smollm2-135m", "Say hello.", "--max-tokens", "16", "--temperature", "0",
                        cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "time to first token" in result.stdout and "tokens/s" in result.stdout


def test_unknown_model_is_a_clean_error(tmp_path: Path) -> None:
    result = glassboard("chat", "gpt-9", "hi", cwd=tmp_path)
    assert result.returncode == 2
    assert "unknown model 'gpt-9'" in result.stderr and "smollm2-135m" in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_config_is_a_clean_error(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("[models.x]\nbackend = 'openai'\nmodel = 'm'\nbase_url = 'ftp://nope'\n")
    result = glassboard("models", "--config", str(config), cwd=tmp_path)
    assert result.returncode == 2
    assert str(config) in result.stderr and "line 4" in result.stderr and "base_url" in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_sampling_value_is_a_clean_error(tmp_path: Path) -> None:
    result = glassboard("chat", "smollm2-135m", "hi", "--temperature", "9", cwd=tmp_path)
    assert result.returncode == 2 and "temperature" in result.stderr
    assert "Traceback" not in result.stderr


def test_unreachable_endpoint_is_a_clean_error(tmp_path: Path) -> None:
    from glassboard.models.scripted_server import free_port

    url = f"http://127.0.0.1:{free_port()}/v1"
    config = tmp_path / "glassboard.toml"
    config.write_text(f"[models.down]\nbackend = 'openai'\nmodel = 'm'\nbase_url = '{url}'\n"
                      "[models.down.options]\nmax_retries = 0\n")
    result = glassboard("chat", "down", "hi", cwd=tmp_path)
    assert result.returncode == 2
    assert "connection" in result.stderr and url in result.stderr
