"""`battles categorize`: tag a battle file or the arena database with prompt categories.

Each battle gets `category` = its labels (a list, possibly empty) and `category_tag` = {classifier, prompt_hash,
criteria}; everything else in the row is left as it was. Parquet is processed column-wise (pyarrow), JSONL row by
row; the database is updated in batches. Any classifier is a function from (prompts, user turns) to Tags.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from glassboard.judge.categories import CRITERIA, HEURISTIC_ID, LABELS, Tags, classify, first_prompt, label_masks
from glassboard.judge.verdict import JudgeError

Classifier = Callable[[Sequence[str], np.ndarray], list[Tags]]
BATCH = 50_000


@dataclass
class CategorizeResult:
    battles: int = 0
    without_prompt: int = 0  # battles with no user turn (tagged with no labels)
    unparsable: int = 0  # a model classifier's answers that did not parse
    counts: Counter[str] = field(default_factory=Counter)

    def add(self, tags: list[Tags], prompts: Sequence[str | None]) -> None:
        self.battles += len(tags)
        self.without_prompt += sum(1 for p in prompts if not p)
        for t in tags:
            self.counts.update(t.labels)
        self.unparsable += sum(1 for t in tags if not t.parsed)


def categorize_file(src: Path, out: Path, classifier: Classifier = classify) -> CategorizeResult:
    """Write `src`'s battles to `out` with categories (.parquet column-wise; .jsonl row by row)."""
    if not src.is_file():
        raise JudgeError(f"battle file not found: {src}")
    kinds = {src.suffix.lower(), out.suffix.lower()}
    if kinds == {".parquet"}:
        return _parquet(src, out, classifier)
    if kinds <= {".jsonl"}:
        return _jsonl(src, out, classifier)
    raise JudgeError(f"{src} -> {out}: categorize reads and writes .jsonl or .parquet, the same format both sides")


