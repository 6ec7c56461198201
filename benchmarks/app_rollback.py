"""Wall time of `rollbackctl app sandbox` against a raw shell doing the same steps.

Both run in the same process on the same private sandbox, alternating, so machine load
affects them alike; the figure that matters is the ratio of the medians.

    .venv/bin/python benchmarks/app_rollback.py [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys

from stack import BIN, CLI, REPO, private_sandbox, sh, timed

GOOD, BAD = "2026.11.1", "2026.11.2"

# What an operator would type without rollbackctl: per host stop, switch, start; then wait
# until nginx serves the release. appctl is the host's service manager, as systemctl would be.
RAW_ROLLBACK = r"""
set -euo pipefail
for host in app1 app2; do
  app="$ROOT/app/$host"
  "$app/bin/appctl" stop >/dev/null
  ln -sfn "releases/$TARGET" "$app/current.new" && mv -T "$app/current.new" "$app/current"
  "$app/bin/appctl" ensure-started >/dev/null
done
until curl -fs "$URL/api/health" | grep -q "\"release\": \"$TARGET\""; do sleep 0.05; done
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    with private_sandbox() as stack:
        env = stack.env
        raw_env = {**env, "ROOT": str(stack.root), "URL": stack.url}
        redeploy_bad = [
            str(BIN / "ansible-playbook"),
            "-i",
            str(REPO / "inventories/sandbox/hosts.yml"),
            str(REPO / "playbooks/deploy.yml"),
            "-e",
            f"release_deploy_id={BAD}",
            "-e",
            "release_deploy_verify=false",
        ]
        tool, raw = [], []
        for run in range(args.runs):
            sh(redeploy_bad, env, cwd=REPO)
            tool.append(timed([*CLI, "app", "sandbox", "--yes"], env))
            # Raw baseline from the same starting point: the bad release live on both hosts.
            sh(["bash", "-c", RAW_ROLLBACK], {**raw_env, "TARGET": BAD})
            raw.append(timed(["bash", "-c", RAW_ROLLBACK], {**raw_env, "TARGET": GOOD}))
            print(
                f"run {run + 1}: rollbackctl {tool[-1]:.2f}s  raw shell {raw[-1]:.2f}s",
                file=sys.stderr,
            )
        tool_median, raw_median = statistics.median(tool), statistics.median(raw)
        print(
            json.dumps(
                {
                    "runs": args.runs,
                    "rollbackctl_median_s": round(tool_median, 3),
                    "raw_shell_median_s": round(raw_median, 3),
                    "ratio": round(tool_median / raw_median, 2),
                    "rollbackctl_s": [round(t, 3) for t in tool],
                    "raw_shell_s": [round(t, 3) for t in raw],
                },
                indent=2,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
