"""Arena settings: database, limits, sampler and admin token (from CLI flags and GLASSBOARD_* variables)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from glassboard.store.db import DEFAULT_URL


@dataclass
class Settings:
    """Everything `create_app` needs; no module-level state, so tests build as many apps as they like."""

    db_url: str = DEFAULT_URL
    sqlite_sync: str = "full"  # full | normal (see glassboard.store.db.SQLITE_SYNC_MODES)
    registry: Any = None  # glassboard.models.Registry; None loads ./glassboard.toml or the built-in variants
    config_path: str | None = None
    admin_token: str | None = None  # admin API disabled when unset
    secret_key: str | None = None  # keys voter cookies and IP hashes; default: the key file (secret_file below)
    max_prompt_chars: int = 30_000
    max_turns: int = 10
    # Token buckets: sustained events per minute (0 = no limit); bursts up to the same number.
    create_per_min_voter: float = 30
    create_per_min_ip: float = 120
    vote_per_min_voter: float = 30
    vote_per_min_ip: float = 120
    sampler: str = "uniform"  # uniform | uncertainty
    exploration: float = 0.2  # uncertainty mode: share of battles still drawn uniformly
    exposure_caps: dict[str, float] = field(default_factory=dict)  # variant name -> max share of battles
    default_cap: float | None = None  # cap for variants not named in exposure_caps
    cap_min_battles: int = 20  # caps apply once this many battles were sampled
    generation: dict[str, Any] = field(default_factory=dict)  # sampling overrides for every answer
    secure_cookies: bool = False  # set the Secure flag (serve over HTTPS)
    seed: int | None = None  # sampler seed (tests)
    # --- arena content (answer limits, identity guard, admin allow-lists) ------------------------------------
    # An answer is cut off past answer_token_margin x max_tokens (+16) chunks or max_answer_bytes (streaming.py).
    answer_token_margin: float = 1.25
    max_answer_bytes: int = 256 * 1024
    identity_terms: tuple[str, ...] = ()  # extra family/vendor files (TOML, as glassboard/arena/identity_terms.toml)
    admin_key_envs: tuple[str, ...] = ()  # env variables admin-added variants may name (plus GLASSBOARD_KEY_*)
    models_dir: str | None = None  # admin-added llama_cpp variants load weights only from under this directory
    allow_private_endpoints: bool = False  # let admin-added variants use link-local/metadata hosts, URL credentials

    # --- HTTP security (arena/http.py, arena/server.py; docs/arena.md "Threat model") ---
    # Key for voter cookies and IP hashes, outside the database: GLASSBOARD_SECRET (secret_key), else this file,
    # created 0600 on first start; default: beside the SQLite file (DB.secret), else ./glassboard.secret.
    secret_file: str | None = None
    reports_dir: str | None = None  # published reports served read-only at /reports (None: the page says so)
    public_origins: tuple[str, ...] = ()  # origins besides the request's own allowed to POST (a TLS proxy's URL)
    forwarded_allow_ips: str | None = None  # proxies trusted for X-Forwarded-For/-Proto; None: headers ignored
    public_delay_s: float = 900.0  # failed battles enter the public counts this long after they were created
    max_header_bytes: int = 32 * 1024  # request line + headers; more: 431
    header_timeout_s: float = 10.0  # a client must send its whole request head within this time
    body_timeout_s: float = 30.0  # ... and its whole body within this time after the head

    # --- replicas (arena/shared.py, docs/deploy.md) ---
    redis_url: str | None = None  # set: replica mode (live turns, rate limits, leaderboard shared in Redis)
    heartbeat_ttl_s: float = 3.0  # a replica silent this long is dead: readers fail the battles it was generating
    stale_after_s: float = 60.0  # the sweep fails battles streaming this long whose replica is gone
    drain_s: float = 20.0  # at shutdown, let turns in progress finish for up to this long before cancelling them
    workers: int = 1  # processes sharing the port (needs PostgreSQL and Redis when > 1)

    @classmethod
    def from_env(cls, **overrides: Any) -> Settings:
        """Defaults, then GLASSBOARD_ADMIN_TOKEN / GLASSBOARD_SECRET, then explicit (non-None) overrides."""
        values: dict[str, Any] = {
            "admin_token": os.environ.get("GLASSBOARD_ADMIN_TOKEN") or None,
            "secret_key": os.environ.get("GLASSBOARD_SECRET") or None,
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def check(self) -> None:
        """Reject impossible values with a clear message."""
        from glassboard.models.types import ConfigError
        from glassboard.store.db import SQLITE_SYNC_MODES

        if self.sqlite_sync not in SQLITE_SYNC_MODES:
            raise ConfigError(f"sqlite_sync must be one of {', '.join(SQLITE_SYNC_MODES)}, got {self.sqlite_sync!r}")
        if self.max_prompt_chars < 1:
            raise ConfigError("max_prompt_chars must be at least 1")
        if self.sampler not in ("uniform", "uncertainty"):
            raise ConfigError(f"sampler must be 'uniform' or 'uncertainty', got {self.sampler!r}")
        if not 0 <= self.exploration <= 1:
            raise ConfigError("exploration must be between 0 and 1")
        for name, cap in {**self.exposure_caps, "default": self.default_cap or 1}.items():
            if not 0 < cap <= 1:
                raise ConfigError(f"exposure cap of {name!r} must be a share in (0, 1], got {cap!r}")
        if self.max_header_bytes < 1024 or self.header_timeout_s <= 0 or self.body_timeout_s <= 0 \
                or self.public_delay_s < 0:
            raise ConfigError("max_header_bytes must be >= 1024, header_timeout_s and body_timeout_s > 0, and "
                              "public_delay_s >= 0")
        for origin in self.public_origins:
            if not origin.startswith(("http://", "https://")) or origin.rstrip("/").count("/") != 2:
                raise ConfigError(f"public origin must look like https://host[:port], got {origin!r}")
        for name in ("create_per_min_voter", "create_per_min_ip", "vote_per_min_voter", "vote_per_min_ip"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0 (0 turns the limit off)")
        missing = [what for what, ok in (("PostgreSQL (--db postgresql+psycopg://...)",
                                          self.db_url.startswith("postgresql")),
                                         ("Redis (--redis redis://HOST:PORT/DB)", bool(self.redis_url))) if not ok]
        if self.workers > 1 and missing:
            raise ConfigError(f"--workers {self.workers} runs processes that share nothing in memory, so it needs "
                              f"{' and '.join(missing)}; missing: {', '.join(m.split(' (')[0] for m in missing)}")
        if self.workers < 1:
            raise ConfigError(f"workers must be at least 1, got {self.workers}")
        if self.redis_url is not None and not self.redis_url.startswith(("redis://", "rediss://", "unix://")):
            raise ConfigError(f"--redis expects redis://HOST:PORT/DB, got {self.redis_url!r}")
        if self.redis_url is not None and self.db_url.startswith("sqlite"):
            raise ConfigError("--redis shares live state between replicas, which must share one database: use "
                              "PostgreSQL (--db postgresql+psycopg://...), not SQLite")
        if self.heartbeat_ttl_s <= 0 or self.stale_after_s <= self.heartbeat_ttl_s:
            raise ConfigError("heartbeat_ttl_s must be > 0 and stale_after_s larger than it")
        if self.answer_token_margin < 1:
            raise ConfigError(f"answer_token_margin must be at least 1, got {self.answer_token_margin!r}")
        if self.max_answer_bytes < 1024:
            raise ConfigError(f"max_answer_bytes must be at least 1024, got {self.max_answer_bytes!r}")
