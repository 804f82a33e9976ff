"""The per-sample result store: an append-only JSONL file per (task, variant), one line per finished sample.

Lines are a header per invocation (run metadata, a dict) and records: the benchmark runner's `SampleRecord`s
(schema.py owns their shape), or another typed record with a key and an ok flag (the context audit's cells), read
with that record's parser (`read_records`)."""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Generic, Protocol, TypeVar

from glassboard.bench.data import DataError
from glassboard.schema import RecordError, SampleRecord

Key = tuple[str, int, str]  # (sample id, epoch, prompt hash); the variant id and task are the file's (and record's)
FSYNC_EVERY_S = 0.5  # flush every record (survives a killed process); fsync at most this often (survives power loss)


class LogRecord(Protocol):
    """What the log needs of a record: its key (a later record with the same key replaces it) and whether it
    succeeded (failed ones are requested again on resume)."""

    @property
    def key(self) -> Key: ...

    @property
    def ok(self) -> bool: ...


R = TypeVar("R", bound=LogRecord)


def default_log_path(root: Path, task: str, variant_name: str, variant_id: str) -> Path:
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", variant_name).strip("_") or "model"
    return root / task / f"{safe}-{variant_id}.jsonl"


@dataclass
class LogContents(Generic[R]):
    """What a log file holds: its header lines (one per invocation) and the last record per key."""

    path: Path
    headers: list[dict[str, Any]] = field(default_factory=list)
    records: dict[Key, R] = field(default_factory=dict)
    lines: int = 0
    torn: int = 0  # partial lines left by a killed writer (skipped)

    @property
    def header(self) -> dict[str, Any]:
        """The most recent run's metadata."""
        return self.headers[-1] if self.headers else {}

    def finished(self) -> set[Key]:
        """Keys whose last record is a successful generation (error records are retried)."""
        return {key for key, record in self.records.items() if record.ok}


def read_log(path: Path) -> LogContents[SampleRecord]:
    """Read a benchmark run log; the last record per key wins. A torn last line (a killed writer) is ignored."""
    return read_records(path, SampleRecord.from_json)


def read_records(path: Path, parse: Callable[[dict[str, Any]], R]) -> LogContents[R]:
    """Read a log whose records `parse` turns into typed records (raising RecordError for a bad one)."""
    contents: LogContents[R] = LogContents(path)
    try:
        handle = path.open("r", encoding="utf-8")
    except FileNotFoundError:
        raise DataError(f"run log not found: {path}") from None
    except OSError as err:
        raise DataError(f"cannot read run log {path}: {err}") from None
    with handle:
        lines = handle.read().split("\n")
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as err:
            if line.startswith('{"type":"sample"'):  # a torn record: the writer was killed mid-line
                contents.torn += 1
                continue
            raise DataError(f"{path} line {number}: malformed JSON ({err.msg}); not a glassboard run log?") from None
        kind = item.get("type") if isinstance(item, dict) else None
        if kind == "header":
            contents.headers.append(item)
        elif kind == "sample":
            try:
                record = parse(item)
            except RecordError as err:
                raise DataError(f"{path} line {number}: bad sample record: {err}") from None
            contents.records.pop(record.key, None)  # re-inserted, so the dict stays in order of each key's last write
            contents.records[record.key] = record
        else:
            raise DataError(f"{path} line {number}: not a glassboard run log record")
        contents.lines += 1
    if not contents.headers:
        raise DataError(f"{path}: no header line; not a glassboard run log")
    return contents


class LogWriter:
    """Appends records as they finish: one write + flush each; fsync at most every FSYNC_EVERY_S seconds."""

    def __init__(self, path: Path):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        needs_newline = path.exists() and path.stat().st_size > 0 and not _ends_with_newline(path)
        self._handle: IO[str] = path.open("a", encoding="utf-8")
        if needs_newline:  # a torn line from a killed run must not swallow our first record
            self._handle.write("\n")
        self._synced = time.monotonic()
        self._dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode

    def write(self, record: dict[str, Any]) -> None:
        self._handle.write(self._dumps(record) + "\n")
        self._handle.flush()
        now = time.monotonic()
        if now - self._synced >= FSYNC_EVERY_S:
            os.fsync(self._handle.fileno())
            self._synced = now

    def close(self) -> None:
        if not self._handle.closed:
            self._handle.flush()
            os.fsync(self._handle.fileno())
            self._handle.close()

    def __enter__(self) -> LogWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _ends_with_newline(path: Path) -> bool:
    with path.open("rb") as handle:
        handle.seek(-1, os.SEEK_END)
        return handle.read(1) == b"\n"
