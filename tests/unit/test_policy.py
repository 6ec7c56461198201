"""Policy files: strict loading, and decisions an operator can read and act on."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.approvals import (
    ApprovalPayload,
    VerifiedApproval,
)
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.errors import (
    NotAuthorizedError,
    UsageError,
)
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.paths import PROJECT_DIR
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.policy import (
    Policy,
    Request,
    evaluate,
    evaluate_sign_off,
    load_environment_policy,
    load_policy,
    rollback_types,
)

NOW = datetime(2026, 11, 28, 14, 0, tzinfo=UTC)

POLICY = """\
version: 1
approval_max_minutes: 60
roles:
  cto: [carol]
  engineering_manager: [erin, ezra]
  lead_developer: [lena]
  devops_lead: [dmitri]
  on_call: [oscar, lena]
  executive: [grace]
escalation:
  L1: [on_call]
  L2: [lead_developer]
  L3: [engineering_manager]
  L4: [cto, executive]
defaults:
  roles: [cto, engineering_manager, lead_developer]
  approvers: 1
  escalation: L2
rules:
  db:
    roles: [cto, engineering_manager]
    approvers: 2
    escalation: L3
  data-corruption:
    roles: [cto, engineering_manager, lead_developer]
    approvers: 1
    self_approval: true
  emergency-stop:
    approvers: 1
    escalation: L3
    break_glass:
      roles: [on_call]
      sign_off_minutes: 30
      sign_off_roles: [cto, engineering_manager]
