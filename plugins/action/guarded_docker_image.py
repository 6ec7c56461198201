# Copyright: rollbackctl maintainers
# SPDX-License-Identifier: Apache-2.0
"""community.docker.docker_image, run only where the guard allows a change."""

from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.guarded import (
    GuardedModuleAction,
)


class ActionModule(GuardedModuleAction):
    MODULE = "community.docker.docker_image"
