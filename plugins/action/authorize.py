# Copyright: rollbackctl maintainers
# SPDX-License-Identifier: Apache-2.0
"""Authorize a runbook run inside the playbook, from what the launcher cannot fake.

The environment comes from the identities the hosts carry (read by the preflight of this same
process), the rollback type from the plays this process loaded, the inputs from the raw extra
vars, validated as data before anything templates them. The task itself takes no arguments:
there is nothing for a variable to redirect.
"""

import os
import uuid
from datetime import UTC, datetime

from ansible import context
from ansible.plugins.action import ActionBase
from ansible.utils.vars import load_extra_vars
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils import grant, guard
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.errors import RollbackError


def _new_run_id():
    return f"{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}-{uuid.uuid4().hex[:6]}"


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        result["changed"] = False
        # The worker running this task is a child of the ansible-playbook process; the grant
        # and the lock belong to that process.
        pid = os.getppid()
        run_id = _new_run_id()
        groups = (task_vars or {}).get("groups") or {}
        try:
            outcome = guard.authorize_playbook_run(
                pid=pid,
                cli=dict(context.CLIARGS),
                extra_vars=load_extra_vars(self._loader),
                identities=grant.identities(pid),
                lb_hosts=list(groups.get("lb") or ()),
                check=bool(self._task.check_mode),
                run_id=run_id,
                groups={name: list(hosts or ()) for name, hosts in groups.items()},
            )
        except RollbackError as exc:
            result.update(
                failed=True, msg=exc.one_line(), failure_kind=type(exc).__name__, run_id=run_id
            )
            return result
        result.update(outcome)
        return result