"""


def write_policy(tmp_path: Path, text: str, environment: str = "production") -> Path:
    path = tmp_path / environment / "policy.yml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def policy(tmp_path: Path) -> Policy:
    return load_policy(write_policy(tmp_path, POLICY))


def request(
    rollback_type: str = "app",
    requester: str = "oscar",
    *,
    environment: str = "production",
    target: str = "2026.11.02",
    break_glass: bool = False,
) -> Request:
    return Request(environment, rollback_type, target, requester, break_glass)


def approval(
    approver: str, req: Request, valid_for: timedelta = timedelta(minutes=30)
) -> VerifiedApproval:
    """A verified approval as verify_approval would return it; signatures are tested elsewhere."""
    payload = ApprovalPayload.new(req, approver, valid_for=valid_for, now=NOW)
    return VerifiedApproval(payload=payload, path=Path(f"{approver}.json"), key_fingerprint="")


def test_production_policy_file_requires_two_approvers_for_restores() -> None:
    prod = load_policy(PROJECT_DIR / "inventories" / "production" / "policy.yml")
    assert prod.environment == "production"
    assert prod.rule_for("db").approvers == 2
    assert prod.rule_for("data-corruption").approvers == 2
    assert not any(rule.self_approval for rule in prod.rules.values())


def test_sandbox_policy_needs_no_approval_for_any_type() -> None:
    sandbox = load_policy(PROJECT_DIR / "inventories" / "sandbox" / "policy.yml")
    for rollback_type in rollback_types():
        req = request(rollback_type, environment="sandbox")
        decision = evaluate(sandbox, req, [], NOW)
        assert decision.allowed, decision.reason
        assert decision.reason == f"sandbox {rollback_type} rollback needs no approval"


def test_one_approver_with_allowed_role_authorizes_app_rollback(policy: Policy) -> None:
    req = request("app")
    decision = evaluate(policy, req, [approval("lena", req)], NOW)
    assert decision.allowed
    assert decision.approvers == ("lena",)
    assert decision.reason == "production app rollback approved by lena (lead_developer|on_call)"


def test_db_rollback_with_one_approver_is_refused_naming_the_shortfall(policy: Policy) -> None:
    req = request("db")
    decision = evaluate(policy, req, [approval("erin", req)], NOW)
    assert not decision.allowed
    assert decision.reason == (
        "production db rollback needs 2 distinct approvers with role "
        "cto|engineering_manager; got 1 (erin)"
    )


def test_two_distinct_approvers_authorize_db_rollback(policy: Policy) -> None:
    req = request("db")
    decision = evaluate(policy, req, [approval("erin", req), approval("carol", req)], NOW)
    assert decision.allowed
    assert set(decision.approvers) == {"erin", "carol"}
    assert len(decision.nonces) == 2


def test_same_person_approving_twice_counts_once(policy: Policy) -> None:
    req = request("db")
    decision = evaluate(policy, req, [approval("erin", req), approval("erin", req)], NOW)
    assert not decision.allowed
    assert "got 1 (erin)" in decision.reason
    assert "erin (already counted; approvers must be distinct people)" in decision.reason


def test_requester_cannot_approve_own_run_when_self_approval_forbidden(policy: Policy) -> None:
    req = request("app", requester="lena")
    decision = evaluate(policy, req, [approval("lena", req)], NOW)
    assert not decision.allowed
    assert "lena (requester may not approve their own run)" in decision.reason


def test_self_approval_counts_where_policy_allows_it(policy: Policy) -> None:
    req = request("data-corruption", requester="lena")
    assert evaluate(policy, req, [approval("lena", req)], NOW).allowed


def test_approver_without_allowed_role_is_not_counted(policy: Policy) -> None:
    req = request("db")
    decision = evaluate(policy, req, [approval("erin", req), approval("lena", req)], NOW)
    assert not decision.allowed
    assert "lena (holds lead_developer|on_call, not an approver role)" in decision.reason


def test_approval_expired_by_decision_time_is_not_counted(policy: Policy) -> None:
    req = request("app")
    decision = evaluate(policy, req, [approval("carol", req)], NOW + timedelta(hours=1))
    assert not decision.allowed
    assert "carol (expired at 2026-11-28T14:30:00Z)" in decision.reason


def test_approval_for_another_target_is_not_counted(policy: Policy) -> None:
    req = request("app")
    other = approval("carol", request("app", target="2026.10.01"))
    decision = evaluate(policy, req, [other], NOW)
    assert not decision.allowed
    assert "carol (signed for target 2026.10.01, not 2026.11.02)" in decision.reason


def test_approval_valid_longer_than_policy_allows_is_not_counted(policy: Policy) -> None:
    req = request("app")
    long_lived = approval("carol", req, valid_for=timedelta(days=30))
    decision = evaluate(policy, req, [long_lived], NOW)
    assert not decision.allowed
    assert "policy allows at most 60" in decision.reason


def test_bare_requester_name_authorizes_nothing(policy: Policy) -> None:
    decision = evaluate(policy, request("app", requester="carol"), [], NOW)
    assert not decision.allowed
    assert decision.reason.endswith("got 0 (none)")


def test_refused_decision_raises_not_authorized(policy: Policy) -> None:
    decision = evaluate(policy, request("db"), [], NOW)
    with pytest.raises(NotAuthorizedError, match="needs 2 distinct approvers"):
        decision.raise_if_refused()


def test_notify_covers_every_escalation_level_up_to_the_rules(policy: Policy) -> None:
    req = request("db")
    decision = evaluate(policy, req, [approval("erin", req), approval("carol", req)], NOW)
    assert decision.escalation == "L3"
    assert decision.notify_roles == ("on_call", "lead_developer", "engineering_manager")
    assert set(decision.notify) == {"oscar", "lena", "erin", "ezra"}


def test_break_glass_lets_on_call_run_emergency_stop_alone(policy: Policy) -> None:
    req = request("emergency-stop", requester="oscar", break_glass=True)
    decision = evaluate(policy, req, [approval("oscar", req)], NOW)
    assert decision.allowed, decision.reason
    assert decision.break_glass
    assert decision.sign_off_due == NOW + timedelta(minutes=30)
    assert decision.reason == (
        "production emergency-stop rollback allowed by break-glass for oscar (on_call); "
        "sign-off by cto|engineering_manager due by 2026-11-28T14:30:00Z"
    )


def test_break_glass_without_requesters_own_signature_is_refused(policy: Policy) -> None:
    req = request("emergency-stop", requester="oscar", break_glass=True)
    decision = evaluate(policy, req, [], NOW)
    assert not decision.allowed
    assert "break-glass needs oscar's own signed approval" in decision.reason


def test_break_glass_is_refused_for_type_without_break_glass_rule(policy: Policy) -> None:
    req = request("db", requester="oscar", break_glass=True)
    decision = evaluate(policy, req, [approval("oscar", req)], NOW)
    assert not decision.allowed
    assert decision.reason.startswith("break-glass is not allowed for production db rollbacks")


def test_break_glass_is_refused_for_requester_without_break_glass_role(policy: Policy) -> None:
    req = request("emergency-stop", requester="dmitri", break_glass=True)
    decision = evaluate(policy, req, [approval("dmitri", req)], NOW)
    assert not decision.allowed
    assert "break-glass needs role on_call; dmitri holds devops_lead" in decision.reason


def test_sign_off_by_manager_completes_break_glass_run(policy: Policy) -> None:
    req = request("emergency-stop", requester="oscar", break_glass=True)
    decision = evaluate_sign_off(policy, req, [approval("erin", req)], NOW)
    assert decision.allowed
    assert decision.approvers == ("erin",)


def test_requester_cannot_sign_off_own_break_glass_run(policy: Policy) -> None:
    req = request("emergency-stop", requester="lena", break_glass=True)
    decision = evaluate_sign_off(policy, req, [approval("lena", req)], NOW)
    assert not decision.allowed
    assert "lena (requester may not sign off their own run)" in decision.reason


def test_decision_serializes_to_json(policy: Policy) -> None:
    req = request("emergency-stop", requester="oscar", break_glass=True)
    data = json.loads(json.dumps(evaluate(policy, req, [approval("oscar", req)], NOW).to_dict()))
    assert data["allowed"] is True
    assert data["sign_off_due"] == "2026-11-28T14:30:00Z"
    assert data["approvals"][0]["approver"] == "oscar"


def test_policy_for_other_environment_refuses(policy: Policy) -> None:
    req = request("app", environment="staging")
    decision = evaluate(policy, req, [approval("carol", req)], NOW)
    assert not decision.allowed
    assert "the policy loaded is production's" in decision.reason


def test_unknown_rollback_type_is_a_usage_error(policy: Policy) -> None:
    with pytest.raises(UsageError, match="unknown rollback type 'database'"):
        policy.rule_for("database")


def test_missing_environment_policy_is_a_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ROLLBACKCTL_PROJECT_DIR", str(tmp_path))
    with pytest.raises(UsageError, match="no policy for environment 'staging'"):
        load_environment_policy("staging")


MALFORMED = {
    "empty-file": ("", "(top): file is empty"),
    "not-yaml": ("version: [1\n", "line 2: not valid YAML"),
    "missing-version": (POLICY.replace("version: 1\n", ""), "version: required"),
    "unknown-top-key": (POLICY + "approvals: 3\n", "approvals: unknown key"),
    "unknown-rule-key": (
        POLICY.replace("    approvers: 2\n", "    aprovers: 2\n"),
        "rules.db.aprovers: unknown key",
    ),
    "unknown-rollback-type": (
        POLICY + "  database:\n    approvers: 1\n",
        "rules.database: unknown key",
    ),
    "unknown-role": (
        POLICY.replace("roles: [cto, engineering_manager]\n", "roles: [cto, manager]\n"),
        "rules.db.roles[1]: unknown role 'manager'",
    ),
    "count-not-integer": (
        POLICY.replace("approvers: 2", "approvers: two"),
        "rules.db.approvers: must be an integer",
    ),
    "count-negative": (
        POLICY.replace("approvers: 2", "approvers: -1"),
        "rules.db.approvers: must be between 0 and 10",
    ),
    "count-boolean": (
        POLICY.replace("approvers: 2", "approvers: yes"),
        "rules.db.approvers: must be an integer",
    ),
    "count-exceeds-people": (
        POLICY.replace("approvers: 2", "approvers: 4"),
        "rules.db.approvers: needs 4 distinct approvers but only 3 people hold",
    ),
    "missing-count": (
        POLICY.replace("  approvers: 1\n  escalation: L2\n", "  escalation: L2\n"),
        "defaults.approvers: required",
    ),
    "no-rule-and-no-defaults": (
        POLICY.split("defaults:", maxsplit=1)[0] + "rules:\n  app:\n    approvers: 0\n",
        "rules: no rule for db, data-corruption, emergency-stop",
    ),
    "bad-escalation-level": (
        POLICY.replace("escalation: L3\n", "escalation: L5\n", 1),
        "rules.db.escalation: must be one of L1, L2, L3, L4",
    ),
    "self-approval-not-boolean": (
        POLICY.replace("self_approval: true", "self_approval: maybe"),
        "rules.data-corruption.self_approval: must be true or false",
    ),
    "break-glass-missing-deadline": (
        POLICY.replace("      sign_off_minutes: 30\n", ""),
        "rules.emergency-stop.break_glass.sign_off_minutes: required",
    ),
    "duplicate-key": (
        POLICY.replace("    approvers: 2\n", "    approvers: 2\n    approvers: 0\n"),
        "line 23: not valid YAML: duplicate key 'approvers'",
    ),
    "person-with-wildcard": (
        POLICY.replace("cto: [carol]", "cto: ['*']"),
        "roles.cto[0]: not a valid person",
    ),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_policy_is_a_usage_error_naming_file_and_field(tmp_path: Path, case: str) -> None:
    text, field = MALFORMED[case]
    path = write_policy(tmp_path, text)
    with pytest.raises(UsageError) as caught:
        load_policy(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: ")
    assert field in message
