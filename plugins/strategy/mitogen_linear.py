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

try:
    import ansible_mitogen.loaders
    import ansible_mitogen.strategy
except ImportError as exc:
    # Without mitogen, a run using this strategy stops on the same ImportError, raised when the
    # strategy starts instead of when the file loads, so that tools that only read plugins
    # (ansible-doc, ansible-test's import check) can load it.
    MITOGEN_IMPORT_ERROR = exc
else:
    MITOGEN_IMPORT_ERROR = None

if MITOGEN_IMPORT_ERROR is None:
    Base = ansible_mitogen.loaders.strategy_loader.get("linear", class_only=True)

    class StrategyModule(ansible_mitogen.strategy.StrategyMixin, Base):
        pass

else:
    from ansible.plugins.strategy import StrategyBase

    class StrategyModule(StrategyBase):
        def __init__(self, *args, **kwargs):
            raise MITOGEN_IMPORT_ERROR
