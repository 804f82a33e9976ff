"""The battle record (LMArena vote-release schema): the typed `Battle`, validation, JSONL/JSON/Parquet IO."""

from __future__ import annotations

import json
import math
import numbers
import warnings
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from glassboard.rating.errors import RatingError, RatingWarning
from glassboard.rating.textstats import conversation_counts, style_counts
from glassboard.schema import BATTLE_COLUMNS, WINNER_ALIASES, WINNERS

__all__ = [
    "WINNERS",
    "Battle",
    "compute_conv_metadata",
    "iter_rows",
    "load_battles",
    "normalise_winner",
    "parse_battle",
    "style_counts",
    "write_battles",
]

_KNOWN = BATTLE_COLUMNS
_MAX_LISTED = 10  # invalid rows named in one error message
# conv_metadata keys holding the style counts (LMArena's names, plus our emoji counts)
_META_KEYS = tuple(
    f"{name}_{side}" for side in "ab" for name in ("header_count", "list_count", "bold_count", "emoji_count")
) + ("sum_assistant_a_tokens", "sum_assistant_b_tokens")
Side = Literal["a", "b"]


@dataclass(slots=True)
class Battle:
    """One vote: two anonymous models, the voter's verdict and (optionally) the conversations and style counts.

    Columns not in the schema (LMArena's `judge`, `turn`, `category_tag`, ...) are kept in `extra` so a file
    round-trips through `load_battles` / `write_battles` unchanged.
    """

    model_a: str
    model_b: str
    winner: str
    tstamp: float | None = None
    conversation_a: list[dict[str, Any]] | None = None
    conversation_b: list[dict[str, Any]] | None = None
    conv_metadata: dict[str, Any] | None = None
    category: str | list[str] | None = None
    language: str | None = None
    voter: str | None = None
    flags: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, row: Mapping[str, Any]) -> Battle:
        """Validate one row; raise RatingError naming the field."""
        return parse_battle(row)

    def to_dict(self) -> dict[str, Any]:
        """The row as written to files: schema fields that are set, then the extra columns."""
        out: dict[str, Any] = {"model_a": self.model_a, "model_b": self.model_b, "winner": self.winner}
        for key in _KNOWN[3:]:
            value = getattr(self, key)
            if value is not None and not (key == "flags" and not value):
                out[key] = value
        out.update(self.extra)
        return out

    def categories(self) -> tuple[str, ...]:
        """The categories of this battle (the `category` column may hold one string or a list)."""
        if self.category is None:
            return ()
        return (self.category,) if isinstance(self.category, str) else tuple(self.category)

    def side_counts(self, side: Side) -> dict[str, float]:
        """Style totals of one side: tokens, headers, lists, bold, emoji; NaN where unknown.

        Counts come from `conv_metadata`; any that are missing are computed from the conversation when it
        is present (code blocks removed first).
        """
        meta = self.conv_metadata or {}
        out = {
            "tokens": _number(meta.get(f"sum_assistant_{side}_tokens")),
            "headers": _total(meta.get(f"header_count_{side}")),
            "lists": _total(meta.get(f"list_count_{side}")),
            "bold": _total(meta.get(f"bold_count_{side}")),
            "emoji": _total(meta.get(f"emoji_count_{side}")),
        }
        conv = self.conversation_a if side == "a" else self.conversation_b
        if conv and any(math.isnan(v) for v in out.values()):
            c = conversation_counts(conv)
            computed = {
                "tokens": c["tokens"],
                "headers": sum(c[f"h{i}"] for i in range(1, 7)),
                "lists": c["ordered"] + c["unordered"],
                "bold": c["**"] + c["__"],
                "emoji": c["emoji"],
            }
            out = {k: (computed[k] if math.isnan(v) else v) for k, v in out.items()}
        return out


def _number(value: Any) -> float:
    """A count as float; NaN when absent or not a number. (Exact type checks first: this runs per row.)"""
    kind = type(value)
    if kind is int or kind is float:
        return float(value)
    if value is None or kind is bool or not isinstance(value, numbers.Real):
        return math.nan
    return float(value)


def _total(value: Any) -> float:
    """Sum of a count dict ({h1..h6}, {ordered, unordered}, ...) or a plain number; NaN when absent."""
    if type(value) is dict or isinstance(value, Mapping):
        total, seen = 0.0, False
        for x in value.values():
            kind = type(x)
            if kind is int or kind is float:
                total += x
                seen = True
            elif x is not None:
                x = _number(x)
                if x == x:
                    total += x
                    seen = True
        return total if seen else math.nan
    return _number(value)


