"""Benchmark data: rows from a JSONL/CSV/Parquet file or the Hugging Face hub; errors name the file, row and field."""

from __future__ import annotations

import ast
import csv
import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from glassboard.models.types import ConfigError

SUFFIXES = (".jsonl", ".json", ".csv", ".parquet")


class DataError(ConfigError):
    """A data file that cannot be used; the message names the file, the row and the field."""


@dataclass(frozen=True, slots=True)
class Row:
    """One data row and where it came from (for error messages)."""

    values: dict[str, Any]
    where: str  # e.g. "data.jsonl line 12"
    index: int  # 0-based position in the source


@dataclass(frozen=True, slots=True)
class HubSource:
    """Where a task's data lives on the Hugging Face hub."""

    dataset: str
    config: str | None
    split: str


def read_rows(path: Path) -> tuple[list[Row], str]:
    """All rows of a data file and its sha256; the format comes from the suffix."""
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
        rows = _csv_rows(path, text) if suffix == ".csv" else _json_rows(path, text)
    if not rows:
        raise DataError(f"{path}: the file has no data rows")
    return rows, digest


def _json_rows(path: Path, text: str) -> list[Row]:
    stripped = text.lstrip()
    if path.suffix.lower() == ".json" and stripped.startswith("["):  # a JSON array of objects is accepted too
        try:
            items = json.loads(text)
        except json.JSONDecodeError as err:
            raise DataError(f"{path}: malformed JSON at line {err.lineno}: {err.msg}") from None
        return [_object(path, item, f"{path.name} item {i + 1}", i) for i, item in enumerate(items)]
    rows: list[Row] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path.name} line {number}"
        try:
            item = json.loads(line)
        except json.JSONDecodeError as err:
            raise DataError(f"{path} line {number}: malformed JSON ({err.msg} at column {err.colno})") from None
        rows.append(_object(path, item, where, len(rows)))
    return rows


def _object(path: Path, item: Any, where: str, index: int) -> Row:
    if not isinstance(item, dict):
        raise DataError(f"{path.parent / where}: expected a JSON object, got {type(item).__name__}")
    return Row(item, where, index)


def _csv_rows(path: Path, text: str) -> list[Row]:
    reader = csv.DictReader(text.splitlines())
    if not reader.fieldnames:
        raise DataError(f"{path}: the CSV file has no header row")
    rows: list[Row] = []
    try:
        for values in reader:
            line = reader.line_num
            if None in values:  # more cells than header columns
                raise DataError(f"{path} line {line}: more values than the {len(reader.fieldnames)} header columns")
            rows.append(Row(dict(values), f"{path.name} line {line}", len(rows)))
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
    return [Row(values, f"{path.name} row {i + 1}", i) for i, values in enumerate(table.to_pylist())]


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
    """row[name] converted by `kind`; missing or unusable values raise DataError naming file, row and field."""
    value = row.values.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        if not required:
            return None
        present = ", ".join(sorted(map(str, row.values))) or "(none)"
        raise DataError(f"{row.where}: missing field '{name}' (fields present: {present})")
    try:
        return kind(value)
    except (TypeError, ValueError) as err:
        raise DataError(f"{row.where}: field '{name}' has an unusable value {str(value)[:80]!r} ({err})") from None


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
