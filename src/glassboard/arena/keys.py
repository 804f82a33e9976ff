"""The arena's secret key, kept outside the database: a database leak must not let anyone forge voter cookies or
test guessed IP addresses against the stored IP hashes. Owns where the key lives and how it is created."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import stat
from pathlib import Path

from sqlalchemy.engine import make_url

from glassboard.schema import GlassboardError


class KeyFileError(GlassboardError):
    """The key file cannot be read, created, or is readable by other users."""


def default_key_path(db_url: str) -> Path:
    """Beside a SQLite database file (`arena.db.secret`); ./glassboard.secret for other databases."""
    url = make_url(db_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        return Path(url.database + ".secret")
    return Path("glassboard.secret")


def load_or_create_key(path: Path) -> str:
    """The key in `path`; on first start a new random key is written there with mode 0600."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_key(path)
    except OSError as err:
        raise KeyFileError(f"cannot create the key file {path}: {err.strerror}") from None
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_hex(32) + "\n")
    return _read_key(path)


def _read_key(path: Path) -> str:
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as err:
        raise KeyFileError(f"cannot read the key file {path}: {err}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyFileError(f"the key file {path} is readable by other users (mode {stat.S_IMODE(mode):o}): "
                           f"run `chmod 600 {path}`")
    if len(text) < 32:
        raise KeyFileError(f"the key file {path} holds {len(text)} characters; a key has at least 32 "
                           "(delete the file to have a new one created)")
    return text


def derive_key(secret: str, purpose: str) -> str:
    """A key for one purpose (e.g. IP hashing) from the arena's secret, so no two uses share a key."""
    return hmac.new(secret.encode(), purpose.encode(), hashlib.sha256).hexdigest()
