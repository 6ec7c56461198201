# Copyright: rollbackctl maintainers
# SPDX-License-Identifier: Apache-2.0
"""Read a host's environment identity and record it for this run's authorize step."""

import os

from ansible.plugins.action import ActionBase
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils import grant as run_grant
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.guarded import (
    IDENTITY_MODULE,
    connection_of,
    identity_file,
)


class ActionModule(ActionBase):
    TRANSFERS_FILES = False

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        host = task_vars.get("inventory_hostname")
        result.update(
            self._execute_module(
                module_name=IDENTITY_MODULE,
                module_args={"path": identity_file(self, task_vars)},
                task_vars=task_vars,
            )
        )
        if not result.get("failed"):
            run_grant.record_identity(
                os.getppid(), host, result.get("environment"), connection_of(self, task_vars)
            )
        return result
