"""CLI parsing and the error contract: one line on stderr, the documented exit code."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.errors import EXIT_CODES
from click.testing import CliRunner

from rollbackctl.cli.main import main
from rollbackctl.run.environments import list_environments


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("ROLLBACKCTL_STATE_DIR", str(tmp_path))
    return CliRunner()


def test_help_documents_every_exit_code(runner: CliRunner) -> None:
    result = runner.invoke(main, ["app", "--help"])
    for code, meaning in EXIT_CODES.items():
        assert f"{code}  {meaning}" in result.output


def test_unknown_environment_is_exit_2_with_one_line(runner: CliRunner) -> None:
    result = runner.invoke(main, ["app", "atlantis", "--yes"])
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        "rollbackctl: error: unknown environment 'atlantis'; known environments: "
        + ", ".join(list_environments())
        + " (see 'rollbackctl envs')"
    ]


def test_no_terminal_and_no_yes_refuses_before_running(runner: CliRunner) -> None:
    result = runner.invoke(main, ["app", "sandbox"], input="")
    assert result.exit_code == 8
    assert "pass --yes" in result.stderr


def test_envs_lists_the_sandbox_as_json(runner: CliRunner) -> None:
    result = runner.invoke(main, ["envs", "--output", "json"])
    assert result.exit_code == 0
    assert "sandbox" in json.loads(result.stdout)["environments"]


def test_output_rejects_unknown_formats(runner: CliRunner) -> None:
    result = runner.invoke(main, ["envs", "--output", "yaml"])
    assert result.exit_code == 2


def test_infra_snapshots_is_the_listing_and_infra_env_the_rollback(runner: CliRunner) -> None:
    listing = runner.invoke(main, ["infra", "snapshots", "--help"])
    rollback = runner.invoke(main, ["infra", "--help"])
    assert listing.exit_code == 0
    assert "List ENVIRONMENT's infrastructure snapshots" in listing.output
    assert rollback.exit_code == 0 and "--to SNAPSHOT" in rollback.output
    unknown = runner.invoke(main, ["infra", "snapshots", "atlantis"])
    assert unknown.exit_code == 2 and "unknown environment 'atlantis'" in unknown.stderr