def compute_conv_metadata(
    conversation_a: Iterable[Mapping[str, Any]], conversation_b: Iterable[Mapping[str, Any]]
) -> dict[str, Any]:
    """LMArena-style `conv_metadata` (plus our emoji counts) computed from the two conversations."""
    meta: dict[str, Any] = {}
    for side, conv in (("a", conversation_a), ("b", conversation_b)):
        c = conversation_counts(conv)
        meta[f"sum_assistant_{side}_tokens"] = c["tokens"]
        meta[f"header_count_{side}"] = {f"h{i}": c[f"h{i}"] for i in range(1, 7)}
        meta[f"list_count_{side}"] = {"ordered": c["ordered"], "unordered": c["unordered"]}
        meta[f"bold_count_{side}"] = {"**": c["**"], "__": c["__"]}
        meta[f"emoji_count_{side}"] = c["emoji"]
    return meta


# ---------------------------------------------------------------------------------------------- validation
def _check_conversation(value: Any, name: str) -> list[dict[str, Any]] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        raise RatingError(f"field '{name}': expected a list of {{role, content}} messages, got {_kind(value)}")
    for i, msg in enumerate(value):
        if not isinstance(msg, Mapping) or not isinstance(msg.get("role"), str):
            raise RatingError(f"field '{name}': message {i} is not a {{role, content}} object")
    return value


def _count_ok(value: Any) -> bool:
    kind = type(value)
    if kind is int or kind is float:
        return 0 <= value < math.inf
    if value is None:
        return True
    return kind is not bool and isinstance(value, numbers.Real) and 0 <= float(value) < math.inf


def _check_metadata(value: Any) -> dict[str, Any] | None:
    """Check the style counts we use; LMArena's other metadata keys pass through untouched."""
    if value is None:
        return None
    if type(value) is not dict:
        if not isinstance(value, Mapping):
            raise RatingError(f"field 'conv_metadata': expected an object, got {_kind(value)}")
        value = dict(value)
    for key in _META_KEYS:
        v = value.get(key)
        if v is None:
            continue
        nums = v.values() if type(v) is dict or isinstance(v, Mapping) else (v,)
        for n in nums:
            kind = type(n)
            if (kind is int or kind is float) and 0 <= n < math.inf:
                continue  # the common case, checked inline: this runs for every count of every row
            if not _count_ok(n):
                raise RatingError(f"field 'conv_metadata.{key}': expected non-negative counts, got {n!r}")
    return value


def _kind(value: Any) -> str:
    return type(value).__name__ if value is not None else "null"


def _opt_str(row: Mapping[str, Any], name: str) -> str | None:
    value = row.get(name)
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool) and name == "voter":
        return str(value)
    raise RatingError(f"field '{name}': expected a string, got {_kind(value)}")


def normalise_winner(label: Any) -> str | None:
    """The schema label for a winner value (case and known aliases folded), or None if it is not one."""
    if not isinstance(label, str):
        return None
    key = label.strip().lower()
    key = WINNER_ALIASES.get(key, key)
    return key if key in WINNERS else None


def parse_battle(row: Any) -> Battle:
    """Validate one row (a mapping in the LMArena schema) into a `Battle`; RatingError names the bad field."""
    if not isinstance(row, Mapping):
        raise RatingError(f"expected an object, got {_kind(row)}")
    for name in ("model_a", "model_b"):
        value = row.get(name)
        if not isinstance(value, str) or not value.strip():
            raise RatingError(f"field '{name}': expected a model name, got {value!r}")
    winner = normalise_winner(row.get("winner"))
    if winner is None:
        raise RatingError(f"field 'winner': unknown label {row.get('winner')!r} (expected one of {list(WINNERS)})")
    if row["model_a"] == row["model_b"]:
        raise RatingError(f"self-battle: model_a and model_b are both {row['model_a']!r}")
    tstamp = row.get("tstamp")
    if tstamp is not None and (isinstance(tstamp, bool) or not isinstance(tstamp, int | float)):
        raise RatingError(f"field 'tstamp': expected a number (seconds since the epoch), got {_kind(tstamp)}")
    category = row.get("category")
    if category is not None and not (
        isinstance(category, str) or (isinstance(category, list) and all(isinstance(c, str) for c in category))
    ):
        raise RatingError(f"field 'category': expected a string or a list of strings, got {_kind(category)}")
    flags = row.get("flags") or []
    if not isinstance(flags, list) or not all(isinstance(f, str) for f in flags):
        raise RatingError(f"field 'flags': expected a list of strings, got {flags!r}")
    return Battle(
        model_a=row["model_a"],
        model_b=row["model_b"],
        winner=winner,
        tstamp=None if tstamp is None else float(tstamp),
        conversation_a=_check_conversation(row.get("conversation_a"), "conversation_a"),
        conversation_b=_check_conversation(row.get("conversation_b"), "conversation_b"),
        conv_metadata=_check_metadata(row.get("conv_metadata")),
        category=category,
        language=_opt_str(row, "language"),
        voter=_opt_str(row, "voter"),
        flags=list(flags),
        extra={k: v for k, v in row.items() if k not in _KNOWN},
    )


# ------------------------------------------------------------------------------------------------------ IO
def _format(path: Path) -> str:
    name = path.name.lower()
    for suffix, kind in ((".jsonl", "jsonl"), (".ndjson", "jsonl"), (".json", "json"), (".parquet", "parquet")):
        if name.endswith(suffix):
            return kind
    raise RatingError(f"{path}: unsupported file type (expected .jsonl, .json or .parquet)")


