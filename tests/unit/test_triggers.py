"""Triggers as data: the runbook's defaults, an environment's changes, and every mistake in
them refused in one line that names the file, the field and what it takes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.errors import UsageError
from click.testing import CliRunner

from rollbackctl.cli.main import main
from rollbackctl.run import triggers
from tests.support.sandbox import REPO_ROOT

DEFAULTS = REPO_ROOT / triggers.DEFAULTS_FILE


def read(tmp_path: Path, changes: object) -> triggers.TriggerSet:
    path = tmp_path / "triggers.yml"
    path.write_text(yaml.safe_dump(changes))
    return triggers.read("test", DEFAULTS, path)


def test_the_runbook_thresholds_are_the_defaults(tmp_path: Path) -> None:
    loaded = {t.name: t for t in triggers.read("test", DEFAULTS, tmp_path / "none.yml").triggers}
    assert (loaded["uptime"].fires, loaded["uptime"].threshold, loaded["uptime"].window) == (
        "below",
        0.95,
        "15m",
    )
    assert (loaded["error_rate"].threshold, loaded["error_rate"].window) == (0.05, "10m")
    assert loaded["payment_failures"].threshold == 0.02
    assert {t.mode for t in loaded.values()} == {"shadow"}


def test_an_environment_changes_only_what_it_names(tmp_path: Path) -> None:
    loaded = read(tmp_path, {"triggers": {"error_rate": {"window": "30s", "mode": "auto"}}})
    error_rate = next(t for t in loaded.triggers if t.name == "error_rate")
    assert (error_rate.window, error_rate.mode, error_rate.threshold) == ("30s", "auto", 0.05)
    assert all(t.mode == "shadow" for t in loaded.triggers if t.name != "error_rate")


def test_production_opens_requests_for_approval_on_every_trigger() -> None:
    assert {t.mode for t in triggers.load("production").triggers} == {"confirm"}


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"triggers": {"latency": {"mode": "auto"}}}, "triggers.latency: unknown trigger"),
        ({"triggers": {"uptime": {"mode": "yolo"}}}, "triggers.uptime.mode: must be one of"),
        ({"triggers": {"uptime": {"window": "10 minutes"}}}, "triggers.uptime.window: must be"),
        ({"triggers": {"uptime": {"threshold": "high"}}}, "triggers.uptime.threshold: must be"),
        ({"triggers": {"uptime": {"threshold": -1}}}, "triggers.uptime.threshold: must be"),
        ({"triggers": {"uptime": {"rollback": "reboot"}}}, "uptime.rollback: unknown rollback"),
        ({"triggers": {"uptime": {"severity": "high"}}}, "triggers.uptime.severity: not a"),
        ({"triggers": {"uptime": {"value": "vector(1)"}}}, "triggers.uptime.value: not a"),
        ({"triggers": {"error_rate": {"traffic": None}}}, "triggers.error_rate.traffic: not a"),
        ({"triggers": {"uptime": "off"}}, "triggers.uptime: must be a mapping"),
        ({"evaluation": {"interval": "30s", "rate_interval": "1m"}}, "at least 4 times"),
        ({"evaluation": {"intervall": "1m"}}, "evaluation.intervall: not a setting"),
        ({"version": 2}, "version: this rollbackctl reads version 1"),
    ],
)
def test_a_mistake_is_one_line_naming_the_file_and_field(
    tmp_path: Path, changes: object, problem: str
) -> None:
    with pytest.raises(UsageError) as refused:
        read(tmp_path, changes)
    line = refused.value.one_line()
    assert "\n" not in line and f"{tmp_path / 'triggers.yml'}" in line and problem in line


def test_a_description_is_text_never_a_prometheus_template(tmp_path: Path) -> None:
    runbook = yaml.safe_load(DEFAULTS.read_text())
    runbook["triggers"]["uptime"]["description"] = '{{ query "up" }}'
    defaults = tmp_path / "defaults.yml"
    defaults.write_text(yaml.safe_dump(runbook))
    with pytest.raises(UsageError, match=r"triggers.uptime.description: must not hold"):
        triggers.read("test", defaults, tmp_path / "none.yml")


def test_malformed_yaml_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "triggers.yml"
    path.write_text("triggers:\n  uptime: [\n")
    with pytest.raises(UsageError, match=r"not valid YAML at line \d"):
        triggers.read("test", DEFAULTS, path)


def test_the_cli_lists_triggers_and_prints_rules_as_json(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ROLLBACKCTL_STATE_DIR", str(tmp_path))
    runner = CliRunner()
    listed = runner.invoke(main, ["triggers", "list", "production", "-o", "json"])
    assert listed.exit_code == 0, listed.output
    assert [t["name"] for t in json.loads(listed.stdout)["triggers"]] == [
        "uptime",
        "error_rate",
        "payment_failures",
        "data_corruption",
        "security",
    ]
    text = runner.invoke(main, ["triggers", "list", "production"]).stdout
    assert "error_rate        above 0.05 for 10m, at least 20 requests -> app (confirm)" in text
    rules = runner.invoke(main, ["triggers", "rules", "production"])
    assert yaml.safe_load(rules.stdout)["groups"][0]["name"] == "rollbackctl-triggers-production"
    unknown = runner.invoke(main, ["triggers", "rules", "nowhere"])
    assert unknown.exit_code == 2 and "unknown environment 'nowhere'" in unknown.stderr
