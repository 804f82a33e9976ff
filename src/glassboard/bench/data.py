"""Benchmark data: rows from a JSONL/CSV/Parquet file or the Hugging Face hub, and the rules for defective rows.

Real benchmark files have defects, so reading follows written rules instead of stopping at the first oddity:

- JSONL is split on "\\n" only: a raw U+0085 or U+2028 inside a question (MMLU-Pro has one) is text, not a line
  break. A trailing "\\r" (CRLF files) and a UTF-8 BOM are dropped silently; blank lines carry no data and are
  skipped, with one warning per file when they sit between rows.
- CSV goes through the csv module on the file itself (newline=""), so quoted cells keep their own line breaks.
- A defective row (malformed JSON, not an object, extra CSV cells, a missing or unusable field, a duplicate id,
  ...) is skipped and becomes a `DataWarning` naming the file, line and rule; rows the task can repair (e.g.
  MMLU-Pro's disagreeing `answer` / `answer_index`) are kept with a warning saying which value was used.
- A file-level problem (missing file, unknown format, not UTF-8, no usable rows) is a `DataError` naming the file.
- `strict=True` (the CLI's --strict-data) turns every warning into a `DataError` with the same text.
"""

from __future__ import annotations

import ast
import csv
import dataclasses
import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from glassboard.models.types import ConfigError

SUFFIXES = (".jsonl", ".json", ".csv", ".parquet")


class DataError(ConfigError):
    """A data file that cannot be used; the message names the file (and the row and field when one is at fault)."""


@dataclass(frozen=True, slots=True)
class Row:
    """One data row and where it came from (for messages)."""

    values: dict[str, Any]
    where: str  # e.g. "data/test.jsonl line 12"
    index: int  # 0-based position among the file's rows


class RowError(DataError):
    """A defect in one row: the loader skips the row with a warning (fatal with strict=True)."""

    def __init__(self, where: str, reason: str) -> None:
        super().__init__(f"{where}: {reason}")
        self.where = where
        self.reason = reason


@dataclass(frozen=True, slots=True)
class DataWarning:
    """A defect found in the data and the rule applied to it; listed in summaries as `data_warnings`."""

    where: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"where": self.where, "message": self.message}

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


@dataclass(slots=True)
class DataIssues:
    """Collects the warnings of one load; with `strict`, the first warning is raised as a DataError instead."""

    strict: bool = False
    warnings: list[DataWarning] = dataclasses.field(default_factory=list)

    def warn(self, where: str, message: str) -> None:
        if self.strict:
            raise DataError(f"{where}: {message} (fatal because of --strict-data)")
        self.warnings.append(DataWarning(where, message))

    def skip(self, err: RowError) -> None:
        self.warn(err.where, f"{err.reason}; row skipped")


@dataclass(frozen=True, slots=True)
class HubSource:
    """Where a task's data lives on the Hugging Face hub."""

    dataset: str
    config: str | None
    split: str


def read_rows(path: Path, issues: DataIssues | None = None) -> tuple[list[Row], str]:
    """All usable rows of a data file and its sha256; the format comes from the suffix."""
    issues = issues if issues is not None else DataIssues()
    if not path.exists():
        raise DataError(f"data file not found: {path}")
    if not path.is_file():
        raise DataError(f"data path is not a file: {path}")
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise DataError(f"{path}: unsupported file type '{suffix or '(none)'}'; use one of {', '.join(SUFFIXES)}")
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise DataError(f"cannot read data file {path}: {err}") from None
    digest = hashlib.sha256(raw).hexdigest()
    if suffix == ".parquet":
        rows = _parquet_rows(path)
    else:
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as err:
            raise DataError(f"{path}: not UTF-8 text ({err})") from None
        rows = _csv_rows(path, issues) if suffix == ".csv" else _json_rows(path, text, issues)
    if not rows:
        first = f" (first: {issues.warnings[0]})" if issues.warnings else ""
        raise DataError(f"{path}: the file has no data rows{first}")
    return rows, digest


