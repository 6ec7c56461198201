"""Third-party rollback on a real sandbox: one provider's integration settings go back to a
stable commit of the configuration repository, and the local provider stand-ins, which refuse
an API version they do not speak, decide whether payments and notifications work again.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.sandbox import APP_HOSTS, CUSTOMER, INTEGRATION_SERVICES, Sandbox

pytestmark = pytest.mark.integration

GOOD_PIN = "PAYMENT_API_VERSION=2025-03-31"


@pytest.fixture(scope="module")
def stack(sandbox_stack: Sandbox) -> Sandbox:
    """The module's stack with the good release live: payments depend on the pin only."""
    assert sandbox_stack.cli("app", "sandbox", "--yes").code == 0
    assert pay(sandbox_stack)[0] == 200
    return sandbox_stack


def integration(stack: Sandbox, service: str, host: str = "app1") -> str:
    return (stack.root / "app" / host / f"shared/integrations/{service}.env").read_text()


def ledger_path(stack: Sandbox, host: str, service: str) -> Path:
    return stack.root / "app" / host / "integrations" / service / "ledger.json"


def ledger(stack: Sandbox, service: str, host: str = "app1") -> dict:
    return json.loads(ledger_path(stack, host, service).read_text())


def pay(stack: Sandbox) -> tuple[int, dict]:
    """Status and body of paying a fresh order through nginx, as a customer does."""
    _status, login = stack.request("POST", "/api/login", CUSTOMER)
    status, order = stack.request(
        "POST", "/api/orders", {"product_id": 1, "quantity": 1}, login["token"]
    )
    assert status == 201, order
    return stack.request("POST", f"/api/orders/{order['order_id']}/pay", {}, login["token"])


def provider_calls(stack: Sandbox, service: str) -> list[dict]:
    path = stack.root / "providers" / "calls.jsonl"
    calls = [json.loads(line) for line in path.read_text().splitlines() if line]
    return [c for c in calls if c["service"] == service]


def deploy_pin(stack: Sandbox, version: str) -> str:
    """A commit that pins the payment API to version, deployed to the payment service without
    the checklist, as a bad pin reaches users."""
    name = stack.root / "config" / "integrations/payment.env"
    name.write_text(
        "\n".join(
            f"PAYMENT_API_VERSION={version}" if line.startswith("PAYMENT_API_VERSION=") else line
            for line in name.read_text().splitlines()
        )
        + "\n"
    )
    stack.config_git(
        "commit", "--quiet", "--allow-empty", "-am", f"Pin the payment API to {version}"
    )
    commit = stack.config_git("rev-parse", "HEAD")
    run = stack.run_playbook(
        "config_deploy.yml",
        "-e",
        json.dumps(
            {
                "config_deploy_commit": commit,
                "config_deploy_verify": False,
                "config_deploy_service": "payment",
            }
        ),
    )
    assert run.returncode == 0, run.stdout[-3000:]
    return commit


@pytest.fixture
def bad_pin(stack: Sandbox) -> Iterator[tuple[str, str]]:
    """(good, bad): the payment commit live before, and one pinning an API version the
    provider does not speak, deployed. Afterwards the good pin is live again."""
    good = ledger(stack, "payment")["current"]
    bad = deploy_pin(stack, "2026-11-01")
    status, body = pay(stack)
    assert status == 502
    assert "unknown API version '2026-11-01'" in body["error"]
    yield good, bad
    if stack.locks():
        stack.cli("unlock", "sandbox")
    if GOOD_PIN not in integration(stack, "payment"):
        deploy_pin(stack, "2025-03-31")
    assert pay(stack)[0] == 200


