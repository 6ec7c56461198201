"""Authorize a rollback inside the playbook run, with the same library the CLI uses."""

import os
import uuid
from datetime import UTC, datetime

from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action import ActionBase
from ansible.utils.vars import load_extra_vars

# Where the environment (and so the policy) comes from must be the inventory: an extra var
# naming a laxer environment would pick that environment's policy.
ENVIRONMENT_VARS = {"rollbackctl_environment", "rollback_authorize_environment"}


def _new_run_id():
    return f"{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}-{uuid.uuid4().hex[:6]}"


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        result["changed"] = False
        try:
            from rollbackctl import guard
            from rollbackctl.errors import RollbackError
        except ImportError as exc:
            result.update(
                failed=True,
                failure_kind="UsageError",
                msg=f"the rollbackctl library is missing on the controller ({exc}); "
                "install it in the Python that runs ansible",
            )
            return result
        args = self._task.args
        run_id = args.get("run_id") or _new_run_id()
        overridden = sorted(ENVIRONMENT_VARS & set(load_extra_vars(self._loader)))
        if overridden:
            result.update(
                failed=True,
                failure_kind="NotAuthorizedError",
                msg=f"-e {', '.join(overridden)} refused: the environment comes from the "
                "inventory; run against that environment's inventory instead",
            )
            return result
        try:
            outcome = guard.authorize_run(
                environment=args["environment"],
                rollback_type=args["rollback_type"],
                target=args.get("target") or "",
                requester=args["requester"],
                approvals=list(args.get("approvals") or []),
                break_glass=boolean(args.get("break_glass") or False, strict=True),
                run_id=run_id,
                # The worker running this task is a child of the ansible-playbook process;
                # the lock names that process so a crash is seen as a stale lock.
                pid=os.getppid(),
                check=bool(self._task.check_mode),
                launched_by=args.get("launched_by") or None,
            )
        except RollbackError as exc:
            result.update(
                failed=True, msg=exc.one_line(), failure_kind=type(exc).__name__, run_id=run_id
            )
            return result
        result.update(outcome, run_id=run_id)
        return result
