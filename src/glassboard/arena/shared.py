"""Replica mode: the arena's shared short-lived state in Redis, so any replica serves any battle.

Only used with `--redis URL`; without it nothing here runs and the hot path never touches Redis. Records (battles,
turns, votes) stay in PostgreSQL; Redis holds only what may be lost without losing a vote:

Keys start with a namespace (`gb:` plus a hash of the database URL), so arenas on different databases may share
one Redis.

* Live turns: every event of a turn in progress is appended to the Redis stream `NS:s:{battle}` with the event's
  SSE id as its stream id (`TURN-N`, so `Last-Event-ID` is an XREAD position). A replica that does not run the
  generation follows it with XREAD BLOCK. The first event of a turn replaces the stream (a battle's stream holds
  only its latest turn) and names the generating replica in `NS:o:{battle}`; streams expire `stream_ttl_s` after
  their last event. Events go out in one pipeline per event-loop turn (`_publisher`), in order.
* Failover: each replica refreshes its heartbeat key `NS:hb:{replica}` (TTL `heartbeat_ttl_s`). A reader that sees
  no new event for a heartbeat TTL and no heartbeat of the generating replica marks the battle failed with the
  store's conditional update (`status='streaming'` only; finishing and voting are conditional too, so a battle is
  never both voted and failed) and ends the stream with error events. A periodic sweep does the same for battles
  nobody is watching.
* Rate limits: token buckets in one Lua script (atomic; Redis' clock), so a voter alternating replicas has one budget.
* The leaderboard: computed by one replica at a time under a Redis lock, cached in Redis keyed by the vote count.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError, ResponseError

from glassboard.schema import GlassboardError

if TYPE_CHECKING:
    from glassboard.arena.streaming import LiveTurn

log = logging.getLogger("glassboard.arena")
RETRY_S = 0.25  # pause between attempts to publish while Redis is down

_TOKEN_BUCKETS = """
local function take(key, per_min, now)
  if per_min <= 0 then return 0 end
  local rate = per_min / 60
  local cap = math.max(per_min, 1)
  local v = redis.call('HMGET', key, 't', 'ts')
  local tokens = tonumber(v[1]) or cap
  local last = tonumber(v[2]) or now
  tokens = math.min(cap, tokens + math.max(0, now - last) * rate)
  local wait = 0
  if tokens < 1 then wait = (1 - tokens) / rate else tokens = tokens - 1 end
  redis.call('HSET', key, 't', tostring(tokens), 'ts', tostring(now))
  redis.call('EXPIRE', key, math.ceil(cap / rate) + 1)
  return wait