def _jsonl(src: Path, out: Path, classifier: Classifier) -> CategorizeResult:
    result = CategorizeResult()
    with src.open(encoding="utf-8") as fin, out.open("w", encoding="utf-8") as fout:
        rows: list[dict[str, Any]] = []

        def flush() -> None:
            firsts = [first_prompt(r.get("conversation_a")) for r in rows]
            prompts = [p for p, _ in firsts]
            tags = classifier(prompts, np.array([n for _, n in firsts], dtype=np.int64))
            result.add(tags, prompts)
            for row, tag in zip(rows, tags, strict=True):
                row["category"] = list(tag.labels)
                row["category_tag"] = tag.to_json()
                fout.write(json.dumps(row, ensure_ascii=False) + "\n")
            rows.clear()

        for number, line in enumerate(fin, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise JudgeError(f"{src} line {number}: not JSON ({err.msg})") from None
            if not isinstance(row, dict):
                raise JudgeError(f"{src} line {number}: a battle must be a JSON object")
            if "conversation_a" in row and not isinstance(row["conversation_a"], list):
                raise JudgeError(f"{src} line {number}: field 'conversation_a' must be a list of messages")
            rows.append(row)
            if len(rows) >= BATCH:
                flush()
        flush()
    return result


def _parquet(src: Path, out: Path, classifier: Classifier) -> CategorizeResult:
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(src)
    except (OSError, pa.ArrowInvalid) as err:
        raise JudgeError(f"{src}: cannot read Parquet ({err})") from None
    n = table.num_rows
    if "conversation_a" not in table.column_names:
        raise JudgeError(f"{src}: no 'conversation_a' column, so there is no prompt to categorize")
    conv = table.column("conversation_a").combine_chunks()
    if not pa.types.is_list(conv.type) or not pa.types.is_struct(conv.type.value_type):
        raise JudgeError(f"{src}: column 'conversation_a' must be a list of {{role, content}} messages, "
                         f"not {conv.type}")
    flat = pc.list_flatten(conv)
    parents = pc.list_parent_indices(conv).to_numpy()
    is_user = pc.fill_null(pc.equal(flat.field("role"), "user"), False).to_numpy(zero_copy_only=False)
    user_rows, user_parent = np.flatnonzero(is_user), parents[is_user]
    turns = np.bincount(user_parent, minlength=n)
    first = np.full(n, -1, dtype=np.int64)
    uniq, idx = np.unique(user_parent, return_index=True)
    first[uniq] = user_rows[idx]
    prompts = pc.take(flat.field("content").cast(pa.string()), pa.array(first, mask=first < 0))
    result = CategorizeResult(battles=n, without_prompt=int((first < 0).sum()))
    if classifier is classify:  # the heuristic: columns built with numpy and pyarrow, no per-row objects
        category, tag = _heuristic_columns(prompts, turns)
        result.counts.update({name: int(mask.sum()) for name, mask in label_masks(prompts, turns)[0].items()
                              if mask.any()})
    else:
        tags = classifier(prompts, turns)
        result.unparsable = sum(1 for t in tags if not t.parsed)
        for t in tags:
            result.counts.update(t.labels)
        category = pa.array([list(t.labels) for t in tags], pa.list_(pa.string()))
        tag = pa.array([{**t.to_json(), "unparsable": not t.parsed} for t in tags], _tag_type())
    for name in ("category", "category_tag"):
        if name in table.column_names:
            table = table.drop_columns([name])
    table = table.append_column("category", category).append_column("category_tag", tag)
    pq.write_table(table, out)
    return result


def _heuristic_columns(prompts: Any, turns: np.ndarray) -> tuple[Any, Any]:
    """The `category` list column and the `category_tag` struct column of the heuristic, vectorised."""
    import pyarrow as pa

    labels, criteria = label_masks(prompts, turns)
    texts = prompts.to_pylist()
    sha = hashlib.sha256
    hashes = pa.array([sha((t or "").encode()).hexdigest()[:16] for t in texts], pa.string())
    n = len(texts)
    category = _list_column([labels[name] for name in LABELS], LABELS, n)
    crit = _list_column([criteria[name] for name in CRITERIA], CRITERIA, n)
    tag = pa.StructArray.from_arrays(
        [pa.array(np.full(n, HEURISTIC_ID, dtype=object), pa.string()), hashes, crit, pa.array(np.zeros(n, bool))],
        fields=list(_tag_type()))
    return category, tag


def _tag_type() -> Any:
    import pyarrow as pa

    return pa.struct([("classifier", pa.string()), ("prompt_hash", pa.string()), ("criteria", pa.list_(pa.string())),
                      ("unparsable", pa.bool_())])


def _list_column(masks: list[np.ndarray], names: Sequence[str], n: int) -> Any:
    """A list<string> column: row i lists names[k] for every k with masks[k][i] (in the order of names)."""
    import pyarrow as pa

    matrix = np.column_stack(masks) if masks else np.zeros((n, 0), bool)
    rows, cols = np.nonzero(matrix)  # row-major: each row's labels in the order of names
    offsets = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=n))]).astype(np.int32)
    values = pa.DictionaryArray.from_arrays(pa.array(cols.astype(np.int32)), pa.array(list(names))).cast(pa.string())
    return pa.ListArray.from_arrays(pa.array(offsets), values)


def categorize_store(store: Any, classifier: Classifier = classify) -> CategorizeResult:
    """Tag every stored battle (human and judge) in place: `category` and `extra.category_tag`."""
    result = CategorizeResult()
    batch: list[tuple[str, Any, dict[str, Any] | None]] = []

    def flush() -> None:
        firsts = [first_prompt(conv) for _, conv, _ in batch]
        prompts = [p for p, _ in firsts]
        tags = classifier(prompts, np.array([n for _, n in firsts], dtype=np.int64))
        result.add(tags, prompts)
        store.set_categories([(battle_id, list(t.labels), {**(extra or {}), "category_tag": t.to_json()})
                              for (battle_id, _, extra), t in zip(batch, tags, strict=True)])
        batch.clear()

    for item in store.first_turns():
        batch.append(item)
        if len(batch) >= BATCH:
            flush()
    if batch:
        flush()
    return result
