# Copyright: rollbackctl maintainers
# SPDX-License-Identifier: Apache-2.0
"""Ansible's linear strategy run over Mitogen: one warm interpreter per host for a whole run.

Each task then costs a message to an interpreter that already holds the module code, not a
new Python process that unpacks and imports it again; on the rollback of a few hosts that
start-up is most of the controller's time.
"""

DOCUMENTATION = r"""
name: mitogen_linear
short_description: The linear strategy, with tasks sent over Mitogen
description:
  - Runs each task on all hosts before the next, like C(ansible.builtin.linear), through
    Mitogen's connection multiplexer, which keeps one interpreter per host for the run.
requirements:
  - mitogen (the Python package) in the Python that runs ansible
"""

import ansible_mitogen.loaders
import ansible_mitogen.strategy

Base = ansible_mitogen.loaders.strategy_loader.get("linear", class_only=True)


class StrategyModule(ansible_mitogen.strategy.StrategyMixin, Base):
    pass