end
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local wait = take(KEYS[1], tonumber(ARGV[1]), now)
if wait == 0 and #KEYS > 1 then wait = take(KEYS[2], tonumber(ARGV[2]), now) end
return tostring(wait)
"""
_RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"


class SharedStateError(GlassboardError):
    """Redis is unreachable or refused a command (the message names the URL)."""


@dataclass(frozen=True)
class Stall:
    """What a reader found when a live turn made no progress: the turn and the replica that was generating it."""

    battle_id: str
    turn: int
    replica: str | None


class SharedState:
    """One replica's connection to the shared state (owned by ArenaState; started and closed by the app)."""

    def __init__(self, url: str, heartbeat_ttl_s: float = 3.0, stream_ttl_s: int = 600,
                 replica: str | None = None, namespace: str = "gb"):
        self.url = url
        self.ns = namespace  # key prefix: arenas on different databases may share one Redis
        self.replica = replica or secrets.token_hex(6)
        self.heartbeat_ttl_s = heartbeat_ttl_s
        self.stream_ttl_s = stream_ttl_s
        # redis-py's asyncio replies are typed as loose unions; this client returns bytes (decode_responses off).
        self.redis: Any = aioredis.from_url(url, socket_connect_timeout=2, socket_timeout=None, health_check_interval=0)
        self._queue: asyncio.Queue[tuple[str, int, str, bytes, bool] | None] | None = None  # None: resync
        self._tasks: list[asyncio.Task[None]] = []
        self._live: Callable[[], Iterable[LiveTurn]] = lambda: []
        self._buckets = self.redis.register_script(_TOKEN_BUCKETS)
        self._release = self.redis.register_script(_RELEASE)

    # ------------------------------------------------------------------------------------------ lifecycle
    async def start(self, sweep: Callable[[], Awaitable[None]] | None = None,
                    live: Callable[[], Iterable[LiveTurn]] | None = None) -> None:
        """Check Redis answers (clear error naming the URL otherwise), then heartbeat and publish. `live` gives
        the turns generated here: after Redis failed, their streams and owners are rebuilt from it."""
        self._live = live or (lambda: [])
        try:
            await self.redis.ping()
            await self._beat()
        except (RedisError, OSError) as err:
            raise SharedStateError(f"cannot reach Redis at {self.url}: {err}") from None
        self._queue = asyncio.Queue()
        self._tasks = [asyncio.create_task(self._publisher(), name="redis-publisher"),
                       asyncio.create_task(self._heartbeat(sweep), name="redis-heartbeat")]

    async def aclose(self) -> None:
        """Flush what is queued, stop the heartbeat (so readers elsewhere fail what this replica left), close."""
        if self._queue is not None:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._queue.join(), 5)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        with contextlib.suppress(RedisError, OSError):
            await self.redis.delete(self._heartbeat_key(self.replica))
        await self.redis.aclose()

    async def ping(self) -> None:
        await self.redis.ping()

    # ------------------------------------------------------------------------------------------ live turns
    def publish(self, live: Any, event_id: str, data: bytes, last: bool) -> None:
        """Queue one event of a turn generated here (LiveTurn.publish)."""
        if self._queue is not None:
            self._queue.put_nowait((live.battle_id, live.turn, event_id, data, last))

    async def _publisher(self) -> None:
        """Send queued events in order, one pipeline per batch. After Redis failed (it may come back empty) the
        next batch first rebuilds the stream of every turn still generated here from its whole event log, so a
        follower that resumes after the outage loses nothing; until Redis answers it tries every `RETRY_S`."""
        assert self._queue is not None
        queue = self._queue
        resync = False
        while True:
            batch = [await queue.get()]
            while not queue.empty():
                batch.append(queue.get_nowait())
            resync = resync or None in batch
            try:
                await self._send([e for e in batch if e is not None], list(self._live()) if resync else [])
                resync = False
            except (RedisError, OSError) as err:
                if not resync:
                    log.error("could not publish live events to Redis (retrying every %.2f s): %s", RETRY_S, err)
                resync = True
                await asyncio.sleep(RETRY_S)
                queue.put_nowait(None)  # try again even if no new event arrives
            finally:
                for _ in batch:
                    queue.task_done()

    async def _send(self, events: list[tuple[str, int, str, bytes, bool]], whole: list[LiveTurn]) -> None:
        """One pipeline: the turns in `whole` rebuilt from their event logs, then `events` of the other turns."""
        pipe = self.redis.pipeline(transaction=False)
        touched: set[str] = set()
        rebuilt = {self._stream_key(live.battle_id) for live in whole}
        for live in whole:
            key = self._stream_key(live.battle_id)
            pipe.delete(key)
            pipe.set(self._owner_key(live.battle_id), f"{self.replica} {live.turn}", ex=self.stream_ttl_s)
            for n, event in enumerate(list(live.events), start=1):
                data = event.split(b"\n", 1)[1]  # after the `id: TURN-N` line
                last = live.finished and n == len(live.events)
                pipe.xadd(key, {"d": data, **({"e": b"1"} if last else {})}, id=f"{live.turn}-{n}")
            touched.add(key)
        for battle_id, turn, event_id, data, last in events:
            key = self._stream_key(battle_id)
            if key in rebuilt:
                continue  # already in its rebuilt stream
            if event_id.endswith("-1"):  # a new turn: the stream holds only the latest one
                pipe.delete(key)
                pipe.set(self._owner_key(battle_id), f"{self.replica} {turn}", ex=self.stream_ttl_s)
            pipe.xadd(key, {"d": data, **({"e": b"1"} if last else {})}, id=event_id)
            touched.add(key)
        for key in touched:
            pipe.expire(key, self.stream_ttl_s)
        for reply in await pipe.execute(raise_on_error=False):
            if isinstance(reply, ResponseError):
                log.error("Redis refused a live event: %s", reply)

    async def follow(self, battle_id: str, last_event_id: str | None, on_stall: Callable[[Stall], Awaitable[bytes]],
                     ) -> AsyncIterator[bytes]:
        """The events of `battle_id`'s turn in progress after `last_event_id`, followed live from Redis. When no
        event arrives for a heartbeat TTL and the generating replica's heartbeat is gone, `on_stall` decides
        the end (fails the battle) and its events are the last ones sent."""
        key, position = self._stream_key(battle_id), last_event_id or "0-0"
        block_ms = max(100, int(self.heartbeat_ttl_s * 1000))
        while True:
            try:
                reply = await self.redis.xread({key: position}, count=1000, block=block_ms)
            except (RedisError, OSError) as err:
                # The response has started: end it; the client reconnects with its Last-Event-ID and gets a 503
                # until Redis answers again, then continues where it stopped.
                log.error("Redis failed while following battle %s (the client will reconnect): %s", battle_id, err)
                return
            if reply:
                entries = reply[0][1]
                position = entries[-1][0].decode()
                yield b"".join(b"id: " + eid + b"\n" + fields[b"d"] for eid, fields in entries)
                if b"e" in entries[-1][1]:
                    return
                continue
            stall = await self.stalled(battle_id)
            if stall is not None:
                yield await on_stall(stall)
                return

    async def stalled(self, battle_id: str) -> Stall | None:
        """The turn in progress when its generating replica has no heartbeat (or is unknown), else None."""
        owner = await self.redis.get(self._owner_key(battle_id))
        if owner is None:
            return Stall(battle_id, -1, None)
        replica, _, turn = owner.decode().partition(" ")
        if await self.redis.exists(self._heartbeat_key(replica)):
            return None
        return Stall(battle_id, int(turn or 0), replica)

    async def dead_owners(self, battle_ids: list[str]) -> list[Stall]:
        """Of these battles (streaming in the store), those whose generating replica is gone or unknown."""
        if not battle_ids:
            return []
        owners = await self.redis.mget([self._owner_key(b) for b in battle_ids])
        replicas = sorted({o.decode().partition(" ")[0] for o in owners if o is not None})
        alive = dict(zip(replicas, await self.redis.mget([self._heartbeat_key(r) for r in replicas]) if replicas
                         else [], strict=True))
        out = []
        for battle_id, owner in zip(battle_ids, owners, strict=True):
            replica, _, turn = (owner.decode() if owner else "").partition(" ")
            if owner is None or alive.get(replica) is None:
                out.append(Stall(battle_id, int(turn or -1), replica or None))
        return out

    async def _beat(self) -> None:
        await self.redis.set(self._heartbeat_key(self.replica), b"1", px=int(self.heartbeat_ttl_s * 1000))

    async def _heartbeat(self, sweep: Callable[[], Awaitable[None]] | None) -> None:
        beats, failed = 0, False
        while True:
            await asyncio.sleep(self.heartbeat_ttl_s / 3)
            beats += 1
            try:
                await self._beat()
                if failed and self._queue is not None:  # Redis is back, perhaps empty: rebuild our live streams
                    self._queue.put_nowait(None)
                failed = False
                if sweep is not None and beats % 15 == 0 and await self.try_lock("sweep", 5):
                    await sweep()
            except (RedisError, OSError) as err:
                failed = True
                log.error("Redis heartbeat failed (%s): other replicas will fail this replica's live battles", err)
            except Exception:  # noqa: BLE001 - a sweep bug must not stop the heartbeat
                log.exception("sweep of stalled battles failed")

    # ------------------------------------------------------------------------------------------ rate limits
    async def take(self, action: str, voter: str, ip: str | None, per_voter: float, per_ip: float) -> float:
        """0.0 if the event is allowed (and counted in both buckets), else the seconds to wait."""
        keys = [f"{self.ns}:rl:{action}:v:{voter}"] + ([f"{self.ns}:rl:{action}:ip:{ip}"] if ip else [])
        return float(await self._buckets(keys=keys, args=[per_voter, per_ip]))

    # ------------------------------------------------------------------------------------------ locks and cache
    async def try_lock(self, name: str, ttl_s: float) -> str | None:
        """A token if this replica took the lock `name` (expires after ttl_s), else None."""
        token = secrets.token_hex(8)
        return token if await self.redis.set(f"{self.ns}:lock:{name}", token, nx=True, px=int(ttl_s * 1000)) else None

    async def unlock(self, name: str, token: str) -> None:
        await self._release(keys=[f"{self.ns}:lock:{name}"], args=[token])

    async def cached(self, key: str) -> dict[str, Any] | None:
        raw = await self.redis.get(f"{self.ns}:cache:{key}")
        return json.loads(raw) if raw else None

    async def cache(self, key: str, value: dict[str, Any], ttl_s: int = 3600) -> None:
        await self.redis.set(f"{self.ns}:cache:{key}", json.dumps(value, separators=(",", ":")), ex=ttl_s)

    async def shared_value(self, key: str, compute: Callable[[], Awaitable[dict[str, Any]]],
                           wait_s: float = 30.0) -> dict[str, Any]:
        """`key` from the cache, else computed by exactly one replica (the others wait for its result)."""
        deadline = time.monotonic() + wait_s
        while True:
            hit = await self.cached(key)
            if hit is not None:
                return hit
            token = await self.try_lock(key, wait_s)
            if token is not None:
                try:
                    value = await compute()
                    await self.cache(key, value)
                    return value
                finally:
                    await self.unlock(key, token)
            if time.monotonic() > deadline:
                return await compute()  # the holder is stuck: compute here rather than fail the page
            await asyncio.sleep(0.05)

    def _stream_key(self, battle_id: str) -> str:
        return f"{self.ns}:s:{battle_id}"

    def _owner_key(self, battle_id: str) -> str:
        return f"{self.ns}:o:{battle_id}"

    def _heartbeat_key(self, replica: str) -> str:
        return f"{self.ns}:hb:{replica}"


def check_reachable(url: str) -> None:
    """Raise SharedStateError naming `url` unless a Redis answers there (at start, before serving anything)."""
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    try:
        client.ping()
    except (RedisError, OSError, ValueError) as err:
        raise SharedStateError(f"cannot reach Redis at {url}: {err}") from None
    finally:
        client.close()
