"""Read the KEY=VALUE app.env file that configures the app and its migrations."""

from __future__ import annotations

import os
import re
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
Allowed = tuple[str, ...] | range | re.Pattern[str]
MANAGED_SCHEMA: dict[str, Allowed] = {
    "ORDERS_ENABLED": ("true", "false"),
    "ORDER_MAX_QUANTITY": range(1, 10_001),
    "LOG_LEVEL": ("debug", "info", "warning", "error"),
}
# Third-party integrations, one file per provider under integrations/ beside app.env: the API
# version the app pins, where the provider answers, and the client code's version. The schema
# checks their form; whether the provider accepts a pin only the provider can say, which is
# what the integration checks after a change ask it.
INTEGRATIONS_FOLDER = "integrations"
INTEGRATION_SERVICES = ("payment", "email", "push")
_VERSION_PIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,31}")
_ENDPOINT = re.compile(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~/-]*)?")
_CLIENT_VERSION = re.compile(r"[0-9]+\.[0-9]+\.[0-9]+")


def integration_schema(service: str) -> dict[str, Allowed]:
    prefix = service.upper()
    return {
        f"{prefix}_API_VERSION": _VERSION_PIN,
        f"{prefix}_ENDPOINT": _ENDPOINT,
        f"{prefix}_CLIENT_VERSION": _CLIENT_VERSION,
    }


@dataclass(frozen=True)
class Integration:
    service: str
    api_version: str
    endpoint: str
    client_version: str


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
    # The third-party providers the app calls, by service; one without a file is not called.
    integrations: dict[str, Integration]

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


def schema_for(path: str | Path) -> dict[str, Allowed]:
    """The schema of a managed file, by its name: settings.env, or <service>.env of an
    integration (a candidate is checked under the name it will have)."""
    name = Path(path).name
    service = name.removesuffix(".env")
    if name != MANAGED_SETTINGS_FILE and service in INTEGRATION_SERVICES:
        return integration_schema(service)
    return MANAGED_SCHEMA


def check_managed(path: str | Path) -> dict[str, str]:
    """The managed settings in a settings.env or integration file, checked against its schema."""
    try:
        values = parse_env_file(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read settings {path}: {exc.strerror}") from exc
    schema = schema_for(path)
    for key, value in values.items():
        allowed = schema.get(key)
        if allowed is None:
            known = ", ".join(schema)
            raise ConfigError(f"settings {path}: unknown key {key} (known: {known})")
        if isinstance(allowed, re.Pattern):
            if not allowed.fullmatch(value):
                raise ConfigError(f"settings {path}: {key}={value!r} is not a valid value")
        elif isinstance(allowed, range):
            if not value.isdigit() or int(value) not in allowed:
                raise ConfigError(
                    f"settings {path}: {key}={value} is not a number from "
                    f"{allowed.start} to {allowed.stop - 1}"
                )
        elif value not in allowed:
            raise ConfigError(f"settings {path}: {key}={value} is not one of {', '.join(allowed)}")
    if schema is not MANAGED_SCHEMA and set(values) != set(schema):
        missing = ", ".join(sorted(set(schema) - set(values)))
        raise ConfigError(f"settings {path}: an integration needs {missing} too")
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
    integrations = {}
    for service in INTEGRATION_SERVICES if for_app else ():
        file = Path(path).parent / INTEGRATIONS_FOLDER / f"{service}.env"
        if file.exists():
            values = check_managed(file)
            prefix = service.upper()
            integrations[service] = Integration(
                service=service,
                api_version=values[f"{prefix}_API_VERSION"],
                endpoint=values[f"{prefix}_ENDPOINT"],
                client_version=values[f"{prefix}_CLIENT_VERSION"],
            )
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
        integrations=integrations,
    )
