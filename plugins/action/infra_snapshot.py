# Copyright: rollbackctl maintainers
# SPDX-License-Identifier: Apache-2.0
"""Guard snapshot writes and bind a restore to the run's authorized snapshot.

Listing changes nothing and runs anywhere. Taking and restoring change the host: inside an
authorized run, a host may restore only the snapshot the run was authorized for (or, when the
run named none, the one its plan chose first), or to the safety snapshot the run took itself.
"""

import os

from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils import grant as run_grant
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.guarded import (
    GuardedModuleAction,
)

WRITES = frozenset({"take", "restore"})


class ActionModule(GuardedModuleAction):
    MODULE = "rollbackctl.runbooks.infra_snapshot"

    def run(self, tmp=None, task_vars=None):
        if self._task.args.get("action") in WRITES:
            return super().run(tmp, task_vars)
        return self._run_allowed(tmp, task_vars or {})

    def grant_problem(self, grant, task_vars):
        if self._task.args.get("action") != "restore":
            return None
        snapshot = self._task.args.get("id") or ""
        # A host whose restore failed goes back to the copy this run took of it.
        if snapshot == f"pre-{grant.run_id}":
            return None
        if not grant.target:
            run_grant.bind_plan(os.getppid(), task_vars.get("inventory_hostname"), "", snapshot)
            return None
        if not grant.allows(snapshot, "snapshot"):
            return (
                f"snapshot {snapshot} is not the one run {grant.run_id} was authorized to "
                f"restore ({grant.target})"
            )
        return None
