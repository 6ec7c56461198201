# Copyright: rollbackctl maintainers
# SPDX-License-Identifier: Apache-2.0
"""ansible.builtin.unarchive, run only where the guard allows a change."""

from ansible.plugins.action.unarchive import ActionModule as BuiltinUnarchive
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.guarded import (
    GuardedActionMixin,
)


class ActionModule(GuardedActionMixin, BuiltinUnarchive):
    pass
