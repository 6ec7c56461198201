#!/usr/bin/python
# Copyright: rollbackctl maintainers
# SPDX-License-Identifier: Apache-2.0
"""Run the application verification checklist against the URL users reach."""

DOCUMENTATION = r"""
module: app_checklist
short_description: Run the application verification checklist in one round trip
description:
  - Checks, in order, that the app is healthy and serves the expected release, that users can
    authenticate, place an order, pay for it, get a notification, that admin functions work, and
    that every third-party provider the app integrates with accepts its pinned API version.
  - Every check runs even when an earlier one fails, so the report shows the whole picture.
  - In check mode nothing is sent (the checklist places a real order).
options:
  base_url:
    description: URL users reach, normally through nginx.
    type: str
    required: true
  expected_release:
    description: Release the health endpoint must report.
    type: str
  customer_email:
    description: Smoke-test customer account.
    type: str
    required: true
  customer_password:
    description: Password of the smoke-test customer.
    type: str
    required: true
  admin_email:
    description: Smoke-test admin account.
    type: str
    required: true
  admin_password:
    description: Password of the smoke-test admin.
    type: str
    required: true
  product_id:
    description: Product the smoke order buys.
    type: int
    default: 1
  wait_seconds:
    description: How long health may take to report the expected release.
    type: float
    default: 20
  only:
    description:
      - Run only these checklist items, in the checklist's order (default every item). A
        third-party rollback runs health and the integration checks, so an unrelated fault of
        the running release does not decide about a provider's settings.
    type: list
    elements: str
    choices:
      - health
      - authentication
      - order_placement
      - payment_processing
      - notifications
      - admin_functions
      - third_party_integrations
    default: []
author: rollbackctl maintainers (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Verify the application checklist through nginx
  rollbackctl.runbooks.app_checklist:
    base_url: http://127.0.0.1:8080
    expected_release: 2026.11.1
    customer_email: customer@example.com
    customer_password: "{{ vault_customer_password }}"
    admin_email: admin@example.com
    admin_password: "{{ vault_admin_password }}"
"""

RETURN = r"""
checks:
  description: One entry per checklist item with name, ok, detail and milliseconds.
  type: list
  elements: dict
  returned: always
"""

import json
import time

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.six.moves.urllib.error import HTTPError, URLError
from ansible.module_utils.urls import open_url


class CheckFailed(Exception):
    pass


def _call(base_url, method, path, body=None, token=None):
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = "Bearer " + token
    try:
        # open_url kept to plain urllib behaviour: credentials from ~/.netrc would replace the
        # bearer token, and the body is read as the server sent it. It raises urllib's errors.
        with open_url(
            base_url.rstrip("/") + path,
            data=data,
            headers=headers,
            method=method,
            timeout=10,
            use_netrc=False,
            decompress=False,
        ) as response:
            return response.status, json.loads(response.read() or b"{}")
    except HTTPError as exc:
        try:
            payload = json.loads(exc.read() or b"{}")
        except ValueError:
            payload = {}
        return exc.code, payload


def _expect(status, payload, wanted, what):
    if status not in wanted:
        error = payload.get("error") if isinstance(payload, dict) else None
        raise CheckFailed(
            "{} returned HTTP {}{}".format(what, status, f": {error}" if error else "")
        )
    return payload


