# Copyright: rollbackctl maintainers
# SPDX-License-Identifier: Apache-2.0
"""Run nginx_backend only inside a run that may change this host (see plugin_utils/guarded.py)."""

from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.guarded import (
    GuardedModuleAction,
)


class ActionModule(GuardedModuleAction):
    MODULE = "rollbackctl.runbooks.nginx_backend"
