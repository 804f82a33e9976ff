"""Store tests on SQLite and PostgreSQL: migrations, variants history, battle lifecycle, export/import round trip."""

from __future__ import annotations

import json
import time

import pytest
import sqlalchemy

from arena_fixtures import db_url_fixture, pg_database_fixture  # noqa: F401 - fixtures
from glassboard.models import SamplingParams, Variant
from glassboard.rating.battles import compute_conv_metadata, load_battles
from glassboard.rating.bt import fit_bt
from glassboard.store.battles import Store
from glassboard.store.db import StoreError, make_engine, normalize_url


def variant(name: str, temperature: float = 0.7, **fields) -> Variant:
    return Variant(name=name, backend="openai", model=name, base_url="http://127.0.0.1:9/v1",
                   params=SamplingParams(temperature=temperature), **fields)


def new_battle(store: Store, battle_id: str, a: str = "alpha", b: str = "beta", voter: str = "v-1") -> None:
    conv = [{"role": "user", "content": "hi"}]
    store.create_battle(
        {"id": battle_id, "model_a": a, "model_b": b, "variant_a": "ida", "variant_b": "idb",
         "conversation_a": conv, "conversation_b": conv, "voter": voter, "status": "streaming",
         "created": time.time(), "sampler": {"mode": "uniform"}, "ip_hash": "h"},
        [{"battle_id": battle_id, "turn": 0, "side": s, "prompt": "hi", "created": time.time()} for s in "ab"],
    )


def finish(store: Store, battle_id: str, answer_a: str = "## A\n- x", answer_b: str = "b") -> None:
    conv_a = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": answer_a}]
    conv_b = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": answer_b}]
    store.finish_turn(battle_id, 0, "ready", conv_a, conv_b,
                      {"a": {"answer": answer_a, "ttft_s": 0.01, "tokens_per_s": 50.0},
                       "b": {"answer": answer_b, "ttft_s": 0.02, "tokens_per_s": 40.0}})


def test_migrations_create_the_schema(db_url: str) -> None:
    store = Store(db_url)
    inspector = sqlalchemy.inspect(store.engine)
    assert {"battles", "turns", "variants", "meta", "alembic_version"} <= set(inspector.get_table_names())
    with store.engine.connect() as conn:
        assert conn.scalar(sqlalchemy.text("select version_num from alembic_version")) == "0001"
    Store(db_url).close()  # migrating again is a no-op
    if store.sqlite:
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
    store.close()


def test_variants_are_kept_forever_and_changes_get_new_rows(db_url: str) -> None:
    store = Store(db_url)
    first = [variant("alpha"), variant("beta", public=False)]
    assert len(store.sync_variants(first)) == 2
    assert store.sync_variants(first) == []  # same registry again: nothing new
    changed = variant("alpha", temperature=0.1)  # same name, different behaviour = different variant
    assert store.sync_variants([changed]) == [changed.id]
    rows = store.variants()
    assert [r["name"] for r in rows].count("alpha") == 2
    assert {r["id"] for r in rows} == {first[0].id, first[1].id, changed.id}
    beta = next(r for r in rows if r["name"] == "beta")
    assert beta["public"] is False and beta["snapshot"]["id"] == first[1].id
    assert store.retire_variant("beta", "2026-12-01") == [first[1].id]
    assert store.retire_variant("beta", "2026-12-02") == []  # already retired
    assert next(r for r in store.variants() if r["name"] == "beta")["retired"] == "2026-12-01"
    store.sync_variants([variant("gamma", retired="2026-11-30")])
    assert next(r for r in store.variants() if r["name"] == "gamma")["retired"] == "2026-11-30"
    assert len(store.variants()) == 4  # nothing ever deleted
    store.close()