def iter_rows(path: str | Path) -> Iterator[tuple[int, Any]]:
    """Yield (row number, raw row) from a battle file; row numbers are 1-based (JSONL: the line number).

    Rows are streamed (JSONL line by line, Parquet batch by batch) so large files are not held whole.
    A line that is not JSON is yielded as a RatingError instance for the caller to report with the others.
    """
    path = Path(path)
    kind = _format(path)
    if not path.is_file():
        raise RatingError(f"{path}: no such file")
    if kind == "jsonl":
        with path.open(encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    yield lineno, json.loads(line)
                except json.JSONDecodeError as exc:
                    yield lineno, RatingError(f"invalid JSON ({exc.msg} at column {exc.colno})")
    elif kind == "json":
        try:
            with path.open(encoding="utf-8") as fh:
                data = json.load(fh)
        except json.JSONDecodeError as exc:
            raise RatingError(f"{path}: invalid JSON ({exc.msg} at line {exc.lineno})") from None
        if isinstance(data, Mapping) and isinstance(data.get("battles"), list):
            data = data["battles"]
        if not isinstance(data, list):
            raise RatingError(f'{path}: expected a JSON list of battles (or {{"battles": [...]}})')
        yield from enumerate(data, 1)
    else:
        import pyarrow.parquet as pq

        try:
            pf = pq.ParquetFile(path)
        except Exception as exc:  # pyarrow raises several types for a corrupt file
            raise RatingError(f"{path}: not a readable Parquet file ({exc})") from None
        n = 0
        for batch in pf.iter_batches(batch_size=65_536):
            for row in batch.to_pylist():
                n += 1
                # a columnar file stores "absent" as null: drop those so rows match their JSON form
                yield n, {k: v for k, v in row.items() if v is not None}


def report_invalid(path: str | Path, bad: list[tuple[int, str]], on_invalid: str, total: int) -> None:
    """Raise (on_invalid='error') or warn (on_invalid='skip') about invalid rows, naming the first few."""
    if not bad:
        return
    listed = "\n".join(f"  row {n}: {msg}" for n, msg in bad[:_MAX_LISTED])
    more = f"\n  ... and {len(bad) - _MAX_LISTED} more" if len(bad) > _MAX_LISTED else ""
    head = f"{path}: {len(bad)} of {total} rows are invalid"
    if on_invalid == "error":
        raise RatingError(f"{head}:\n{listed}{more}\n(skip them with --skip-invalid / on_invalid='skip')")
    warnings.warn(f"{head} and were skipped:\n{listed}{more}", RatingWarning, stacklevel=3)


def load_battles(path: str | Path, *, on_invalid: Literal["error", "skip"] = "error") -> list[Battle]:
    """Read and validate a battle file (.jsonl, .json or .parquet) into `Battle` records.

    Invalid rows raise one RatingError listing file, row numbers and fields (on_invalid='error'), or are
    dropped with a RatingWarning (on_invalid='skip'). An empty file raises RatingError.
    """
    if on_invalid not in ("error", "skip"):
        raise RatingError(f"on_invalid must be 'error' or 'skip', not {on_invalid!r}")
    out: list[Battle] = []
    bad: list[tuple[int, str]] = []
    total = 0
    for n, row in iter_rows(path):
        total += 1
        try:
            if isinstance(row, RatingError):
                raise row
            out.append(parse_battle(row))
        except RatingError as exc:
            bad.append((n, str(exc)))
    if total == 0:
        raise RatingError(f"{path}: the file contains no battles")
    report_invalid(path, bad, on_invalid, total)
    return out


def write_battles(rows: Iterable[Battle | Mapping[str, Any]], path: str | Path) -> int:
    """Write battles to .jsonl, .json or .parquet (format from the suffix); return the number written.

    Every row is validated first, so a written file always loads back.
    """
    path = Path(path)
    kind = _format(path)
    records = [(r if isinstance(r, Battle) else parse_battle(r)).to_dict() for r in rows]
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "jsonl":
        with path.open("w", encoding="utf-8") as fh:
            for rec in records:
                fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
    elif kind == "json":
        path.write_text(json.dumps(records, ensure_ascii=False), encoding="utf-8")
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        # Parquet columns need one type: a file mixing "category": "x" and ["x", "y"] is written as lists.
        if any(isinstance(r.get("category"), list) for r in records):
            for r in records:
                if isinstance(r.get("category"), str):
                    r["category"] = [r["category"]]
        # Columns are the union of all rows' keys (from_pylist would take the first row's keys only).
        columns = list(dict.fromkeys(k for r in records for k in r)) or list(_KNOWN[:3])
        try:
            table = pa.table({k: [r.get(k) for r in records] for k in columns})
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise RatingError(f"{path}: cannot write these rows as Parquet ({exc})") from None
        pq.write_table(table, path)
    return len(records)
