"""CLI commands of glassboard.arena: `glassboard serve`, `glassboard battles export|import`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from glassboard.cli.console import ConfigOption, clean_errors, fail, load_registry, stdout
from glassboard.cli.judge import categorize_command

DbOption = Annotated[str, typer.Option("--db", help="Database URL: sqlite:///FILE or postgresql+psycopg://...")]


def register(app: typer.Typer) -> None:
    """Add this area's commands to the root app."""
    app.command("serve")(serve_command)
    battles = typer.Typer(help="Export and import the arena's battles (LMArena schema).", no_args_is_help=True)
    battles.command("export")(export_command)
    battles.command("import")(import_command)
    battles.command("categorize")(categorize_command)  # issue 15: prompt categories (cli/judge.py)
    app.add_typer(battles, name="battles")


def serve_command(
    db: DbOption = "sqlite:///glassboard.db",
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    config: ConfigOption = None,
    admin_token: Annotated[str | None, typer.Option(
        help="Token for the admin API (default: $GLASSBOARD_ADMIN_TOKEN; unset = admin API off).")] = None,
    max_prompt_chars: Annotated[int, typer.Option(help="Longest accepted prompt, in characters.")] = 30_000,
    rate_limit: Annotated[float | None, typer.Option(
        help="Battles and votes per minute per voter (4x that per IP); 0 turns rate limits off.")] = None,
    sampler: Annotated[str, typer.Option(help="Pair sampler: uniform or uncertainty.")] = "uniform",
    cap: Annotated[list[str] | None, typer.Option(
        help="Exposure cap NAME=SHARE (e.g. smollm2-135m=0.6); '*=SHARE' caps every variant.")] = None,
    max_tokens: Annotated[int | None, typer.Option(help="Override every variant's max_tokens.")] = None,
    sqlite_sync: Annotated[str, typer.Option(
        help="SQLite durability: 'full' (a vote survives a power cut; default) or 'normal' (survives a crash of "
             "this process, not of the machine; no fsync per commit).")] = "full",
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
    # --- arena content: answer limits, identity guard, admin allow-lists (see arena/streaming, guard, admin) ---
    max_answer_bytes: Annotated[int, typer.Option(
        help="Cut an answer off past this many bytes (the battle fails).")] = 256 * 1024,
    answer_token_margin: Annotated[float, typer.Option(
        help="Cut an answer off past this many times its max_tokens (+16) chunks.")] = 1.25,
    identity_terms: Annotated[list[Path] | None, typer.Option(
        help="TOML file of extra model families/vendors for the identity guard (repeatable).")] = None,
    admin_key_env: Annotated[list[str] | None, typer.Option(
        help="Environment variable admin-added variants may use as api_key_env (repeatable; "
             "GLASSBOARD_KEY_* always allowed).")] = None,
    models_dir: Annotated[Path | None, typer.Option(
        help="Directory admin-added llama_cpp variants may load weights from.")] = None,
    allow_private_endpoints: Annotated[bool, typer.Option(
        help="Let admin-added variants use link-local/metadata hosts and credentials in URLs.")] = False,
    # --- HTTP security (arena/http.py, arena/server.py) ---
    secret_file: Annotated[Path | None, typer.Option(
        help="Key file for voter cookies and IP hashes, created 0600 on first start (default: beside the SQLite "
             "file, DB.secret, else ./glassboard.secret; $GLASSBOARD_SECRET overrides it).")] = None,
    public_origin: Annotated[list[str] | None, typer.Option(
        help="Origin the arena is reached at besides its own address (e.g. https://arena.example behind a TLS "
             "proxy); repeatable. Browser requests from any other origin may not change anything.")] = None,
    forwarded_allow_ips: Annotated[str | None, typer.Option(
        help="Comma-separated proxy addresses trusted for X-Forwarded-For/-Proto (default: none, the headers are "
             "ignored).")] = None,
    reports: Annotated[Path | None, typer.Option(
        "--reports", help="Directory of published reports (glassboard report), served read-only at /reports and "
                          "linked from the transparency page (default: none; /reports says so).")] = None,
    # --- replicas (arena/shared.py, docs/deploy.md) ---
    redis: Annotated[str | None, typer.Option(
        "--redis", help="Redis URL (redis://HOST:PORT/DB): replica mode, live turns, rate limits and the "
                        "leaderboard shared by every arena process on the same PostgreSQL database.")] = None,
    workers: Annotated[int, typer.Option(
        help="Processes sharing the port (needs --db postgresql+psycopg://... and --redis).")] = 1,
) -> None:
    """Serve the arena: blind battles, votes, leaderboard and transparency pages (http://HOST:PORT)."""
    import uvicorn

    from glassboard.arena.app import create_app
    from glassboard.arena.server import serve_workers, uvicorn_config
    from glassboard.arena.settings import Settings
    from glassboard.arena.shared import SharedStateError
    from glassboard.store.db import StoreError

    with clean_errors():
        registry = load_registry(config)
        caps, default_cap = _parse_caps(cap or [])
        overrides = {
            "db_url": db, "sqlite_sync": sqlite_sync, "registry": registry, "admin_token": admin_token,
            "max_prompt_chars": max_prompt_chars,
            "sampler": sampler, "exposure_caps": caps, "default_cap": default_cap,
            "generation": {"max_tokens": max_tokens} if max_tokens else {},
            "secret_file": str(secret_file) if secret_file else None,
            "public_origins": tuple(public_origin or ()), "forwarded_allow_ips": forwarded_allow_ips,
            "redis_url": redis, "workers": workers,
        }
        if reports is not None:
            if not reports.is_dir():
                fail(f"--reports: not a directory: {reports}")
            overrides["reports_dir"] = str(reports.resolve())
        overrides.update(  # arena content
            max_answer_bytes=max_answer_bytes, answer_token_margin=answer_token_margin,
            identity_terms=tuple(str(f) for f in identity_terms or ()), admin_key_envs=tuple(admin_key_env or ()),
            models_dir=str(models_dir) if models_dir else None, allow_private_endpoints=allow_private_endpoints,
        )
        if rate_limit is not None:
            overrides.update(create_per_min_voter=rate_limit, vote_per_min_voter=rate_limit,
                             create_per_min_ip=4 * rate_limit, vote_per_min_ip=4 * rate_limit)
        try:
            settings = Settings.from_env(**overrides)
            app = create_app(settings)  # with --workers: checks and migrates once here; each worker builds its own
        except (StoreError, SharedStateError) as err:
            fail(str(err))
        except Exception as err:  # noqa: BLE001 - a database that is down or refuses us: one clear line
            if type(err).__module__.startswith("sqlalchemy"):
                fail(f"cannot open the database {db}: {err.__class__.__name__}: {str(err).splitlines()[0]}")
            raise
        stdout().print(f"glassboard arena on [bold]http://{host}:{port}[/] · database {db} · "
                       f"{len(registry.active())} active variant(s)"
                       + (f" · Redis {redis} · {workers} worker(s)" if redis else ""), highlight=False)
        if workers > 1:
            app.state.arena.store.close()
            serve_workers(settings, host, port, log_level)
            return
        uvicorn.Server(uvicorn_config(app, settings, host, port, log_level)).run()


