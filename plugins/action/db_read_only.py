# Copyright: rollbackctl maintainers
# SPDX-License-Identifier: Apache-2.0
"""Run db_read_only only inside a run that may change this host (see plugin_utils/guarded.py),
and, in the runbooks whose approval names an action, only to the state that action sets."""

from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.guarded import (
    GuardedModuleAction,
)

# The read-only state each approved action sets. A variable steering the state (an inventory
# the launcher chose, say) can then never turn writes back on under an approval to stop them.
STATE_OF_ACTION = {"on": "on", "emergency-stop": "on", "off": "off", "resume": "off"}
BOUND_RUNBOOKS = frozenset({"read_only.yml", "emergency_stop.yml", "resume.yml"})


class ActionModule(GuardedModuleAction):
    MODULE = "rollbackctl.runbooks.db_read_only"

    def grant_problem(self, grant, task_vars):
        if grant.playbook not in BOUND_RUNBOOKS:
            return None
        state = self._task.args.get("state")
        if state != STATE_OF_ACTION.get(grant.target):
            return (
                f"read-only {state} is not what run {grant.run_id} was authorized for "
                f"({grant.target or 'no action'})"
            )
        return None
