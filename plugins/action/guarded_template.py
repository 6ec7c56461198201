# Copyright: rollbackctl maintainers
# SPDX-License-Identifier: Apache-2.0
"""ansible.builtin.template, run only where the guard allows a change."""

from ansible.plugins.action.template import ActionModule as BuiltinTemplate
from ansible_collections.rollbackctl.runbooks.plugins.plugin_utils.guarded import (
    GuardedActionMixin,
)


class ActionModule(GuardedActionMixin, BuiltinTemplate):
    pass
