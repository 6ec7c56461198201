# Copyright: rollbackctl maintainers
# SPDX-License-Identifier: Apache-2.0
"""ansible.builtin.command, run only where the guard allows a change."""

from ansible.plugins.action.command import ActionModule as BuiltinCommand
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.guarded import (
    GuardedActionMixin,
)


class ActionModule(GuardedActionMixin, BuiltinCommand):
    pass
