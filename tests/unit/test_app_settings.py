"""The sample app's managed settings (settings.env): the schema a candidate is checked against."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest

# The app's own module, as a release ships it (the app imports it as a top-level module).
_SPEC = importlib.util.spec_from_file_location(
    "sample_app_settings", Path(__file__).resolve().parents[2] / "sample_app" / "settings.py"
)
assert _SPEC is not None and _SPEC.loader is not None
settings = importlib.util.module_from_spec(_SPEC)
# dataclasses look their module up while the class is made.
sys.modules[_SPEC.name] = settings
_SPEC.loader.exec_module(settings)

APP_ENV = "APP_PORT=8000\nAPP_SECRET=s\nDB_HOST=db\nDB_NAME=market\nDB_USER=market\n"


def write(tmp_path: Path, app_env: str, managed: str | None) -> Path:
    (tmp_path / "app.env").write_text(app_env)
    if managed is not None:
        (tmp_path / "settings.env").write_text(managed)
    return tmp_path / "app.env"


def test_managed_settings_join_the_apps_settings(tmp_path: Path) -> None:
    path = write(tmp_path, APP_ENV, "ORDERS_ENABLED=false\nORDER_MAX_QUANTITY=5\n")
    loaded = settings.load(path)
    assert loaded.get("ORDERS_ENABLED", "true") == "false"
    assert loaded.get("ORDER_MAX_QUANTITY", "") == "5"


def test_without_settings_env_the_app_starts_on_its_defaults(tmp_path: Path) -> None:
    loaded = settings.load(write(tmp_path, APP_ENV, None))
    assert loaded.get("ORDERS_ENABLED", "true") == "true"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("DB_HOST=elsewhere\n", "unknown key DB_HOST"),
        ("ORDERS_ENABLED=maybe\n", "ORDERS_ENABLED=maybe is not one of true, false"),
        ("ORDER_MAX_QUANTITY=0\n", "is not a number from 1 to 10000"),
        ("ORDER_MAX_QUANTITY=-3\n", "is not a number from 1 to 10000"),
        ("LOG_LEVEL\n", "is not KEY=VALUE"),
    ],
    ids=["connection-key", "choice", "zero", "negative", "not-key-value"],
)
def test_a_bad_settings_file_is_refused_naming_the_problem(
    tmp_path: Path, text: str, problem: str
) -> None:
    path = write(tmp_path, APP_ENV, text)
    with pytest.raises(settings.ConfigError, match=problem):
        settings.check_managed(tmp_path / "settings.env")
    # The app refuses to start on it too: the check and the start read the same schema.
    with pytest.raises(settings.ConfigError, match=problem):
        settings.load(path)


PAYMENT = (
    "PAYMENT_API_VERSION=2025-03-31\nPAYMENT_ENDPOINT=http://127.0.0.1:9/\n"
    "PAYMENT_CLIENT_VERSION=4.2.0\n"
)


def write_integration(tmp_path: Path, service: str, text: str) -> Path:
    folder = tmp_path / "integrations"
    folder.mkdir(exist_ok=True)
    (folder / f"{service}.env").write_text(text)
    return folder / f"{service}.env"


def test_an_integration_file_gives_the_app_its_provider(tmp_path: Path) -> None:
    path = write(tmp_path, APP_ENV, None)
    write_integration(tmp_path, "payment", PAYMENT)
    payment = settings.load(path).integrations["payment"]
    assert (payment.api_version, payment.endpoint, payment.client_version) == (
        "2025-03-31",
        "http://127.0.0.1:9/",
        "4.2.0",
    )
    assert "email" not in settings.load(path).integrations


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (PAYMENT.replace("4.2.0", "four"), "PAYMENT_CLIENT_VERSION='four' is not a valid value"),
        (PAYMENT.replace("http://", "file://"), "PAYMENT_ENDPOINT='file://127.0.0.1:9/'"),
        (PAYMENT + "EMAIL_API_VERSION=v3\n", "unknown key EMAIL_API_VERSION"),
        (PAYMENT.replace("PAYMENT_CLIENT_VERSION=4.2.0\n", ""), "needs PAYMENT_CLIENT_VERSION"),
        (PAYMENT.replace("2025-03-31", "{{ x }}"), "PAYMENT_API_VERSION='{{ x }}'"),
    ],
    ids=["client-version", "endpoint-scheme", "other-service", "missing-key", "template"],
)
def test_a_bad_integration_file_is_refused_naming_the_problem(
    tmp_path: Path, text: str, problem: str
) -> None:
    path = write(tmp_path, APP_ENV, None)
    candidate = write_integration(tmp_path, "payment", text)
    with pytest.raises(settings.ConfigError, match=re.escape(problem)):
        settings.check_managed(candidate)
    with pytest.raises(settings.ConfigError, match=re.escape(problem)):
        settings.load(path)
