"""Group commit in a child process, for PostgreSQL: the arena's writes leave its GIL.

Why: in one process, the arena's event loop and its PostgreSQL writer threads share one GIL. A writer thread needs
it back after every statement's round trip and waits while the loop runs (up to the 5 ms switch interval):
measured at 300 battles/s, 1.7 ms of wall time per write, writer threads 79% busy, the arena stuck at 250-347
battles/s whatever the thread count. Here the same `GroupCommitWriter` runs in a child process with its own
interpreter; the arena sends `(id, store method, args)` frames over a pipe and gets each result back after its
commit, so a vote is still acknowledged only once it is stored.

The child exits when the pipe closes (the arena stopped or was killed), after finishing the batch it holds. If the
child dies, the writes waiting for it fail with a StoreError and the next write starts a new child.

    python -m glassboard.store.writer_process URL [THREADS]    (the child; started by ProcessGroupCommitWriter)
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import logging
import os
import pickle
import sys
import threading
from collections.abc import Callable
from typing import Any, BinaryIO

from glassboard.store.db import StoreError
from glassboard.store.group_commit import GroupCommitWriter, _Item

log = logging.getLogger("glassboard.store")

# The store methods a client may call in the child (nothing else is reachable through the pipe).
WRITES = frozenset({"create_battle", "start_turn", "finish_turn", "fail_turn", "vote", "sync_variants",
                    "retire_variant"})
HEADER = 4  # little-endian frame length


class ProcessGroupCommitWriter:
    """`await writer.submit(store.method, *args)`: the write runs (group-committed) in a child process."""

    def __init__(self, url: str, threads: int = 2):
        self.url = url
        self.threads = threads
        self._process: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._ids = itertools.count()
        self._starting: asyncio.Lock | None = None

    async def submit(self, fn: Callable[..., Any], *args: Any) -> Any:
        name = fn.__name__
        if name not in WRITES:
            raise ValueError(f"not a store write: {name}")
        process = self._process if self._process is not None else await self._start()
        request = next(self._ids)
        future = asyncio.get_running_loop().create_future()
        self._pending[request] = future
        data = pickle.dumps((request, name, args), protocol=pickle.HIGHEST_PROTOCOL)
        assert process.stdin is not None
        process.stdin.write(len(data).to_bytes(HEADER, "little") + data)
        return await future

    async def _start(self) -> asyncio.subprocess.Process:
        if self._starting is None:
            self._starting = asyncio.Lock()
        async with self._starting:
            if self._process is None:
                self._process = await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "glassboard.store.writer_process", self.url, str(self.threads),
                    stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                )
                self._reader = asyncio.create_task(self._read(self._process), name="db-writer-process")
            return self._process

    async def _read(self, process: asyncio.subprocess.Process) -> None:
        assert process.stdout is not None
        try:
            while True:
                size = int.from_bytes(await process.stdout.readexactly(HEADER), "little")
                for request, ok, value in pickle.loads(await process.stdout.readexactly(size)):
                    future = self._pending.pop(request, None)
                    if future is None or future.done():  # the request was cancelled; the write stands
                        continue
                    if ok:
                        future.set_result(value)
                    else:
                        future.set_exception(value)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        code = await process.wait()
        if self._process is process:
            self._process = None
        error = StoreError(f"the database writer process stopped (exit code {code}); the write was not confirmed")
        for future in self._pending.values():
            if not future.done():
                future.set_exception(error)
        self._pending.clear()
        if code:
            log.error("database writer process exited with code %s", code)

    async def aclose(self) -> None:
        """Let the child finish what it was sent, then wait for it."""
        process, self._process = self._process, None
        if process is None:
            return
        assert process.stdin is not None
        process.stdin.close()
        try:
            await asyncio.wait_for(process.wait(), timeout=30)
        except TimeoutError:
            process.kill()
            await process.wait()
        if self._reader is not None:
            await self._reader


class _PipeWriter(GroupCommitWriter):
    """The child's group commit: results go back as one frame per batch."""

    def __init__(self, engine: Any, threads: int, out: BinaryIO):
        self._out = out
        self._out_lock = threading.Lock()
        super().__init__(engine, threads=threads)

    def _deliver(self, batch: list[_Item], outcomes: list[tuple[bool, Any]]) -> None:
        results = [(request, ok, value if ok else _picklable(value))
                   for (_, _, _, request), (ok, value) in zip(batch, outcomes, strict=True)]
        data = pickle.dumps(results, protocol=pickle.HIGHEST_PROTOCOL)
        with self._out_lock:
            self._out.write(len(data).to_bytes(HEADER, "little") + data)
            self._out.flush()


def _picklable(err: BaseException) -> BaseException:
    """The error itself if it survives pickling (most SQLAlchemy errors do not), else a StoreError naming it."""
    try:
        pickle.loads(pickle.dumps(err))
        return err
    except Exception:  # noqa: BLE001 - any pickling failure
        return StoreError(f"{type(err).__name__}: {err}")


def main(argv: list[str]) -> None:
    from glassboard.store.battles import Store

    url, threads = argv[0], int(argv[1]) if len(argv) > 1 else 2
    # The protocol owns the real stdout; anything printed by a library goes to stderr instead.
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    source = sys.stdin.buffer
    store = Store(url, migrate=False)
    gc.collect()
    gc.freeze()  # as in the arena: full collections scan only what the writes create
    writer = _PipeWriter(store.engine, threads, out)
    try:
        while True:
            head = source.read(HEADER)
            if len(head) < HEADER:
                break  # the arena closed the pipe (stopped or killed)
            request, name, args = pickle.loads(source.read(int.from_bytes(head, "little")))
            if name not in WRITES:
                raise SystemExit(f"writer process: refused method {name!r}")
            writer.enqueue(getattr(store, name), tuple(args), None, request)
    finally:
        writer.close()
        store.close()


if __name__ == "__main__":
    main(sys.argv[1:])
