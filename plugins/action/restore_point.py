# Copyright: rollbackctl maintainers
# SPDX-License-Identifier: Apache-2.0
"""Read a restore point, and bind what it names to the full rollback it is the target of.

Reading changes nothing and runs anywhere. Inside a full rollback whose authorized target is
this restore point, the release, commits, snapshot and backup it names become the only other
values the run's ledger, restore and snapshot steps may go to (see grant.bind_components).
"""

import os

from ansible.plugins.action import ActionBase
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils import grant as run_grant


class ActionModule(ActionBase):
    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        result.update(
            self._execute_module(
                module_name="rollbackctl.runbooks.restore_point",
                module_args=self._task.args,
                task_vars=task_vars,
            )
        )
        point = result.get("point")
        if not result.get("failed") and isinstance(point, dict):
            names = [point.get(key) for key in ("release", "config_commit", "infra_snapshot")]
            names.append(point.get("backup"))
            names += list((point.get("integrations") or {}).values())
            run_grant.bind_components(
                os.getppid(), str(point.get("id")), [str(n) for n in names if n]
            )
        return result
