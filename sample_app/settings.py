"""Read the KEY=VALUE app.env file that configures the app and its migrations."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

# DB_PASSWORD may legitimately be empty (trust or peer auth), so it is never required; the
# migrations share the file but neither serve HTTP nor sign tokens.
_DB_KEYS = ("DB_HOST", "DB_NAME", "DB_USER")
_APP_KEYS = ("APP_PORT", "APP_SECRET")
# The managed settings a deploy applies from the configuration repository, in settings.env
# beside app.env: this schema is what a candidate file is checked against before it goes
# live. Connection keys and secrets stay in app.env, which the repository never holds.
MANAGED_SETTINGS_FILE = "settings.env"
MANAGED_SCHEMA: dict[str, tuple[str, ...] | range] = {
    "ORDERS_ENABLED": ("true", "false"),
    "ORDER_MAX_QUANTITY": range(1, 10_001),
    "LOG_LEVEL": ("debug", "info", "warning", "error"),
}


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


def check_managed(path: str | Path) -> dict[str, str]:
    """The managed settings in a settings.env file, checked against MANAGED_SCHEMA."""
    try:
        values = parse_env_file(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read settings {path}: {exc.strerror}") from exc
    for key, value in values.items():
        allowed = MANAGED_SCHEMA.get(key)
        if allowed is None:
            known = ", ".join(MANAGED_SCHEMA)
            raise ConfigError(f"settings {path}: unknown key {key} (known: {known})")
        if isinstance(allowed, range):
            if not value.isdigit() or int(value) not in allowed:
                raise ConfigError(
                    f"settings {path}: {key}={value} is not a number from "
                    f"{allowed.start} to {allowed.stop - 1}"
                )
        elif value not in allowed:
            raise ConfigError(f"settings {path}: {key}={value} is not one of {', '.join(allowed)}")
    return values


def load(path: str | Path, *, for_app: bool = True) -> Settings:
    """Settings from an app.env file; `for_app=False` checks only what migrations need.

    The managed settings.env beside it, when present, adds the keys of MANAGED_SCHEMA; it
    can never override a connection key or the secret.
    """
    try:
        raw = parse_env_file(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror}") from exc
    managed = Path(path).with_name(MANAGED_SETTINGS_FILE)
    if for_app and managed.exists():
        raw.update(check_managed(managed))
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
