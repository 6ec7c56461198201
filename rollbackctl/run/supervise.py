"""Entry point of a run's supervisor: python -m rollbackctl.run.supervise RUN_DIR.

The CLI starts it in a session of its own; it runs the playbook the run dir describes
through ansible-runner and records how it ended, whatever happens to the CLI meanwhile.
"""

from __future__ import annotations

import sys
from pathlib import Path

from rollbackctl.run.runner import supervise


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m rollbackctl.run.supervise RUN_DIR", file=sys.stderr)
        return 2
    status = supervise(Path(argv[1]).resolve())
    return 0 if status.get("status") == "successful" else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
