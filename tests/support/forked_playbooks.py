"""Run many ansible-playbook command lines from one process that imported Ansible once.

Each command line runs in a fork of this process through ansible-playbook's own entry point,
so it is the same run as `ansible-playbook ARGS` from a shell, without paying Python's and
Ansible's start-up for each one: hundreds of short runs (a refusal each) cost a fifth.

Reads {"commands": [[ARG, ...], ...], "parallel": N} on stdin, runs in the current folder with
the current environment, and prints [{"code": EXIT_CODE, "output": STDOUT_AND_STDERR}, ...].
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path


def _child(args: list[str], output: Path) -> None:
    from ansible.cli.playbook import main

    descriptor = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(descriptor, 1)
    os.dup2(descriptor, 2)
    os.close(descriptor)
    sys.argv = ["ansible-playbook", *args]
    code = 1
    try:
        code = main()
    except SystemExit as done:
        code = done.code if isinstance(done.code, int) else 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def run(commands: list[list[str]], parallel: int) -> list[dict[str, object]]:
    # Imported before any fork, so that every child starts with Ansible loaded.
    import ansible.cli.playbook  # noqa: F401

    results: list[dict[str, object]] = [{} for command in commands]
    running: dict[int, tuple[int, Path]] = {}
    with tempfile.TemporaryDirectory() as folder:
        pending = list(enumerate(commands))
        while pending or running:
            while pending and len(running) < parallel:
                index, args = pending.pop(0)
                output = Path(folder) / f"{index}.out"
                sys.stdout.flush()
                sys.stderr.flush()
                pid = os.fork()
                if pid == 0:
                    _child(args, output)
                running[pid] = (index, output)
            pid, status = os.wait()
            index, output = running.pop(pid)
            results[index] = {
                "code": os.waitstatus_to_exitcode(status),
                "output": output.read_text(errors="replace"),
            }
    return results


def main() -> None:
    request = json.load(sys.stdin)
    json.dump(run(request["commands"], request["parallel"]), sys.stdout)


if __name__ == "__main__":
    main()
