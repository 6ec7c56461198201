"""A full rollback's grant: what its restore point names is bound once, by the run itself,
and only for the restore point it was authorized for."""

from __future__ import annotations

import pytest
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils import grant


def write(pid: int, playbook: str, target: str) -> None:
    grant.write(
        pid,
        grant.Grant(
            environment="sandbox",
            rollback_type=playbook.removesuffix(".yml"),
            target=target,
            run_id="20261130T000000Z-abcdef",
            playbook=playbook,
            requester="oscar",
            check=False,
            hosts=["app1"],
        ),
    )


POINT = {"release": "2026.11.1", "configuration": "abc", "snapshot": "rp-1", "backup": "b-1"}


def test_a_full_rollback_binds_what_its_restore_point_names_once(pid: int) -> None:
    write(pid, "full.yml", "rp-1")
    assert grant.bind_components(pid, "rp-1", {**POINT, "integration": "def"}) is not None
    # A second read, of the same or another point, binds nothing new.
    grant.bind_components(pid, "rp-1", {"release": "2026.11.3"})
    assert grant.bind_components(pid, "rp-2", {"release": "2026.11.2"}) is None
    bound = grant.read(pid)
    assert bound is not None
    assert bound.components == POINT
    assert bound.allows("2026.11.1", "release") and bound.allows("b-1", "backup")
    assert bound.allows("rp-1", "snapshot")
    # Each component only for its own kind of step.
    assert not bound.allows("2026.11.1", "backup")
    assert not bound.allows("abc", "release")
    assert not bound.allows("def", "configuration")
    assert not bound.allows("2026.11.3", "release")
    assert not bound.allows("", "release")


@pytest.mark.parametrize(
    ("playbook", "target", "point"),
    [("app.yml", "rp-1", "rp-1"), ("full.yml", "rp-1", "rp-2")],
    ids=["another-runbook", "another-point"],
)
def test_no_other_run_or_point_binds_components(
    pid: int, playbook: str, target: str, point: str
) -> None:
    write(pid, playbook, target)
    assert grant.bind_components(pid, point, {"release": "2026.11.2"}) is None
    bound = grant.read(pid)
    assert bound is not None and not bound.allows("2026.11.2", "release")


def test_origins_are_kept_per_ledger(pid: int) -> None:
    write(pid, "full.yml", "rp-1")
    grant.bind_plan(pid, "app1", "2026.11.2", "2026.11.1", ledger="/srv/app1/ledger.json")
    grant.bind_plan(pid, "app1", "c0ffee", "abc", ledger="/srv/app1/config-ledger.json")
    bound = grant.read(pid)
    assert bound is not None
    assert bound.origin("app1", "/srv/app1/ledger.json") == "2026.11.2"
    assert bound.origin("app1", "/srv/app1/config-ledger.json") == "c0ffee"
    # The full rollback's target stays its restore point.
    assert bound.target == "rp-1"


def test_a_third_party_rollback_binds_the_commit_its_api_version_resolved_to(pid: int) -> None:
    write(pid, "third_party.yml", "2025-03-31")
    commit = "a" * 40
    # Only the third-party runbook's grant, and only for the version it was authorized for.
    assert grant.bind_components(pid, "2025-03-31", {"configuration": commit}) is None
    assert (
        grant.bind_components(pid, "2024-01-01", {"configuration": commit}, "third_party.yml")
        is None
    )
    bound = grant.bind_components(
        pid, "2025-03-31", {"configuration": commit}, grant.THIRD_PARTY_RUNBOOK
    )
    assert bound is not None and bound.allows(commit, "configuration")
    assert not bound.allows(commit, "release")
    assert not bound.allows("b" * 40, "configuration")
