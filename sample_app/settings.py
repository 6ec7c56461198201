"""Read the KEY=VALUE app.env file that configures the app and its migrations."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

# DB_PASSWORD may legitimately be empty (trust or peer auth), so it is never required; the
# migrations share the file but neither serve HTTP nor sign tokens.
_DB_KEYS = ("DB_HOST", "DB_NAME", "DB_USER")
_APP_KEYS = ("APP_PORT", "APP_SECRET")


class ConfigError(Exception):
    """The config file is missing, unreadable or lacks a key; the message is one line."""


@dataclass(frozen=True)
class Settings:
    bind: str
    port: int
    db_host: str
    db_port: int
    db_name: str
    db_user: str
    db_password: str
    secret: str
    raw: dict[str, str]

    def get(self, key: str, default: str) -> str:
        """A setting from the environment first, then the file, then the default."""
        return os.environ.get(key) or self.raw.get(key) or default


def parse_env_file(text: str) -> dict[str, str]:
    """KEY=VALUE lines; blank lines and # comments are skipped, matching quotes are stripped."""
    values: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.removeprefix("export ").partition("=")
        if not sep:
            raise ConfigError(f"line {number} is not KEY=VALUE: {line!r}")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key.strip()] = value
    return values


def load(path: str | Path, *, for_app: bool = True) -> Settings:
    """Settings from an app.env file; `for_app=False` checks only what migrations need."""
    try:
        raw = parse_env_file(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror}") from exc
    required = (*_DB_KEYS, *_APP_KEYS) if for_app else _DB_KEYS
    missing = [key for key in required if not raw.get(key)]
    if missing:
        raise ConfigError(f"config {path} lacks {', '.join(missing)}")
    try:
        port = int(raw.get("APP_PORT") or 0)
        db_port = int(raw.get("DB_PORT") or 5432)
    except ValueError as exc:
        raise ConfigError(f"config {path}: APP_PORT and DB_PORT must be numbers") from exc
    return Settings(
        bind=raw.get("APP_BIND") or "127.0.0.1",
        port=port,
        db_host=raw["DB_HOST"],
        db_port=db_port,
        db_name=raw["DB_NAME"],
        db_user=raw["DB_USER"],
        db_password=raw.get("DB_PASSWORD", ""),
        secret=raw.get("APP_SECRET", ""),
        raw=raw,
    )
