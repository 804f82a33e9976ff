"""Vote integrity: signed voter cookies (itsdangerous), voter pseudonyms, salted IP hashes, token-bucket limits."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass, field

from itsdangerous import BadSignature, URLSafeSerializer

COOKIE = "glassboard_voter"


class VoterCookies:
    """Issue and verify the voter cookie; the stored voter column is a keyed hash of the cookie's id."""

    # Verified cookies and pseudonyms are memoised (both are pure functions of the secret): every request
    # verifies its cookie and most compute a pseudonym; the caches are cleared when they reach this size.
    CACHE_SIZE = 100_000

    def __init__(self, secret: str):
        self._serializer = URLSafeSerializer(secret, salt="glassboard-voter")
        self._key = hashlib.sha256(("pseudonym:" + secret).encode()).digest()
        self._verified: dict[str, str] = {}
        self._pseudonyms: dict[str, str] = {}

    def new(self) -> tuple[str, str]:
        """A fresh (voter id, signed cookie value)."""
        voter_id = secrets.token_urlsafe(16)
        return voter_id, self._serializer.dumps(voter_id)

    def verify(self, value: str | None) -> str | None:
        """The voter id in a cookie value, or None if it is missing, malformed or forged."""
        if not value or len(value) > 200:
            return None
        voter_id = self._verified.get(value)
        if voter_id is not None:
            return voter_id
        try:
            voter_id = self._serializer.loads(value)
        except BadSignature:
            return None
        if not isinstance(voter_id, str):
            return None
        if len(self._verified) >= self.CACHE_SIZE:
            self._verified.clear()
        self._verified[value] = voter_id
        return voter_id

    def pseudonym(self, voter_id: str) -> str:
        """The name stored with battles and exported as `voter` (not reversible to the cookie)."""
        name = self._pseudonyms.get(voter_id)
        if name is None:
            name = "v-" + hmac.new(self._key, voter_id.encode(), hashlib.sha256).hexdigest()[:20]
            if len(self._pseudonyms) >= self.CACHE_SIZE:
                self._pseudonyms.clear()
            self._pseudonyms[voter_id] = name
        return name


def ip_hash(ip: str | None, salt: str) -> str | None:
    """Salted hash of a client address; the address itself is never stored."""
    if not ip:
        return None
    return hmac.new(salt.encode(), ip.encode(), hashlib.sha256).hexdigest()[:32]


@dataclass
class RateLimiter:
    """In-memory token buckets keyed by (action, who): `per_min` sustained, bursts of `per_min` (0 = off)."""

    max_keys: int = 200_000
    _buckets: dict[tuple[str, str], tuple[float, float]] = field(default_factory=dict)

    def allow(self, key: tuple[str, str], per_min: float, now: float | None = None) -> float:
        """0.0 if the event is allowed (and counted), else the seconds to wait."""
        if per_min <= 0:
            return 0.0
        now = time.monotonic() if now is None else now
        rate, capacity = per_min / 60.0, max(per_min, 1.0)
        tokens, last = self._buckets.get(key, (capacity, now))
        tokens = min(capacity, tokens + (now - last) * rate)
        if tokens < 1.0:
            self._buckets[key] = (tokens, now)
            return (1.0 - tokens) / rate
        self._buckets[key] = (tokens - 1.0, now)
        if len(self._buckets) > self.max_keys:
            self._prune(now)
        return 0.0

    async def take(self, action: str, voter: str, ip: str | None, per_voter: float, per_ip: float) -> float:
        """The limiter interface `http.check_rate` uses (shared.SharedState has the same one, in Redis)."""
        wait = self.allow((action, voter), per_voter)
        if not wait and ip:
            wait = self.allow((action + "-ip", ip), per_ip)
        return wait

    def _prune(self, now: float) -> None:
        """Forget the oldest half of the buckets (full buckets are equivalent to no entry)."""
        keep = sorted(self._buckets.items(), key=lambda kv: kv[1][1])[len(self._buckets) // 2:]
        self._buckets = dict(keep)