def _json_rows(path: Path, text: str, issues: DataIssues) -> list[Row]:
    if path.suffix.lower() == ".json" and text.lstrip().startswith("["):  # a JSON array of objects is accepted too
        try:
            items = json.loads(text)
        except json.JSONDecodeError as err:
            raise DataError(f"{path}: malformed JSON at line {err.lineno}: {err.msg}") from None
        return _objects(issues, ((f"{path} item {i + 1}", item) for i, item in enumerate(items)))
    lines = text.split("\n")  # never str.splitlines(): U+0085, U+2028, \x1c... inside a question are not breaks
    while lines and not lines[-1].strip():
        lines.pop()
    blank = [number for number, line in enumerate(lines, start=1) if not line.strip()]
    if blank:
        shown = ", ".join(map(str, blank[:5])) + (", ..." if len(blank) > 5 else "")
        issues.warn(str(path), f"{len(blank)} blank line(s) between rows skipped (line {shown})")
    parsed: list[tuple[str, Any]] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{path} line {number}"
        try:
            parsed.append((where, json.loads(line)))
        except json.JSONDecodeError as err:
            issues.skip(RowError(where, f"malformed JSON ({err.msg} at column {err.colno})"))
    return _objects(issues, parsed)


def _objects(issues: DataIssues, items: Iterable[tuple[str, Any]]) -> list[Row]:
    rows: list[Row] = []
    for where, item in items:
        if isinstance(item, dict):
            rows.append(Row(item, where, len(rows)))
        else:
            issues.skip(RowError(where, f"expected a JSON object, got {type(item).__name__}"))
    return rows


def _csv_rows(path: Path, issues: DataIssues) -> list[Row]:
    rows: list[Row] = []
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        try:
            if not reader.fieldnames:
                raise DataError(f"{path}: the CSV file has no header row")
            for values in reader:  # the csv module itself skips empty lines
                where = f"{path} line {reader.line_num}"
                if None in values:  # more cells than header columns
                    issues.skip(RowError(where, f"more values than the {len(reader.fieldnames)} header columns"))
                    continue
                rows.append(Row(dict(values), where, len(rows)))
        except csv.Error as err:
            raise DataError(f"{path} line {reader.line_num}: malformed CSV ({err})") from None
    return rows


def _parquet_rows(path: Path) -> list[Row]:
    import pyarrow.lib
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (pyarrow.lib.ArrowException, OSError) as err:
        raise DataError(f"{path}: not a readable Parquet file ({err})") from None
    return [Row(values, f"{path} row {i + 1}", i) for i, values in enumerate(table.to_pylist())]


def hub_rows(source: HubSource) -> list[Row]:
    """Rows from the Hugging Face hub via the optional `datasets` library (clear message when absent/offline)."""
    try:
        import datasets  # type: ignore[import-not-found]
    except ImportError:
        raise DataError(
            f"no --data file given and the Hugging Face 'datasets' library is not installed (needed for "
            f"{source.dataset}); pass --data PATH with a JSONL/CSV/Parquet file using the hub's field names"
        ) from None
    try:
        dataset = datasets.load_dataset(source.dataset, source.config, split=source.split)
    except Exception as err:  # datasets raises many types (connection, gated repo, missing config)
        raise DataError(
            f"cannot load {source.dataset} ({source.config or 'default'}, split {source.split}) from the Hugging "
            f"Face hub: {str(err).splitlines()[0] if str(err) else type(err).__name__}; offline or gated? "
            "pass --data PATH"
        ) from None
    where = f"hf:{source.dataset}"
    return [Row(dict(values), f"{where} row {i + 1}", i) for i, values in enumerate(dataset)]


def field(row: Row, name: str, kind: Callable[[Any], Any] = str, *, required: bool = True) -> Any:
    """row[name] converted by `kind`; a missing or unusable value is a RowError naming file, row and field."""
    value = row.values.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        if not required:
            return None
        present = ", ".join(sorted(map(str, row.values))) or "(none)"
        raise RowError(row.where, f"missing field '{name}' (fields present: {present})")
    try:
        return kind(value)
    except (TypeError, ValueError) as err:
        raise RowError(row.where, f"field '{name}' has an unusable value {str(value)[:80]!r} ({err})") from None


def text(value: Any) -> str:
    """A non-empty string field (numbers from CSV/Parquet are turned into text)."""
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise ValueError(f"expected text, got {type(value).__name__}")


def string_list(value: Any) -> list[str]:
    """A list of strings; CSV cells may hold it as JSON or as a Python literal."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            try:
                value = ast.literal_eval(value)
            except (ValueError, SyntaxError):
                raise ValueError("expected a list of options (JSON list)") from None
    if not isinstance(value, Iterable) or isinstance(value, str | bytes | dict):
        raise ValueError(f"expected a list, got {type(value).__name__}")
    items = [str(item) for item in value]
    if not items:
        raise ValueError("the list is empty")
    return items


def integer(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError("expected an integer")
    if isinstance(value, float) and not value.is_integer():
        raise ValueError("expected an integer")
    return int(str(value).strip()) if isinstance(value, str) else int(value)