def test_battle_lifecycle_and_one_vote(db_url: str) -> None:
    store = Store(db_url)
    new_battle(store, "battle-0000000000000001")
    meta = compute_conv_metadata([], [])
    assert not store.vote("battle-0000000000000001", "v-1", "model_a", time.time(), meta, [])  # still streaming
    finish(store, "battle-0000000000000001")
    assert not store.vote("battle-0000000000000001", "v-2", "model_a", time.time(), meta, [])  # other voter
    assert store.vote("battle-0000000000000001", "v-1", "model_b", time.time(), meta, ["identity_revealed"])
    assert not store.vote("battle-0000000000000001", "v-1", "model_a", time.time(), meta, [])  # replay
    row = store.battle("battle-0000000000000001")
    assert row["status"] == "voted" and row["winner"] == "model_b" and row["flags"] == ["identity_revealed"]
    turns = store.turns("battle-0000000000000001")
    assert [(t["side"], t["ttft_s"], t["tokens_per_s"]) for t in turns] == [("a", 0.01, 50.0), ("b", 0.02, 40.0)]
    assert store.vote_count() == 1
    counts = store.battle_counts()
    assert counts[("ida", "alpha")] == {"battles": 1, "votes": 1, "failed": 0}
    store.close()


def test_interrupted_battles_fail_at_start(db_url: str) -> None:
    store = Store(db_url)
    new_battle(store, "battle-0000000000000002")
    assert store.fail_interrupted() == 1
    assert store.battle("battle-0000000000000002")["status"] == "failed"
    store.close()


def test_export_reads_back_with_the_rating_library_and_imports(db_url: str, tmp_path) -> None:
    store = Store(db_url)
    pairs = [("alpha", "beta", "model_a"), ("beta", "gamma", "tie"), ("gamma", "alpha", "model_b"),
             ("alpha", "gamma", "tie (bothbad)")]
    for i, (a, b, winner) in enumerate(pairs):
        battle_id = f"battle-{i:016d}"
        new_battle(store, battle_id, a, b)
        finish(store, battle_id)
        battle = store.battle(battle_id)
        meta = compute_conv_metadata(battle["conversation_a"], battle["conversation_b"])
        flags = ["identity_revealed"] if i == 3 else []
        assert store.vote(battle_id, "v-1", winner, 1_800_000_000.0 + i, meta, flags)
    new_battle(store, "battle-unvoted-000000")  # not voted: not exported
    out = tmp_path / "battles.jsonl"
    assert store.export(str(out)) == 4
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert rows[0]["model_a"] == "alpha" and rows[0]["winner"] == "model_a"
    assert rows[0]["conv_metadata"]["header_count_a"]["h2"] == 1
    assert rows[0]["conv_metadata"]["list_count_a"]["unordered"] == 1
    assert rows[3]["flags"] == ["identity_revealed"]
    battles = load_battles(out)
    assert [b.winner for b in battles] == [p[2] for p in pairs]
    ratings = fit_bt(out)  # `glassboard rate` reads the export as it is (flagged row left out)
    assert ratings.n_battles == 3
    store.close()

    other = Store(f"sqlite:///{tmp_path / 'copy.db'}")
    assert other.import_file(str(out)) == (4, 0)
    assert other.import_file(str(out)) == (0, 4)  # idempotent
    again = tmp_path / "again.jsonl"
    assert other.export(str(again)) == 4
    reread = [json.loads(line) for line in again.read_text().splitlines()]
    # Voter pseudonyms are re-keyed per export (one voter: one pseudonym within it, a new one in each export).
    assert len({r["voter"] for r in rows}) == 1 and len({r["voter"] for r in reread}) == 1
    assert rows[0]["voter"] not in ("v-1", reread[0]["voter"])
    assert [{**r, "voter": None} for r in reread] == [{**r, "voter": None} for r in rows]
    assert other.battle(rows[0]["battle_id"])["source"] == "import"
    other.close()


def test_bad_urls_are_clear() -> None:
    assert normalize_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    with pytest.raises(StoreError, match="unsupported database"):
        make_engine("mysql://u@h/db")
    with pytest.raises(StoreError, match="invalid database URL"):
        make_engine("not a url")

