# Copyright: rollbackctl maintainers
# SPDX-License-Identifier: Apache-2.0
"""Resolve a third-party rollback's API version to the commit that pins it, and bind it.

Runs on the controller. Inside a third-party rollback authorized for that version, the
resolved commit becomes the only configuration commit besides the hosts' own that the run's
ledger steps may go to (see grant.bind_components): the approvers signed the version, and
this step, not a variable, says which commit it is.
"""

import os

from ansible.plugins.action import ActionBase
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils import grant as run_grant
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils import pins
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.errors import RollbackError

ARGS = ("repo", "path", "key", "version", "commits")


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        result["changed"] = False
        args = self._task.args
        missing = [name for name in ARGS if args.get(name) in (None, "")]
        if missing or not isinstance(args.get("commits"), list):
            result.update(failed=True, msg=f"integration_pin needs {', '.join(ARGS)}")
            return result
        version = str(args["version"])
        try:
            found = pins.read_pins(args["repo"], args["path"], args["key"], args["commits"])
            commit = pins.choose(found, version, args["key"], args["path"])
        except RollbackError as exc:
            result.update(failed=True, msg=exc.one_line())
            return result
        result.update(commit=commit, pins=[{"commit": c, "version": v} for c, v in found])
        grant = run_grant.read(os.getppid())
        if grant is None or grant.check:
            return result
        bound = run_grant.bind_components(
            os.getppid(), version, {"configuration": commit}, playbook=run_grant.THIRD_PARTY_RUNBOOK
        )
        if bound is None or bound.components.get("configuration") != commit:
            result.update(
                failed=True,
                msg=(
                    f"API version {version} is not what run {grant.run_id} was authorized for "
                    f"({grant.target}); nothing was changed"
                ),
            )
        return result
