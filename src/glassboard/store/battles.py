"""The arena store: variants, battles, turns and votes; export to and import from LMArena-schema battle files."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import secrets
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, func, insert, select, update

from glassboard.schema import BATTLE_COLUMNS as SCHEMA_COLUMNS
from glassboard.schema import BATTLE_STATUSES as STATUSES
from glassboard.store.db import StoreError, is_sqlite, make_engine, normalize_url, upgrade
from glassboard.store.tables import Base, BattleRow, Meta, TurnRow, VariantRow

# The arena's hot-path statements, built once on the tables (not the ORM classes) with bound parameters: building
# `insert(BattleRow).values(**row)` per call went through the ORM bulk-persistence plugin and re-coerced every
# value, which was ~70% of the store's CPU (create + finish + read + vote: 2.6 -> see docs/arena.md "Speed").
_BATTLES, _TURNS = Base.metadata.tables[BattleRow.__tablename__], Base.metadata.tables[TurnRow.__tablename__]
_INSERT_BATTLE = insert(_BATTLES)
_INSERT_TURN = insert(_TURNS)
# The hot writes execute row by row, never executemany: psycopg runs executemany in pipeline mode, whose wait loop
# spun while the server answered (35% of the PostgreSQL writer's CPU for two-row writes, measured with py-spy).
_FINISH_SIDE = update(_TURNS).where(
    _TURNS.c.battle_id == bindparam("b_battle_id"), _TURNS.c.turn == bindparam("b_turn"),
    _TURNS.c.side == bindparam("b_side"),
)
_FINISH_BATTLE = update(_BATTLES).where(_BATTLES.c.id == bindparam("b_id"), _BATTLES.c.status == "streaming")
_VOTE = update(_BATTLES).where(
    _BATTLES.c.id == bindparam("b_id"), _BATTLES.c.voter == bindparam("b_voter"), _BATTLES.c.status == "ready",
)
_BATTLE = select(_BATTLES).where(_BATTLES.c.id == bindparam("b_id"))
JUDGE_SOURCE = "judge"  # the `source` of model-judged battles (glassboard judge run --out, then battles import)
_TURNS_OF = select(_TURNS).where(_TURNS.c.battle_id == bindparam("b_battle_id")).order_by(_TURNS.c.turn, _TURNS.c.side)


class Store:
    """Synchronous data access for the arena (the web app calls it from worker threads)."""

    def __init__(self, url: str, *, migrate: bool = True, pool_size: int = 10, sqlite_sync: str = "full",
                 auto_checkpoint: bool = True):
        self.url = normalize_url(url)
        self.sqlite = is_sqlite(self.url)
        self.engine: Engine = make_engine(self.url, pool_size=pool_size, sqlite_sync=sqlite_sync,
                                          auto_checkpoint=auto_checkpoint)
        if migrate:
            upgrade(self.engine)

    def close(self) -> None:
        self.engine.dispose()

    def _begin(self, conn: Connection | None) -> AbstractContextManager[Connection]:
        """A transaction of its own, or the caller's (the group-commit writer passes `conn` to batch writes)."""
        return nullcontext(conn) if conn is not None else self.engine.begin()

    # ------------------------------------------------------------------------------------------ meta
    def meta_value(self, key: str, default_factory: Any = lambda: secrets.token_hex(32)) -> str:
        """The stored value of `key`, created once with `default_factory()` (first writer wins)."""
        with self.engine.begin() as conn:
            value = conn.scalar(select(Meta.value).where(Meta.key == key))
            if value is not None:
                return value
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(Meta).values(key=key, value=default_factory()))
        except Exception:  # noqa: BLE001 - a concurrent first start inserted it; read theirs
            pass
        with self.engine.begin() as conn:
            stored = conn.scalar(select(Meta.value).where(Meta.key == key))
        if stored is None:
            raise StoreError(f"the meta table has no value for {key!r} after creating it")
        return stored

    # -------------------------------------------------------------------------------------- variants
    def sync_variants(self, variants: Iterable[Any], origin: str = "registry", spec: dict[str, Any] | None = None, *,
                      conn: Connection | None = None) -> list[str]:
        """Insert (id, name) pairs not seen before; mark registry-retired ones retired. Returns the new ids."""
        now = time.time()
        new: list[str] = []
        with self._begin(conn) as conn:
            known: dict[tuple[str, str], Any] = {(row.id, row.name): row for row in conn.execute(
                select(VariantRow.id, VariantRow.name, VariantRow.retired))}
            for variant in variants:
                snap = variant.snapshot()
                key = (variant.id, variant.name)
                if key not in known:
                    conn.execute(insert(VariantRow).values(
                        id=variant.id, name=variant.name, provider=variant.provider, public=variant.public,
                        added=variant.added, retired=variant.retired, first_seen=now, origin=origin,
                        snapshot=snap, spec=spec,
                    ))
                    new.append(variant.id)
                    known[key] = None
                elif variant.retired and known[key] is not None and not known[key].retired:
                    conn.execute(update(VariantRow).where(VariantRow.id == variant.id, VariantRow.name == variant.name)
                                 .values(retired=variant.retired))
        return new

    def variants(self) -> list[dict[str, Any]]:
        """Every variant ever seen, oldest first."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(VariantRow).order_by(VariantRow.first_seen, VariantRow.name)).mappings()
            return [dict(r) for r in rows]

    def retire_variant(self, name_or_id: str, date: str, *, conn: Connection | None = None) -> list[str]:
        """Set the retired date of the active rows with this name (or id); returns the ids retired."""
        with self._begin(conn) as conn:
            keys = list(conn.execute(select(VariantRow.key, VariantRow.id).where(
                (VariantRow.id == name_or_id) | (func.lower(VariantRow.name) == name_or_id.lower()),
                VariantRow.retired.is_(None),
            )))
            if keys:
                conn.execute(update(VariantRow).where(VariantRow.key.in_([k for k, _ in keys])).values(retired=date))
        return [vid for _, vid in keys]

    # --------------------------------------------------------------------------------------- battles
    def create_battle(self, row: dict[str, Any], turns: Sequence[dict[str, Any]] = (), *,
                      conn: Connection | None = None) -> None:
        """Insert a new battle (status 'streaming') and its first turn rows."""
        with self._begin(conn) as conn:
            conn.execute(_INSERT_BATTLE, _battle_defaults(row))
            for turn in turns:  # one execute per row, not executemany: see _execute_each
                conn.execute(_INSERT_TURN, turn)

    def start_turn(self, battle_id: str, voter: str, turns: Sequence[dict[str, Any]], *,
                   conn: Connection | None = None) -> bool:
        """Move a 'ready' battle of `voter` back to 'streaming' for one more turn; False if it is not allowed."""
        with self._begin(conn) as conn:
            result = conn.execute(update(BattleRow).where(
                BattleRow.id == battle_id, BattleRow.voter == voter, BattleRow.status == "ready",
            ).values(status="streaming"))
            if result.rowcount != 1:
                return False
            for turn in turns:
                conn.execute(_INSERT_TURN, turn)
        return True

    def finish_turn(
        self, battle_id: str, turn: int, status: str, conversation_a: list[dict[str, Any]],
        conversation_b: list[dict[str, Any]], answers: dict[str, dict[str, Any]], error: str | None = None, *,
        conn: Connection | None = None,
    ) -> bool:
        """Record both answers of a turn (text, timing, error) and the battle's new status and conversations; False
        (nothing written) if the battle is no longer 'streaming' (another replica failed it: see arena/shared.py)."""
        with self._begin(conn) as conn:
            values = {"b_id": battle_id, "status": status, "conversation_a": conversation_a,
                      "conversation_b": conversation_b, "error": error}
            result = conn.execute(_FINISH_BATTLE, values)
            if result.rowcount != 1:
                return False
            for side, values in answers.items():
                conn.execute(_FINISH_SIDE, {**values, "b_battle_id": battle_id, "b_turn": turn, "b_side": side})
        return True

    def fail_turn(self, battle_id: str, turn: int, reason: str, *, conn: Connection | None = None) -> None:
        """Mark a 'streaming' battle failed with `reason` (when its answers could not be stored), answers left out."""
        with self._begin(conn) as conn:
            conn.execute(update(_TURNS).where(_TURNS.c.battle_id == battle_id, _TURNS.c.turn == turn,
                                              _TURNS.c.error.is_(None)).values(error=reason))
            conn.execute(update(_BATTLES).where(_BATTLES.c.id == battle_id, _BATTLES.c.status == "streaming")
                         .values(status="failed", error=reason))

    def vote(
        self, battle_id: str, voter: str, winner: str, tstamp: float, conv_metadata: dict[str, Any],
        flags: list[str], *, conn: Connection | None = None,
    ) -> bool:
        """Store the vote if the battle is 'ready' and `voter` started it (one atomic update); True on success."""
        with self._begin(conn) as conn:
            result = conn.execute(_VOTE, {"b_id": battle_id, "b_voter": voter, "status": "voted", "winner": winner,
                                          "tstamp": tstamp, "conv_metadata": conv_metadata, "flags": flags})
            return result.rowcount == 1

    def battle(self, battle_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(_BATTLE, {"b_id": battle_id}).mappings().first()
            return dict(row) if row else None

    def turns(self, battle_id: str) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(_TURNS_OF, {"b_battle_id": battle_id}).mappings()]

    def fail_interrupted(self, reason: str = "the server stopped while this battle was streaming") -> int:
        """Mark battles left 'streaming' by a previous process as failed (they can never finish)."""
        with self.engine.begin() as conn:
            result = conn.execute(update(BattleRow).where(BattleRow.status == "streaming").values(
                status="failed", error=reason))
            return result.rowcount

    def streaming_battles(self, created_before: float) -> list[str]:
        """Ids of arena battles still 'streaming' that were created before `created_before` (failover sweep)."""
        with self.engine.connect() as conn:
            return list(conn.scalars(select(BattleRow.id).where(BattleRow.status == "streaming",
                                                                BattleRow.created < created_before)))

    def vote_count(self) -> int:
        """Human votes (judge battles, source 'judge', are not votes)."""
        with self.engine.connect() as conn:
            return conn.scalar(select(func.count()).select_from(BattleRow).where(
                BattleRow.status == "voted", BattleRow.source != JUDGE_SOURCE)) or 0

    # --- judge battles (issue 15): stored beside the votes with source 'judge', never counted or rated as votes ---
    def judged_count(self) -> int:
        with self.engine.connect() as conn:
            return conn.scalar(select(func.count()).select_from(BattleRow).where(
                BattleRow.source == JUDGE_SOURCE)) or 0

    def battle_counts(self, public_before: float | None = None) -> dict[tuple[str | None, str], dict[str, int]]:
        """Per (variant id, name): battles it took part in, votes (voted battles) and failed battles.

        Imported battles have no variant id: they are counted under (None, name). With `public_before` (a time),
        only what may be shown publicly is counted: voted battles, and failed ones created before that time; a
        battle still streaming or waiting for its vote never is (the change would reveal its pair).
        """
        out: dict[tuple[str | None, str], dict[str, int]] = {}
        with self.engine.connect() as conn:
            sides = ((BattleRow.variant_a, BattleRow.model_a), (BattleRow.variant_b, BattleRow.model_b))
            for vid_col, name_col in sides:
                query = select(vid_col, name_col, BattleRow.status, func.count()).where(
                    BattleRow.source != JUDGE_SOURCE).group_by(vid_col, name_col, BattleRow.status)
                if public_before is not None:
                    query = query.where((BattleRow.status == "voted") | (
                        (BattleRow.status == "failed") & (BattleRow.created < public_before)))
                for vid, name, status, n in conn.execute(query):
                    entry = out.setdefault((vid, name), {"battles": 0, "votes": 0, "failed": 0})
                    entry["battles"] += n
                    if status == "voted":
                        entry["votes"] += n
                    if status == "failed":
                        entry["failed"] += n
        return out

    # --- prompt categories (issue 15): `glassboard battles categorize --db` reads conversations, writes labels ---
    def first_turns(self) -> Iterator[tuple[str, Any, dict[str, Any] | None]]:
        """(battle id, conversation_a, extra) of every battle, in id order (what a classifier reads)."""
        query = select(BattleRow.id, BattleRow.conversation_a, BattleRow.extra).order_by(BattleRow.id)
        with self.engine.connect() as conn:
            yield from ((row[0], row[1], row[2]) for row in conn.execute(query.execution_options(yield_per=5000)))

    def set_categories(self, updates: Sequence[tuple[str, list[str], dict[str, Any]]]) -> None:
        """Store (battle id, labels, extra with category_tag) for each battle, in one transaction."""
        statement = update(_BATTLES).where(_BATTLES.c.id == bindparam("b_id"))
        with self.engine.begin() as conn:
            conn.execute(statement, [{"b_id": i, "category": labels, "extra": extra} for i, labels, extra in updates])

    def category_counts(self) -> dict[str, int]:
        """Human votes per category label (what the leaderboard's category selector shows)."""
        counts: dict[str, int] = {}
        query = select(BattleRow.category).where(BattleRow.status == "voted", BattleRow.source != JUDGE_SOURCE,
                                                 BattleRow.category.is_not(None))
        with self.engine.connect() as conn:
            for (category,) in conn.execute(query.execution_options(yield_per=5000)):
                for label in [category] if isinstance(category, str) else category or []:
                    counts[label] = counts.get(label, 0) + 1
        return counts

    # ---------------------------------------------------------------------------------- export/import
    def voted(self, include_unvoted: bool = False, *, judged: bool = False) -> Iterator[dict[str, Any]]:
        """Battles as LMArena-schema rows (voted only unless asked; unvoted rows have no winner, so only voted rows
        can be exported), oldest first, with `battle_id` added. Human battles only, or with `judged` only the
        model-judged ones (source 'judge'): the two are never mixed."""
        query = select(BattleRow).order_by(BattleRow.created, BattleRow.id)
        query = query.where((BattleRow.source == JUDGE_SOURCE) if judged else (BattleRow.source != JUDGE_SOURCE))
        if not include_unvoted:
            query = query.where(BattleRow.status == "voted")
        with self.engine.connect() as conn:
            for row in conn.execute(query.execution_options(yield_per=1000)).mappings():
                yield schema_row(row)

    def export(self, path: str) -> int:
        """Write the voted battles with the rating library's writer (.jsonl, .json or .parquet).

        The `voter` column is re-keyed for each export: HMAC-SHA256 of the stored pseudonym under a fresh random
        key that is never kept. One voter's votes share a pseudonym within an export (anomaly detection needs
        that), but two exports cannot be joined on it, and neither can an export and the stored pseudonym (which
        follows a voter's cookie for a year).
        """
        from glassboard.rating.battles import write_battles

        key = secrets.token_bytes(32)

        def rows() -> Iterator[dict[str, Any]]:
            for row in itertools.chain(self.voted(), self.voted(judged=True)):
                if row.get("voter"):
                    row["voter"] = export_pseudonym(key, row["voter"])
                yield row

        return write_battles(rows(), path)

    def import_file(self, path: str, *, on_invalid: str = "error") -> tuple[int, int]:
        """Load a battle file with the rating library's loader and store it (source='import').

        Rows whose `battle_id` is already stored are skipped, so importing the same file twice is harmless.
        Returns (imported, skipped).
        """
        from glassboard.rating.battles import load_battles

        battles = load_battles(path, on_invalid=on_invalid)  # type: ignore[arg-type]
        now = time.time()
        imported = skipped = 0
        with self.engine.begin() as conn:
            existing = set(conn.scalars(select(BattleRow.id)))
            rows = []
            for battle in battles:
                extra = dict(battle.extra)
                battle_id = str(extra.pop("battle_id", "") or f"import-{uuid.uuid4().hex}")
                source = JUDGE_SOURCE if extra.pop("source", None) == JUDGE_SOURCE else "import"
                if battle_id in existing:
                    skipped += 1
                    continue
                existing.add(battle_id)
                rows.append(_battle_defaults({
                    "id": battle_id, "model_a": battle.model_a, "model_b": battle.model_b, "winner": battle.winner,
                    "tstamp": battle.tstamp, "conversation_a": battle.conversation_a or [],
                    "conversation_b": battle.conversation_b or [], "conv_metadata": battle.conv_metadata,
                    "category": battle.category, "language": battle.language, "voter": battle.voter,
                    "flags": list(battle.flags), "status": "voted", "created": battle.tstamp or now,
                    "source": source, "extra": extra or None,
                }))
                imported += 1
            for start in range(0, len(rows), 500):
                conn.execute(insert(BattleRow), rows[start:start + 500])
        return imported, skipped


def schema_row(row: Any) -> dict[str, Any]:
    """One stored battle as an LMArena-schema dict (what `write_battles` and the rating library take)."""
    out: dict[str, Any] = {key: row[key] for key in SCHEMA_COLUMNS}
    out["flags"] = list(out["flags"] or [])
    for key in ("conv_metadata", "category", "language", "voter", "tstamp"):
        if out[key] is None:
            del out[key]
    if row["winner"] is None:
        out["winner"] = None
    out.update(row["extra"] or {})
    if row["source"] == JUDGE_SOURCE:
        out["source"] = JUDGE_SOURCE
    out["battle_id"] = row["id"]
    return out


def export_pseudonym(key: bytes, voter: str) -> str:
    """A voter's pseudonym in one export (see `Store.export`)."""
    return "x-" + hmac.new(key, voter.encode(), hashlib.sha256).hexdigest()[:24]


def _battle_defaults(row: dict[str, Any]) -> dict[str, Any]:
    values = {"flags": [], "source": "arena", "conversation_a": [], "conversation_b": []}
    values.update(row)
    return values


def open_store(url: str, **kwargs: Any) -> Store:
    """A migrated store for `url` (convenience for the CLI and tests)."""
    return Store(url, **kwargs)


__all__ = ["SCHEMA_COLUMNS", "STATUSES", "Store", "make_engine", "open_store", "schema_row", "upgrade"]
