# Copyright: rollbackctl maintainers
# SPDX-License-Identifier: Apache-2.0
"""Wait for a person to confirm the configuration this run applied (rollbackctl confirm).

The run id and environment are the grant's, never an argument: a confirmation can only be
given to the run that waits for it, and a run outside an authorization waits for nothing.
"""

import os

from ansible.plugins.action import ActionBase
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils import confirmation
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils import grant as run_grant
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.audit import AuditLog


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        result["changed"] = False
        held = run_grant.read(os.getppid())
        if held is None:
            result.update(failed=True, msg="a confirmation is waited for only in an authorized run")
            return result
        if self._task.check_mode:
            result.update(skipped=True, msg="check mode: a real run would wait for confirmation")
            return result
        seconds = self._task.args.get("seconds", confirmation.DEFAULT_SECONDS)
        if (
            isinstance(seconds, bool)
            or not isinstance(seconds, int)
            or not confirmation.MIN_SECONDS <= seconds <= confirmation.MAX_SECONDS
        ):
            result.update(
                failed=True,
                msg=f"seconds must be a whole number from {confirmation.MIN_SECONDS} to "
                f"{confirmation.MAX_SECONDS}",
            )
            return result
        closed = confirmation.wait(
            AuditLog.for_environment(held.environment),
            environment=held.environment,
            run_id=held.run_id,
            target=str(self._task.args.get("target", "")),
            seconds=seconds,
        )
        result.update(
            confirmed=closed.outcome == "confirmed",
            confirmed_by=closed.confirmed_by,
            deadline=closed.deadline.isoformat(),
            run_id=held.run_id,
        )
        return result
