"""Wall time of `rollbackctl config` against the runbook's configuration rollback by hand.

By hand, as the runbook has it: `git checkout HEAD~1 -- <files>` in the configuration
repository, the files copied to the hosts, each app host restarted and nginx reloaded; no
check before, no safety copy, no checklist after. rollbackctl plans from the ledgers, checks
every file on its host, keeps a safety copy, restarts what reads a changed file one app host
at a time out of nginx's rotation, runs the app checklist and then waits for a person: the
benchmark confirms the moment the run asks, and records both the time until the run asked
(the change live and verified) and the whole command. Both run in the same process on the
same private sandbox, alternating, after the same bad commit (ordering switched off) was
deployed, so machine load affects them alike.

    .venv/bin/python benchmarks/config_rollback.py [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

from stack import BIN, CLI, REPO, private_sandbox, sh, timed

GIT = ["git", "-c", "user.name=bench", "-c", "user.email=bench@example.invalid"]
WAIT_LINE = "Wait for rollbackctl confirm sandbox "
RAW_ROLLBACK = r"""
set -euo pipefail
cd "$ROOT/config"
git checkout -q HEAD~1 -- app/settings.env nginx/site.conf
for host in app1 app2; do
  cp app/settings.env "$ROOT/app/$host/shared/settings.env"
  "$ROOT/app/$host/bin/appctl" stop >/dev/null
  "$ROOT/app/$host/bin/appctl" ensure-started >/dev/null
done
cp nginx/site.conf "$ROOT/nginx/conf/site.d/site.conf"
nginx -s reload -p "$ROOT/nginx/" -c conf/nginx.conf
git checkout -q HEAD -- app/settings.env nginx/site.conf
"""


def commit_settings(root: Path, env: dict[str, str], orders: str, message: str) -> None:
    """A commit of the app settings with ordering on ("true") or off ("false")."""
    settings = root / "config" / "app" / "settings.env"
    lines = [
        f"ORDERS_ENABLED={orders}" if line.startswith("ORDERS_ENABLED=") else line
        for line in settings.read_text().splitlines()
    ]
    settings.write_text("\n".join(lines) + "\n")
    sh([*GIT, "-C", str(root / "config"), "commit", "-q", "--allow-empty", "-am", message], env)


def deploy(env: dict[str, str], *, verify: bool) -> None:
    """config_deploy.yml of the repository's HEAD, with or without the checklist."""
    extra = {"config_deploy_commit": "HEAD", "config_deploy_verify": verify}
    inventory = str(REPO / "inventories/sandbox/hosts.yml")
    playbook = str(REPO / "playbooks/config_deploy.yml")
    sh(
        [str(BIN / "ansible-playbook"), "-i", inventory, playbook, "-e", json.dumps(extra)],
        env,
        cwd=REPO,
    )


def deploy_bad_config(root: Path, env: dict[str, str], run: int) -> None:
    """A new commit that switches ordering off, deployed without the checklist."""
    commit_settings(root, env, "false", f"bad {run}")
    deploy(env, verify=False)


def confirm(run_id: str, env: dict[str, str]) -> None:
    """Confirm as soon as the run has recorded its wait (a moment after it says it waits)."""
    deadline = time.monotonic() + 30
    command = [*CLI, "confirm", "sandbox", run_id, "--by", "bench"]
    while True:
        answer = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        if answer.returncode == 0:
            return
        if time.monotonic() > deadline:
            raise SystemExit(f"run {run_id} never took a confirmation: {answer.stderr.strip()}")
        time.sleep(0.1)


def rollbackctl_timed(env: dict[str, str]) -> tuple[float, float]:
    """(until the run asked for confirmation, whole command) in seconds."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [*CLI, "config", "sandbox", "--yes", "--confirm-within", "600"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    asked = None
    for line in process.stderr:
        # The wait's start; its outcome line names the run again.
        if WAIT_LINE in line and asked is None:
            asked = time.perf_counter() - started
            run_id = line.split(WAIT_LINE)[1].split()[0]
            confirm(run_id, env)
    if process.wait() != 0 or asked is None:
        raise SystemExit(f"rollbackctl config failed (exit {process.returncode})")
    return asked, time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    with private_sandbox(good_release_live=True) as stack:
        env = stack.env
        raw_env = {**env, "ROOT": str(stack.root)}
        samples: dict[str, list[float]] = {
            "rollbackctl_until_asked_s": [],
            "rollbackctl_confirmed_s": [],
            "raw_s": [],
        }
        for run in range(args.runs):
            deploy_bad_config(stack.root, env, run)
            asked, whole = rollbackctl_timed(env)
            samples["rollbackctl_until_asked_s"].append(asked)
            samples["rollbackctl_confirmed_s"].append(whole)
            # The fix committed after a rollback, so the next bad commit starts from it.
            commit_settings(stack.root, env, "true", f"mend {run}")
            deploy_bad_config(stack.root, env, run)
            samples["raw_s"].append(timed(["bash", "-c", RAW_ROLLBACK], raw_env))
            commit_settings(stack.root, env, "true", f"mend again {run}")
            # The hand rollback left the ledgers on the bad commit: deploy the mended one.
            deploy(env, verify=True)
            print(
                f"run {run + 1}: " + "  ".join(f"{k} {v[-1]:.2f}" for k, v in samples.items()),
                file=sys.stderr,
            )
        median = {k: round(statistics.median(v), 3) for k, v in samples.items()}
        print(
            json.dumps(
                {
                    "runs": args.runs,
                    "medians": median,
                    "ratios": {
                        "until_asked": round(
                            median["rollbackctl_until_asked_s"] / median["raw_s"], 2
                        ),
                        "confirmed": round(median["rollbackctl_confirmed_s"] / median["raw_s"], 2),
                    },
                    "samples": {k: [round(x, 3) for x in v] for k, v in samples.items()},
                },
                indent=2,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
