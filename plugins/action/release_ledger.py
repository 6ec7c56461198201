# Copyright: rollbackctl maintainers
# SPDX-License-Identifier: Apache-2.0
"""Guard the ledger's writes and bind a run's switches to its authorized target.

Reading and planning change nothing and run anywhere. Inside an authorized run, a host may
switch only to the run's target, or back to the release it ran when the run planned (the
rescue path); a run never registers releases.
"""

import os

from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils import grant as run_grant
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.guarded import (
    GuardedModuleAction,
)

WRITES = frozenset({"register", "mark", "current", "switch"})


class ActionModule(GuardedModuleAction):
    MODULE = "rollbackctl.runbooks.release_ledger"

    def run(self, tmp=None, task_vars=None):
        action = self._task.args.get("action", "query")
        if action in WRITES:
            return super().run(tmp, task_vars)
        result = self._run_allowed(tmp, task_vars or {})
        if action == "plan" and not result.get("failed"):
            host = (task_vars or {}).get("inventory_hostname")
            run_grant.bind_plan(
                os.getppid(),
                host,
                result.get("current") or "",
                result["target"],
                ledger=self._task.args.get("path"),
            )
        return result

    def grant_problem(self, grant, task_vars):
        action = self._task.args.get("action", "query")
        release = self._task.args.get("release")
        host = task_vars.get("inventory_hostname")
        if action == "register":
            return f"run {grant.run_id} is a rollback; it never registers a release"
        origin = grant.origin(host, self._task.args.get("path"))
        if origin is None:
            return f"run {grant.run_id} has no plan for {host}; the plan step did not run"
        kind = self._task.args.get("kind") or "release"
        if release != origin and not grant.allows(release, kind):
            return (
                f"release {release} is not what run {grant.run_id} was authorized for on {host} "
                f"(target {grant.target}, or back to {origin})"
            )
        return None
