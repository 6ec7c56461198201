"""A stack's sandbox.json is read only when it is what `sandbox up` writes.

The sandbox inventories build paths and Docker image and container names from it, and
ROLLBACKCTL_STATE_DIR (which a caller sets) says where it is.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.errors import UsageError

from rollbackctl.tools import sandbox

PORTS = {"app1": 40001, "app2": 40002, "db1": 40003, "lb1": 40004}


@pytest.fixture
def settings_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ROLLBACKCTL_STATE_DIR", str(tmp_path))
    path = tmp_path / "sandbox" / "sandbox.json"
    path.parent.mkdir()
    return path


def test_the_file_up_writes_is_read(settings_file: Path) -> None:
    settings_file.write_text(json.dumps({"ports": PORTS, "runtime": "container"}))
    assert sandbox.status()["runtime"] == "container"
    assert sandbox.status()["url"] == "http://127.0.0.1:40004"


def test_a_file_without_runtime_is_a_service_stack(settings_file: Path) -> None:
    settings_file.write_text(json.dumps({"ports": PORTS}))
    assert sandbox.status()["runtime"] == "service"


@pytest.mark.parametrize(
    "settings",
    [
        {"ports": {**PORTS, "lb1": "guarded-41234"}},
        {"ports": {**PORTS, "lb1": 41234.0}},
        {"ports": {**PORTS, "lb1": True}},
        {"ports": {**PORTS, "db1": 22}},
        {"ports": {k: v for k, v in PORTS.items() if k != "app2"}},
        {"ports": {**PORTS, "extra": 40005}},
        {"ports": PORTS, "runtime": "{{ lookup('pipe', 'id') }}"},
        {"runtime": "service"},
        ["ports"],
    ],
    ids=[
        "name-in-port", "float", "bool", "privileged", "missing", "extra", "runtime", "no-ports",
        "list",
    ],
)  # fmt: skip
def test_any_other_content_is_refused_naming_the_file_and_the_fix(
    settings_file: Path, settings: object
) -> None:
    settings_file.write_text(json.dumps(settings))
    with pytest.raises(UsageError) as refused:
        sandbox.status()
    assert f"{settings_file} is not a sandbox settings file" in str(refused.value)
    assert "sandbox up" in refused.value.hint


def test_a_kept_stack_refuses_another_runtime(settings_file: Path) -> None:
    settings_file.write_text(json.dumps({"ports": PORTS, "runtime": "service"}))
    with pytest.raises(UsageError) as refused:
        sandbox.up(runtime="container")
    assert "runs its app as a service, not as a container" in str(refused.value)
    assert json.loads(settings_file.read_text())["runtime"] == "service"
