"""sandbox-guarded is the sandbox under the production policy: the same stack variables.

Its hosts.yml names a stack of its own; everything else an inventory gives its hosts comes from
group_vars/, which each inventory keeps as its own files (Ansible reads group_vars beside the
inventory). Guarantees tested on sandbox-guarded hold for the sandbox only while they match.
"""

from __future__ import annotations

from pathlib import Path

INVENTORIES = Path(__file__).resolve().parents[2] / "inventories"


def _group_vars(environment: str) -> dict[str, bytes]:
    root = INVENTORIES / environment / "group_vars"
    return {
        str(path.relative_to(root)): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def test_sandbox_guarded_has_the_sandbox_group_vars() -> None:
    sandbox = _group_vars("sandbox")
    assert sandbox, "inventories/sandbox/group_vars is empty"
    assert _group_vars("sandbox-guarded") == sandbox, (
        "inventories/sandbox-guarded/group_vars must match inventories/sandbox/group_vars: "
        "change both"
    )