@pytest.mark.parametrize("named", ["", "commit", "version"])
def test_a_bad_pin_breaks_payments_and_the_rollback_mends_them(
    stack: Sandbox, bad_pin: tuple[str, str], named: str
) -> None:
    good, bad = bad_pin
    others = {s: integration(stack, s) for s in INTEGRATION_SERVICES if s != "payment"}
    configuration = (stack.root / "app/app1/config-ledger.json").read_text()
    to = {"": [], "commit": ["--to", good], "version": ["--to", "2025-03-31"]}[named]

    run = stack.cli("third-party", "sandbox", "--service", "payment", "--yes", *to, "-o", "json")

    assert run.code == 0, run.stderr[-3000:]
    result = json.loads(run.stdout)
    # A version resolves to the newest stable commit that pins it: the good one.
    version = {"version": "2025-03-31"} if named == "version" else {}
    assert result["third_party"] == {"service": "payment", "state": "rolled-back", **version}
    assert (result["from"], result["to"]) == (bad, good)
    assert result["config"]["files"] == ["integrations/payment.env"]
    assert all(GOOD_PIN in integration(stack, "payment", host) for host in APP_HOSTS)
    status, body = pay(stack)
    assert status == 200, body
    charge = provider_calls(stack, "payment")[-1]
    assert (charge["path"], charge["api_version"], charge["status"]) == (
        "/v1/charges",
        "2025-03-31",
        200,
    )
    for host in APP_HOSTS:
        assert ledger(stack, "payment", host)["current"] == good
        assert ledger(stack, "payment", host)["releases"][bad]["state"] == "bad"
    # One service only: the other providers' settings and the configuration stay.
    assert {s: integration(stack, s) for s in others} == others
    assert (stack.root / "app/app1/config-ledger.json").read_text() == configuration


def test_check_mode_shows_the_diff_and_changes_nothing(
    stack: Sandbox, bad_pin: tuple[str, str]
) -> None:
    before = stack.host_state()
    run = stack.cli("third-party", "sandbox", "--service", "payment", "--check")
    assert run.code == 0, run.stderr[-2000:]
    assert "payment settings planned: integrations/payment.env" in run.stdout
    assert f"+{GOOD_PIN}" in run.stdout
    assert "-PAYMENT_API_VERSION=2026-11-01" in run.stdout
    assert stack.host_state() == before
    assert pay(stack)[0] == 502


def test_a_target_the_provider_refuses_is_put_back(
    stack: Sandbox, bad_pin: tuple[str, str]
) -> None:
    """A stable commit whose pin the provider no longer speaks fails the integration checks:
    the live settings come back and the run says why."""
    _good, bad = bad_pin
    retired = deploy_pin(stack, "2023-01-01")
    current = deploy_pin(stack, "2026-11-01")
    for host in APP_HOSTS:
        path = ledger_path(stack, host, "payment")
        data = json.loads(path.read_text())
        data["releases"][retired]["state"] = "stable"
        path.write_text(json.dumps(data))
    before = {host: integration(stack, "payment", host) for host in APP_HOSTS}

    run = stack.cli("third-party", "sandbox", "--service", "payment", "--yes", "--to", retired)

    assert run.code != 0
    last = run.stderr.strip().splitlines()[-1]
    assert f"payment settings {retired} were put back to {current}" in last
    assert "unknown API version '2023-01-01'" in last
    assert {host: integration(stack, "payment", host) for host in APP_HOSTS} == before
    for host in APP_HOSTS:
        assert ledger(stack, "payment", host)["current"] == current
        # The provider refused it: a later default run does not choose it again.
        assert ledger(stack, "payment", host)["releases"][retired]["state"] == "bad"
    assert not (stack.root / "app/app1/integrations/payment/config-backups/pending.json").exists()
    assert bad != current


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (
            ["--service", "sms"],
            "unknown third-party service 'sms'; this environment integrates email, payment, push",
        ),
        (["--service", "payment", "--to", "0" * 40], f"unknown configuration commit {'0' * 40}"),
        (
            ["--service", "payment", "--to", "2019-01-01"],
            "no commit stable on every host pins PAYMENT_API_VERSION=2019-01-01 in "
            "integrations/payment.env (stable: 2025-03-31 in ",
        ),
        (["--service", "{{ lookup('pipe', 'id') }}"], "-e rollback_service: not a valid name"),
    ],
    ids=["unknown-service", "unknown-commit", "unknown-version", "template"],
)
def test_bad_input_is_refused_naming_it_and_changes_nothing(
    stack: Sandbox, args: list[str], problem: str
) -> None:
    before = stack.host_state()
    run = stack.cli("third-party", "sandbox", "--yes", *args)
    assert run.code != 0
    assert problem in run.stderr.strip().splitlines()[-1]
    assert stack.host_state() == before


def test_a_run_without_a_service_is_refused(stack: Sandbox) -> None:
    cli = stack.cli("third-party", "sandbox", "--yes")
    assert cli.code == 2
    assert "Missing option '--service'" in cli.stderr
    before = stack.host_state()
    run = stack.run_playbook("third_party.yml", "-e", json.dumps({"rollback_confirmed": True}))
    assert run.returncode != 0
    assert "a third-party run needs rollback_service" in run.stdout
    assert stack.host_state() == before