class Checklist:
    def __init__(self, params):
        self.p = params
        self.state = {}

    def health(self):
        deadline = time.time() + self.p["wait_seconds"]
        while True:
            try:
                status, payload = _call(self.p["base_url"], "GET", "/api/health")
                release = payload.get("release")
                if status == 200 and self.p["expected_release"] in (None, release):
                    return f"release {release} healthy"
                problem = f"health returned HTTP {status}, release {release}"
            except (URLError, OSError, ValueError) as exc:
                problem = f"health unreachable: {exc}"
            if time.time() >= deadline:
                raise CheckFailed(
                    problem
                    + (
                        ", expected {}".format(self.p["expected_release"])
                        if self.p["expected_release"]
                        else ""
                    )
                )
            time.sleep(0.2)

    def _login(self, email, password):
        payload = _expect(
            *_call(
                self.p["base_url"], "POST", "/api/login", {"email": email, "password": password}
            ),
            (200,),
            "login",
        )
        return payload["token"]

    def authentication(self):
        self.state["customer"] = self._login(self.p["customer_email"], self.p["customer_password"])
        return "customer signed in"

    def order_placement(self):
        order = _expect(
            *_call(
                self.p["base_url"],
                "POST",
                "/api/orders",
                {"product_id": self.p["product_id"], "quantity": 1},
                self.state["customer"],
            ),
            (200, 201),
            "order placement",
        )
        self.state["order"] = order["order_id"]
        return "order {} placed".format(order["order_id"])

    def payment_processing(self):
        paid = _expect(
            *_call(
                self.p["base_url"],
                "POST",
                "/api/orders/{}/pay".format(self.state["order"]),
                {},
                self.state["customer"],
            ),
            (200,),
            "payment",
        )
        return "order {} {}".format(self.state["order"], paid.get("status"))

    def notifications(self):
        _expect(
            *_call(
                self.p["base_url"],
                "POST",
                "/api/notifications",
                {"order_id": self.state["order"], "channel": "email"},
                self.state["customer"],
            ),
            (200, 202),
            "notification",
        )
        return "notification sent for order {}".format(self.state["order"])

    def admin_functions(self):
        token = self._login(self.p["admin_email"], self.p["admin_password"])
        summary = _expect(
            *_call(self.p["base_url"], "GET", "/api/admin/summary", None, token),
            (200,),
            "admin summary",
        )
        self.state["admin"] = token
        return "admin summary: {} orders".format(summary.get("orders"))

    def third_party_integrations(self):
        if "admin" not in self.state:
            self.state["admin"] = self._login(self.p["admin_email"], self.p["admin_password"])
        checked = _expect(
            *_call(self.p["base_url"], "GET", "/api/admin/integrations", None, self.state["admin"]),
            (200,),
            "integration checks",
        ).get("integrations", {})
        failing = [
            "{} ({})".format(name, c.get("detail"))
            for name, c in checked.items()
            if not c.get("ok")
        ]
        if failing:
            raise CheckFailed("integration check failed: " + "; ".join(failing))
        if not checked:
            return "no third-party integrations configured"
        return "; ".join(
            "{} answers API {}".format(name, c.get("api_version"))
            for name, c in sorted(checked.items())
        )


ITEMS = (
    "health",
    "authentication",
    "order_placement",
    "payment_processing",
    "notifications",
    "admin_functions",
    "third_party_integrations",
)


def run(params):
    checklist = Checklist(params)
    results = []
    for name in [item for item in ITEMS if item in params.get("only") or not params.get("only")]:
        started = time.time()
        try:
            detail, ok = getattr(checklist, name)(), True
        except CheckFailed as exc:
            detail, ok = str(exc), False
        except KeyError as exc:
            # A later item needs what an earlier failed item would have produced.
            detail, ok = f"skipped: needs {exc.args[0]}", False
        except (URLError, OSError, ValueError) as exc:
            detail, ok = f"{name}: {exc}", False
        results.append(
            {"name": name, "ok": ok, "detail": detail, "ms": int((time.time() - started) * 1000)}
        )
    return results


def main():
    module = AnsibleModule(
        argument_spec={
            "base_url": {"type": "str", "required": True},
            "expected_release": {"type": "str"},
            "customer_email": {"type": "str", "required": True},
            "customer_password": {"type": "str", "required": True, "no_log": True},
            "admin_email": {"type": "str", "required": True},
            "admin_password": {"type": "str", "required": True, "no_log": True},
            "product_id": {"type": "int", "default": 1},
            "wait_seconds": {"type": "float", "default": 20},
            "only": {"type": "list", "elements": "str", "choices": list(ITEMS), "default": []},
        },
        supports_check_mode=True,
    )
    if module.check_mode:
        module.exit_json(
            changed=False,
            skipped=True,
            checks=[],
            msg="checklist not run in check mode: it places a real order",
        )
    checks = run(module.params)
    failed = [c for c in checks if not c["ok"]]
    if failed:
        module.fail_json(
            msg="application checklist failed: "
            + "; ".join("{} ({})".format(c["name"], c["detail"]) for c in failed),
            checks=checks,
        )
    module.exit_json(changed=False, checks=checks)


if __name__ == "__main__":
    main()
