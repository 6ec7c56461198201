"""A break-glass run stays flagged in history until someone with a sign-off role signs off."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils import paths
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.approvals import (
    ApprovalPayload,
    authorize,
    create_approval,
)
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.audit import (
    AuditLog,
    attempt_entry,
)
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.policy import Request
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.trust import (
    environment_state_dir,
)
from click.testing import CliRunner

from rollbackctl.cli.main import main
from tests.support.keys import make_key, write_allowed_signers

ENV = "sandbox-guarded"  # the production policy: on-call may stop traffic alone
RUN = "20261128T030000Z-abcdef"


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    # The guarded environment's trust root is under the checkout: a checkout of its own.
    shutil.copytree(paths.PROJECT_DIR / "inventories", tmp_path / "inventories")
    shutil.copytree(paths.PROJECT_DIR / "meta", tmp_path / "meta")
    shutil.copytree(paths.PROJECT_DIR / "playbooks", tmp_path / "playbooks")
    monkeypatch.setattr(paths, "PROJECT_DIR", tmp_path)
    keys = {name: make_key(tmp_path, name) for name in ("oscar", "erin")}
    write_allowed_signers(environment_state_dir(ENV) / "signers" / "allowed_signers", keys)
    return tmp_path


def signed(state: Path, approver: str, request: Request) -> Path:
    payload = ApprovalPayload.new(request, approver, valid_for=timedelta(minutes=30))
    return create_approval(payload, state / approver, state / f"{approver}-{payload.nonce}.json")


@pytest.fixture
def break_glass_run(state: Path) -> Request:
    request = Request(ENV, "emergency-stop", "traffic", "oscar", break_glass=True)
    decision = authorize(request, [signed(state, "oscar", request)])
    assert decision.allowed and decision.sign_off_due
    AuditLog.for_environment(ENV).append(
        attempt_entry(decision, run_id=RUN, outcome="started", started_at=datetime.now(UTC))
    )
    return request


def history(runner: CliRunner) -> dict:
    result = runner.invoke(main, ["history", ENV, "--output", "json"])
    assert result.exit_code == 0, result.output
    return {run["run_id"]: run for run in json.loads(result.stdout)["runs"]}


def test_break_glass_run_is_flagged_until_signed_off(state: Path, break_glass_run: Request) -> None:
    runner = CliRunner()
    assert "sign_off_due" in history(runner)[RUN]

    result = runner.invoke(
        main, ["sign-off", ENV, RUN, "--approval", str(signed(state, "erin", break_glass_run))]
    )

    assert result.exit_code == 0, result.output
    assert "sign_off_due" not in history(runner)[RUN]


def test_requester_cannot_sign_off_their_own_break_glass_run(
    state: Path, break_glass_run: Request
) -> None:
    runner = CliRunner()
    result = runner.invoke(
        main, ["sign-off", ENV, RUN, "--approval", str(signed(state, "oscar", break_glass_run))]
    )

    assert result.exit_code == 4
    assert "requester may not sign off their own run" in result.stderr
    assert "sign_off_due" in history(runner)[RUN]


def test_sign_off_of_a_run_without_one_due_is_an_error(state: Path) -> None:
    result = CliRunner().invoke(main, ["sign-off", ENV, "no-such-run", "--approval", "x.json"])
    assert result.exit_code == 1
    assert "has no sign-off due" in result.stderr