def _parse_caps(items: list[str]) -> tuple[dict[str, float], float | None]:
    caps: dict[str, float] = {}
    default = None
    for item in items:
        name, sep, value = item.partition("=")
        try:
            share = float(value)
        except ValueError:
            share = -1.0
        if not sep or not name or not 0 < share <= 1:
            fail(f"--cap expects NAME=SHARE with a share in (0, 1], got {item!r}")
        if name == "*":
            default = share
        else:
            caps[name] = share
    return caps, default


def export_command(
    out: Annotated[Path, typer.Option("--out", "-o", help="Output file: .jsonl, .json or .parquet.")],
    db: DbOption = "sqlite:///glassboard.db",
) -> None:
    """Write every voted battle in the LMArena schema (flagged ones included, with their flags)."""
    from glassboard.rating.errors import RatingError
    from glassboard.store.battles import Store
    from glassboard.store.db import StoreError

    with clean_errors():
        try:
            store = Store(db)
            n = store.export(str(out))
            store.close()
        except (StoreError, RatingError) as err:
            fail(str(err))
        stdout().print(f"wrote {n} battle(s) to {out}")


def import_command(
    path: Annotated[Path, typer.Argument(help="Battle file (.jsonl, .json or .parquet, LMArena schema).")],
    db: DbOption = "sqlite:///glassboard.db",
    skip_invalid: Annotated[bool, typer.Option(help="Skip invalid rows (with a warning) instead of failing.")] = False,
) -> None:
    """Add battles from a file to the store (source 'import', or 'judge' for `judge run --out` battles, shown on
    their own board); rows already stored are skipped."""
    from glassboard.rating.errors import RatingError
    from glassboard.store.battles import Store
    from glassboard.store.db import StoreError

    with clean_errors():
        try:
            store = Store(db)
            imported, skipped = store.import_file(str(path), on_invalid="skip" if skip_invalid else "error")
            store.close()
        except (StoreError, RatingError) as err:
            fail(str(err))
        note = f", {skipped} already stored" if skipped else ""
        stdout().print(f"imported {imported} battle(s) from {path}{note}")
