"""Render the job-template task of awx/apply.yml, loop and arguments, without a controller.

Ansible's own loader and templating evaluate the task's `loop` and its module arguments for
each item, with the play's variables, exactly as written in the playbook; nothing is run.
Ansible's plugin loader is process-wide, so this runs in a process of its own, from the
repository root (for ansible.cfg's collections path):

    python -m tests.support.apply_render AWX_DIR   # JSON: [{"item": ..., "args": {...}}, ...]
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

MODULE = "awx.awx.job_template"
REPO_ROOT = Path(__file__).resolve().parents[2]


def _render(awx_dir: Path) -> list[dict[str, Any]]:
    from ansible.parsing.dataloader import DataLoader
    from ansible.plugins.loader import init_plugin_loader
    from ansible.template import Templar

    init_plugin_loader()
    loader = DataLoader()
    plays = loader.load_from_file(str(awx_dir / "apply.yml"), trusted_as_template=True)
    (task,) = [t for play in plays for t in play.get("tasks", []) if MODULE in t]
    variables = {**plays[0].get("vars", {}), "playbook_dir": str(awx_dir)}
    items = Templar(loader=loader, variables=variables).template(task["loop"])
    return [
        {
            "item": item,
            "args": Templar(loader=loader, variables={**variables, "item": item}).template(
                task[MODULE]
            ),
        }
        for item in items
    ]


def job_template_calls(awx_dir: Path) -> list[dict[str, Any]]:
    """The job-template task's items and module arguments for the playbook in awx_dir."""
    result = subprocess.run(
        [sys.executable, "-m", "tests.support.apply_render", str(awx_dir)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


if __name__ == "__main__":
    print(json.dumps(_render(Path(sys.argv[1]).resolve())))
