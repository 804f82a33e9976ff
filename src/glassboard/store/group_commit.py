"""Group commit: store writes run on writer threads, as many per transaction as are waiting; SQLite checkpoints.

Why: every arena request that changes state (create, finish a turn, vote) must be committed before it is
acknowledged, and each commit costs a flush (SQLite WAL with synchronous=FULL; PostgreSQL's WAL flush) plus a
thread hand-off. One transaction per write held the arena at 118 battles/s; sharing one commit among the writes
that queued up meanwhile (one flush, one event-loop wake-up per batch) took it to 209 with the same durability.
The same writer also runs in a child process for PostgreSQL (writer_process.py).

A write is a callable taking an open connection (`fn(*args, conn=connection)`). If any write of a batch raises,
the batch is rolled back and its writes are retried one transaction each, so one bad write fails alone.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, Engine

log = logging.getLogger("glassboard.store")

Write = Callable[..., Any]
# (write, args, loop, token): token is the loop's future here; the child process uses request ids (no loop).
_Item = tuple[Write, tuple[Any, ...], Any, Any]


class GroupCommitWriter:
    """Writer threads; `await writer.submit(fn, *args)` returns `fn(*args, conn=...)` once it is committed.

    SQLite takes one writer at a time, so it gets one thread. PostgreSQL gets several: while one batch waits for
    its commit to be flushed, the next batch is already executing on another connection. Writes that depend on
    each other (a battle's creation, its answers, its vote) are submitted one after the other's acknowledgement,
    so they can never be reordered.
    """

    def __init__(self, engine: Engine, threads: int = 1, max_batch: int = 200, name: str = "db-write"):
        self.engine = engine
        self.max_batch = max_batch
        self._queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._local = threading.local()  # .conn: each writer thread's connection
        self._threads = [threading.Thread(target=self._run, name=f"{name}-{i}", daemon=True) for i in range(threads)]
        for thread in self._threads:
            thread.start()

    async def submit(self, fn: Write, *args: Any) -> Any:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self.enqueue(fn, args, loop, future)
        return await future

    def enqueue(self, fn: Write, args: tuple[Any, ...], loop: Any, token: Any) -> None:
        """Queue a write; `_deliver` reports it with `token` (a future of `loop` here; see writer_process)."""
        self._queue.put((fn, args, loop, token))

    async def aclose(self) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self.close)

    def close(self) -> None:
        """Finish the queued writes, then stop the threads."""
        for _ in self._threads:
            self._queue.put(None)
        for thread in self._threads:
            thread.join()

    def _run(self) -> None:
        # Each thread keeps its connection between batches (a pool checkout, its ping and a new Connection object
        # per batch were ~15% of the writer's CPU); a failed batch gives it back and the next one takes a new one.
        try:
            while True:
                item = self._queue.get()
                if item is None:
                    return
                batch = [item]
                stop = False
                while len(batch) < self.max_batch:
                    try:
                        more = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if more is None:
                        stop = True
                        break
                    batch.append(more)
                self._deliver(batch, self._commit(batch))
                if stop:
                    return
        finally:
            self._drop_connection()

    def _commit(self, batch: list[_Item]) -> list[tuple[bool, Any]]:
        """(ok, result or exception) per write, all committed in one transaction when none fails."""
        try:
            if getattr(self._local, "conn", None) is None:
                self._local.conn = self.engine.connect()
            with self._local.conn.begin():
                results = [_call(item, self._local.conn) for item in batch]
            return [(True, r) for r in results]
        except Exception as err:  # noqa: BLE001 - handed to the waiting request, never lost
            self._drop_connection()
            if len(batch) == 1:
                return [(False, err)]
        # Someone's write failed and took the batch down with it: redo each in its own transaction.
        return [self._commit([item])[0] for item in batch]

    def _drop_connection(self) -> None:
        conn, self._local.conn = getattr(self._local, "conn", None), None
        if conn is not None:
            try:
                conn.close()
            except Exception:  # noqa: BLE001 - a broken connection is discarded all the same
                log.debug("closing a writer connection failed", exc_info=True)

    def _deliver(self, batch: list[_Item], outcomes: list[tuple[bool, Any]]) -> None:
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], bool, Any]]] = {}
        for (_, _, loop, future), (ok, value) in zip(batch, outcomes, strict=True):
            by_loop.setdefault(loop, []).append((future, ok, value))
        for loop, results in by_loop.items():
            try:
                loop.call_soon_threadsafe(_resolve, results)  # one wake-up per batch, not per write
            except RuntimeError:  # the loop was closed meanwhile: nobody is waiting any more
                log.warning("%d committed write(s) had no event loop left to report to", len(results))


def _call(item: _Item, conn: Connection) -> Any:
    fn, args, _, _ = item
    return fn(*args, conn=conn)


def _resolve(results: list[tuple[asyncio.Future[Any], bool, Any]]) -> None:
    for future, ok, value in results:
        if future.done():  # the request was cancelled (client gone); the write is committed all the same
            continue
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)


class WalCheckpointer:
    """SQLite: copies the write-ahead log into the database file from its own thread, every `interval_s`.

    Why: by default the commit that fills the log past 1,000 pages runs the checkpoint itself, fsync included, and
    every write queued behind it waits (measured: single commits of 120-570 ms on this machine's disk). A PASSIVE
    checkpoint from another connection neither blocks nor waits for the writer. Use with engines made with
    `auto_checkpoint=False`.
    """

    def __init__(self, engine: Engine, interval_s: float = 1.0):
        self.engine = engine
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="db-checkpoint", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.checkpoint("PASSIVE")

    def checkpoint(self, mode: str) -> None:
        try:
            with self.engine.connect() as conn:
                conn.exec_driver_sql(f"PRAGMA wal_checkpoint({mode})")
        except Exception:  # noqa: BLE001 - a busy or failed checkpoint is retried at the next interval
            log.warning("WAL checkpoint (%s) failed", mode, exc_info=True)

    def close(self) -> None:
        """Stop, after a last full checkpoint (the log is emptied while no one writes)."""
        self._stop.set()
        self._thread.join()
        self.checkpoint("TRUNCATE")
