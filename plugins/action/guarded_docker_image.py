# Copyright: rollbackctl maintainers
# SPDX-License-Identifier: Apache-2.0
"""community.docker.docker_image, run only where the guard allows a change."""

from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.guarded import (
    GuardedModuleAction,
)


class ActionModule(GuardedModuleAction):
    MODULE = "community.docker.docker_image"

    def grant_problem(self, grant, task_vars):
        # Images are built or removed when a stack is set up or taken down, never by a runbook:
        # inside an authorized run, a step that builds one would run code the approval never
        # named.
        return (
            f"run {grant.run_id} may not build or remove images; a rollback runs images "
            "that are already on the host"
        )
