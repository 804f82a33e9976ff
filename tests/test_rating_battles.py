"""Battle schema, validation, IO and style counts (glassboard.rating.battles, textstats, table)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from glassboard.rating.battles import (
    WINNERS,
    Battle,
    compute_conv_metadata,
    load_battles,
    parse_battle,
    write_battles,
)
from glassboard.rating.errors import RatingError, RatingWarning
from glassboard.rating.table import BOTHBAD, TIE, BattleTable
from glassboard.rating.textstats import count_emoji, count_tokens, strip_code_blocks, style_counts
from rating_synth import metadata

MD = """# Title
Intro with **bold** and __also bold__ and a 😀.

## Section
1. first
2. second
- item
* other item

```python
# not a header
def f(**kwargs):  # not bold
    return "😀"
```
"""


def test_style_counts_markdown_outside_code_blocks() -> None:
    c = style_counts(MD)
    assert (c["h1"], c["h2"], c["h3"]) == (1, 1, 0)
    assert (c["ordered"], c["unordered"]) == (2, 2)
    assert (c["**"], c["__"]) == (1, 1)
    assert c["emoji"] == 1  # the one inside the code block is not counted
    assert c["tokens"] < style_counts(MD.replace("```python", "").replace("```", ""))["tokens"]


def test_strip_code_blocks_handles_tilde_and_unclosed_fences() -> None:
    assert strip_code_blocks("a\n~~~\nx\n~~~\nb").split() == ["a", "b"]
    assert strip_code_blocks("a\n```\nnever closed\n# h").strip() == "a"


def test_emoji_grapheme_counting() -> None:
    assert count_emoji("family 👨‍👩‍👧 flag 🇫🇷 thumbs 👍🏽 sun ☀️") == 4
    assert count_emoji("(c) (R) TM ™ © plain text") == 0
    assert count_emoji("🚀🚀🚀") == 3


def test_token_approximation() -> None:
    assert count_tokens("Hello, world!") == 4
    assert count_tokens("") == 0
    assert count_tokens("internationalization") == 4  # long words split every 6 letters
    assert count_tokens("你好世界") == 4
    assert count_tokens("1234567") == 3


def test_compute_conv_metadata_uses_lmarena_names() -> None:
    conv_a = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": MD}]
    conv_b = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "plain answer"}]
    meta = compute_conv_metadata(conv_a, conv_b)
    assert meta["header_count_a"] == {"h1": 1, "h2": 1, "h3": 0, "h4": 0, "h5": 0, "h6": 0}
    assert meta["list_count_a"] == {"ordered": 2, "unordered": 2}
    assert meta["bold_count_a"] == {"**": 1, "__": 1}
    assert meta["emoji_count_a"] == 1 and meta["emoji_count_b"] == 0
    assert meta["sum_assistant_b_tokens"] == 2


def test_parse_battle_accepts_lmarena_rows_and_keeps_extra_columns() -> None:
    row = {
        "model_a": "gpt-4o",
        "model_b": "llama-3-70b",
        "winner": "tie (bothbad)",
        "judge": "arena_user_123",
        "turn": 1,
        "anony": True,
        "language": "English",
        "tstamp": 1716000000.5,
        "conv_metadata": metadata(np.array([[100, 1, 2, 3, 0], [50, 0, 0, 0, 1]])),
        "dedup_tag": {"high_freq": False, "sampled": True},
        "category_tag": {"math_v0.1": {"math": False}},
    }
    battle = parse_battle(row)
    assert battle.winner == "tie (bothbad)"
    assert battle.extra["judge"] == "arena_user_123" and battle.extra["category_tag"]["math_v0.1"] == {"math": False}
    assert battle.side_counts("a") == {"tokens": 100, "headers": 1, "lists": 2, "bold": 3, "emoji": 0}
    assert battle.to_dict() == {**row}


@pytest.mark.parametrize("alias", ["both_bad", "bothbad", "tie(bothbad)", "TIE"])
def test_winner_aliases_are_normalised(alias: str) -> None:
    assert parse_battle({"model_a": "x", "model_b": "y", "winner": alias}).winner in WINNERS[2:]


@pytest.mark.parametrize(
    ("row", "needle"),
    [
        ({"model_a": "x", "model_b": "y", "winner": "draw"}, "field 'winner': unknown label 'draw'"),
        ({"model_a": "x", "model_b": "x", "winner": "tie"}, "self-battle"),
        ({"model_a": "", "model_b": "y", "winner": "tie"}, "field 'model_a'"),
        ({"model_a": "x", "model_b": "y", "winner": "tie", "tstamp": "yesterday"}, "field 'tstamp'"),
        ({"model_a": "x", "model_b": "y", "winner": "tie", "flags": "bad"}, "field 'flags'"),
        ({"model_a": "x", "model_b": "y", "winner": "tie", "conversation_a": "hi"}, "field 'conversation_a'"),
        ({"model_a": "x", "model_b": "y", "winner": "tie", "conv_metadata": {"emoji_count_a": -1}}, "non-negative"),
        ([1, 2, 3], "expected an object"),
    ],
)
def test_parse_battle_rejects_bad_rows_naming_the_field(row: object, needle: str) -> None:
    with pytest.raises(RatingError, match=None) as err:
        parse_battle(row)
    assert needle in str(err.value)


def _write_lines(path, lines: list[str]) -> None:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_load_battles_names_file_rows_and_fields(tmp_path) -> None:
    path = tmp_path / "votes.jsonl"
    good = json.dumps({"model_a": "a", "model_b": "b", "winner": "model_a"})
    _write_lines(
        path,
        [
            good,
            json.dumps({"model_a": "a", "model_b": "b", "winner": "draw"}),
            json.dumps({"model_a": "a", "model_b": "a", "winner": "tie"}),
            "{not json",
            "",
            good,
        ],
    )
    with pytest.raises(RatingError) as err:
        load_battles(path)
    msg = str(err.value)
    assert str(path) in msg and "3 of 5 rows are invalid" in msg
    assert "row 2: field 'winner'" in msg and "row 3: self-battle" in msg and "row 4: invalid JSON" in msg
    with pytest.warns(RatingWarning, match="skipped"):
        battles = load_battles(path, on_invalid="skip")
    assert len(battles) == 2


def test_load_battles_file_level_errors(tmp_path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n\n", encoding="utf-8")
    with pytest.raises(RatingError, match="contains no battles"):
        load_battles(empty)
    with pytest.raises(RatingError, match="no such file"):
        load_battles(tmp_path / "missing.jsonl")
    with pytest.raises(RatingError, match="unsupported file type"):
        load_battles(tmp_path / "votes.csv")
    bad = tmp_path / "bad.json"
    bad.write_text('{"battles": 3}', encoding="utf-8")
    with pytest.raises(RatingError, match="expected a JSON list"):
        load_battles(bad)
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"not parquet at all")
    with pytest.raises(RatingError, match="not a readable Parquet file"):
        load_battles(broken)


@pytest.mark.parametrize("suffix", [".jsonl", ".json", ".parquet"])
def test_write_then_load_round_trips(tmp_path, suffix: str) -> None:
    conv = [{"role": "user", "content": "q"}, {"role": "assistant", "content": "**a** 🎉"}]
    rows = [
        Battle("a", "b", "model_a", tstamp=1.0, conversation_a=conv, conversation_b=conv, language="en"),
        Battle("b", "c", "tie (bothbad)", flags=["identity_revealed"], category=["coding", "hard"], voter="v1"),
        {"model_a": "c", "model_b": "a", "winner": "tie", "category": "coding", "battle_id": "x9"},
    ]
    path = tmp_path / f"votes{suffix}"
    assert write_battles(rows, path) == 3
    back = load_battles(path)
    assert [b.winner for b in back] == ["model_a", "tie (bothbad)", "tie"]
    assert back[0].conversation_a == conv and back[0].language == "en"
    assert back[1].flags == ["identity_revealed"] and back[1].categories() == ("coding", "hard")
    assert back[2].categories() == ("coding",) and back[2].extra["battle_id"] == "x9"


def test_write_battles_validates_rows(tmp_path) -> None:
    with pytest.raises(RatingError, match="winner"):
        write_battles([{"model_a": "a", "model_b": "b", "winner": None}], tmp_path / "x.jsonl")


def test_table_computes_missing_counts_from_conversations() -> None:
    conv_a = [{"role": "assistant", "content": "# H\n- one\n- two\n**b** 😀😀"}]
    conv_b = [{"role": "assistant", "content": "short"}]
    meta_only = {"model_a": "x", "model_b": "y", "winner": "model_a", "conv_metadata": metadata(np.ones((2, 5)))}
    partial = {  # LMArena metadata has no emoji counts: those come from the conversation
        "model_a": "y",
        "model_b": "x",
        "winner": "model_b",
        "conv_metadata": metadata(np.full((2, 5), 7), with_emoji=False),
        "conversation_a": conv_a,
        "conversation_b": conv_b,
    }
    conv_only = {"model_a": "x", "model_b": "y", "winner": "tie", "conversation_a": conv_a, "conversation_b": conv_b}
    table = BattleTable.from_battles([meta_only, partial, conv_only])
    assert table.counts[0].tolist() == [[1.0] * 5, [1.0] * 5]
    assert table.counts[1, 0].tolist() == [7, 7, 7, 7, 2] and table.counts[1, 1, 4] == 0
    assert table.counts[2, 0].tolist() == [count_tokens("# H\n- one\n- two\n**b** 😀😀"), 1, 2, 1, 2]
    nothing = BattleTable.from_battles([{"model_a": "x", "model_b": "y", "winner": "tie"}])
    assert np.isnan(nothing.counts).all()


def test_table_filters_flags_category_and_language() -> None:
    rows = [
        {"model_a": "a", "model_b": "b", "winner": "model_a", "category": "coding", "language": "en"},
        {"model_a": "a", "model_b": "b", "winner": "tie", "category": ["coding", "math"], "language": "de"},
        {"model_a": "a", "model_b": "b", "winner": "model_b", "flags": ["identity_revealed"], "category": "coding"},
        {"model_a": "a", "model_b": "b", "winner": "tie (bothbad)", "category": "chat"},
    ]
    table = BattleTable.from_battles(rows)
    assert len(table) == 3 and table.excluded == {"flagged": 1}
    assert table.outcome.tolist() == [0, TIE, BOTHBAD] and table.rows.tolist() == [1, 2, 4]
    assert len(BattleTable.from_battles(rows, include_flagged=True)) == 4
    coding = BattleTable.from_battles(rows, category="coding")
    assert len(coding) == 2 and coding.excluded == {"flagged": 1, "category": 1}
    assert len(BattleTable.from_battles(rows, language="de")) == 1


def test_side_counts_are_nan_when_unknown() -> None:
    battle = parse_battle({"model_a": "x", "model_b": "y", "winner": "tie", "conv_metadata": {}})
    assert all(math.isnan(v) for v in battle.side_counts("b").values())


def _both_readers(path, **filters) -> tuple[BattleTable, BattleTable]:
    from glassboard.rating.battles import iter_rows

    fast = BattleTable.read(path, **filters)
    slow = BattleTable._from_rows(iter_rows(path), source=str(path), **filters)
    return fast, slow


def _same(fast: BattleTable, slow: BattleTable) -> None:
    assert fast.models == slow.models and fast.excluded == slow.excluded and fast.source == slow.source
    for key in ("a", "b", "outcome", "counts", "rows", "tstamp"):
        assert np.array_equal(getattr(fast, key), getattr(slow, key), equal_nan=True), key


def test_parquet_column_reader_matches_the_row_reader(tmp_path) -> None:
    from glassboard.rating.columnar import read_parquet_arrays

    conv_a = [{"role": "user", "content": "q"}, {"role": "assistant", "content": "# T\n- x\n**b** 🎉🎉"}]
    conv_b = [{"role": "assistant", "content": "plain"}]
    rows = []
    for i in range(60):
        row = {
            "model_a": f"m{i % 5}",
            "model_b": f"m{(i * 3 + 1) % 7}",
            "winner": ["model_a", "MODEL_B", "tie", "both_bad"][i % 4],
            "category": ["coding", "chat"] if i % 3 else "coding",
            "language": "en" if i % 2 else "de",
            "flags": ["identity_revealed"] if i % 11 == 0 else [],
        }
        if row["model_a"] == row["model_b"]:
            continue
        if i % 5:  # LMArena-style metadata without emoji: those are counted from the conversations
            row["conv_metadata"] = metadata(np.full((2, 5), i % 4), with_emoji=False)
            row["tstamp"] = float(i)
        if i % 2:
            row["conversation_a"], row["conversation_b"] = conv_a, conv_b
        rows.append(row)
    path = tmp_path / "mixed.parquet"
    write_battles(rows, path)
    assert read_parquet_arrays(path) is not None  # the column reader handles this file
    for filters in ({}, {"category": "chat"}, {"language": "en", "include_flagged": True}, {"with_style": False}):
        _same(*_both_readers(path, **filters))


def test_parquet_with_invalid_rows_falls_back_to_the_row_reader_messages(tmp_path) -> None:
    rows = [{"model_a": "a", "model_b": "b", "winner": "model_a"}] * 3 + [
        {"model_a": "a", "model_b": "b", "winner": "draw"},
        {"model_a": "c", "model_b": "c", "winner": "tie"},
    ]
    path = tmp_path / "bad.parquet"
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(rows), path)  # written without validation, as another tool might
    with pytest.raises(RatingError) as err:
        BattleTable.read(path)
    assert "row 4: field 'winner'" in str(err.value) and "row 5: self-battle" in str(err.value)
    with pytest.warns(RatingWarning, match="2 of 5 rows are invalid"):
        assert len(BattleTable.read(path, on_invalid="skip")) == 3
