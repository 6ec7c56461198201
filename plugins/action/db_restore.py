# Copyright: rollbackctl maintainers
# SPDX-License-Identifier: Apache-2.0
"""Guard the restore phases and bind them to the run's authorized backup.

Restoring into and dropping scratch copies (backup verification) never touches the live
database or the journal and runs anywhere; the phases that replace the live database run
only inside an authorized run, and only for the backup that run was authorized for.
"""

import os

from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils import grant as run_grant
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.guarded import (
    GuardedModuleAction,
)

LIVE_PHASES = frozenset({"stage", "swap", "finish", "discard"})


class ActionModule(GuardedModuleAction):
    MODULE = "rollbackctl.runbooks.db_restore"

    def run(self, tmp=None, task_vars=None):
        if self._task.args.get("action") in LIVE_PHASES:
            return super().run(tmp, task_vars)
        return self._run_allowed(tmp, task_vars or {})

    def grant_problem(self, grant, task_vars):
        if self._task.args.get("action") != "stage":
            return None
        backup = self._task.args.get("backup_id") or ""
        if not grant.target:
            run_grant.bind_plan(os.getppid(), task_vars.get("inventory_hostname"), "", backup)
            return None
        if not grant.allows(backup, "backup"):
            return (
                f"backup {backup} is not the one run {grant.run_id} was authorized to restore "
                f"({grant.target})"
            )
        return None
