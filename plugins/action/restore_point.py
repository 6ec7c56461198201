# Copyright: rollbackctl maintainers
# SPDX-License-Identifier: Apache-2.0
"""Read a restore point, and bind what it names to the full rollback it is the target of.

Reading changes nothing and runs anywhere. Inside a full rollback whose authorized target is
this restore point, the release, configuration commit, snapshot and backup it names become,
each for its own kind of step, the only other values the run's ledger, restore and snapshot
steps may go to (see grant.bind_components); a full rollback that cannot bind its restore
point stops here.
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
        grant = run_grant.read(os.getppid())
        if result.get("failed") or not isinstance(point, dict) or grant is None or grant.check:
            return result
        if grant.playbook != run_grant.FULL_RUNBOOK:
            return result
        components = {
            "release": str(point.get("release")),
            "configuration": str(point.get("config_commit")),
            "snapshot": str(point.get("infra_snapshot")),
            "backup": str(point.get("backup")),
        }
        bound = run_grant.bind_components(os.getppid(), str(point.get("id")), components)
        # A full rollback goes on only with its own restore point bound, exactly as read.
        if bound is None or bound.components != components:
            result["failed"] = True
            result["msg"] = (
                f"restore point {point.get('id')} is not what run {grant.run_id} was "
                f"authorized for ({grant.target}); nothing was changed"
            )
        return result
