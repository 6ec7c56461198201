# Copyright: rollbackctl maintainers
# SPDX-License-Identifier: Apache-2.0
"""ansible.builtin.copy, run only where the guard allows a change."""

from ansible.plugins.action.copy import ActionModule as BuiltinCopy
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.guarded import (
    GuardedActionMixin,
)


class ActionModule(GuardedActionMixin, BuiltinCopy):
    pass
