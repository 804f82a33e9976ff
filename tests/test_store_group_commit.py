"""Group commit on SQLite and PostgreSQL: writes share transactions, each gets its own result, a bad one fails alone."""

from __future__ import annotations

import asyncio
import threading

import pytest
from sqlalchemy import Connection

from arena_fixtures import db_url_fixture, pg_database_fixture, reset_postgres  # noqa: F401 - fixtures
from glassboard.store.battles import Store
from glassboard.store.group_commit import GroupCommitWriter
from test_store_battles import finish, new_battle


@pytest.mark.parametrize("threads", [1, 2])
async def test_concurrent_writes_all_commit_with_their_own_results(db_url: str, threads: int) -> None:
    store = Store(db_url)
    writer = GroupCommitWriter(store.engine, threads=threads)
    batch_sizes: list[int] = []
    original = writer._commit

    def counting(batch):  # noqa: ANN001, ANN202 - spy on the batches
        batch_sizes.append(len(batch))
        return original(batch)

    writer._commit = counting  # type: ignore[method-assign]
    try:
        for i in range(40):
            new_battle(store, f"battle-{i:02d}")
            finish(store, f"battle-{i:02d}")
        votes = await asyncio.gather(*(
            writer.submit(store.vote, f"battle-{i:02d}", "v-1", "model_a", 1.0, {}, []) for i in range(40)
        ))
        again = await writer.submit(store.vote, "battle-00", "v-1", "model_b", 2.0, {}, [])
    finally:
        writer.close()
    assert votes == [True] * 40 and again is False  # each write's own result; the second vote is refused
    assert sum(batch_sizes) >= 41 and len(batch_sizes) < 41  # some writes shared a transaction
    assert store.vote_count() == 40
    assert store.battle("battle-00")["winner"] == "model_a"
    store.close()


async def test_a_failing_write_fails_alone_and_the_others_commit(db_url: str) -> None:
    store = Store(db_url)
    writer = GroupCommitWriter(store.engine)
    gate = threading.Event()

    def wait_for_gate(*, conn: Connection) -> str:
        gate.wait(10)  # holds the writer so that the next writes queue up into one batch
        return "first"

    def broken(*, conn: Connection) -> None:
        raise RuntimeError("this write is broken")

    for i in range(3):
        new_battle(store, f"b{i}")
        finish(store, f"b{i}")
    try:
        first = asyncio.ensure_future(writer.submit(wait_for_gate))
        await asyncio.sleep(0.05)
        rest = [asyncio.ensure_future(writer.submit(store.vote, "b0", "v-1", "tie", 1.0, {}, [])),
                asyncio.ensure_future(writer.submit(broken)),
                asyncio.ensure_future(writer.submit(store.vote, "b1", "v-1", "model_b", 1.0, {}, []))]
        await asyncio.sleep(0.05)
        gate.set()
        assert await first == "first"
        results = await asyncio.gather(*rest, return_exceptions=True)
    finally:
        writer.close()
    assert results[0] is True and results[2] is True
    assert isinstance(results[1], RuntimeError) and "broken" in str(results[1])
    assert store.battle("b0")["winner"] == "tie" and store.battle("b1")["winner"] == "model_b"
    assert store.battle("b2")["status"] == "ready"
    store.close()


async def test_process_writer_commits_reports_errors_and_survives_its_child(pg_database: str) -> None:
    from glassboard.store.writer_process import ProcessGroupCommitWriter

    reset_postgres(pg_database)
    store = Store(pg_database)
    writer = ProcessGroupCommitWriter(store.url)
    try:
        for i in range(20):
            new_battle(store, f"p{i:02d}")
            finish(store, f"p{i:02d}")
        votes = await asyncio.gather(*(
            writer.submit(store.vote, f"p{i:02d}", "v-1", "model_a", 1.0, {}, []) for i in range(20)))
        assert votes == [True] * 20
        assert await writer.submit(store.vote, "p00", "v-1", "tie", 2.0, {}, []) is False  # already voted
        # A failing write fails alone, with an error the arena can show (here: the id exists already).
        row = {"id": "p01", "model_a": "a", "model_b": "b", "voter": "v-1", "status": "streaming", "created": 1.0}
        with pytest.raises(Exception, match="p01|duplicate|unique"):  # noqa: PT011 - the driver's own error type
            await writer.submit(store.create_battle, row, [])
        with pytest.raises(ValueError, match="not a store write"):
            await writer.submit(store.battle, "p01")
        # The child dies: waiting writes fail with a clear error; the next write starts a new child.
        assert writer._process is not None
        writer._process.kill()
        await asyncio.sleep(0.5)
        new_battle(store, "p99")
        finish(store, "p99")
        assert await writer.submit(store.vote, "p99", "v-1", "model_b", 3.0, {}, []) is True
    finally:
        await writer.aclose()
    assert store.vote_count() == 21 and store.battle("p99")["winner"] == "model_b"
    store.close()
