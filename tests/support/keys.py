"""Throwaway SSH signing keys for approvers, made by the tests and never committed."""

from __future__ import annotations

import subprocess
from pathlib import Path

# Approvers sign approvals; every listed person may also sign their own run requests.
NAMESPACES = "rollbackctl-approval,rollbackctl-request"


def make_key(directory: Path, name: str) -> Path:
    key = directory / name
    if not key.exists():
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(key)],
            check=True,
        )
    return key


def write_allowed_signers(path: Path, keys: dict[str, Path]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [
        f'{name} namespaces="{NAMESPACES}" {Path(str(key) + ".pub").read_text().strip()}'
        for name, key in keys.items()
    ]
    path.write_text("\n".join(lines) + "\n")
