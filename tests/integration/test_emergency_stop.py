"""Emergency stop and resume on a real sandbox, seen the way users and operators see them.

The stop puts up the maintenance page (503 with Retry-After on every route but health), makes
the database refuse writes and stops the app hosts (the sandbox's emergency_stop_app_hosts);
resume undoes all three and proves the app through nginx, or puts the page back.
"""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from tests.support.sandbox import APP_HOSTS, Sandbox

pytestmark = pytest.mark.integration

GOOD, BAD = "2026.11.1", "2026.11.2"


def app_write_error(stack: Sandbox) -> str | None:
    """What a fresh session of the app's database user gets when it writes; None if it works."""
    try:
        with (
            psycopg.connect(
                host="127.0.0.1", port=stack.db_port, user="market", dbname="market"
            ) as conn,
            conn.transaction(force_rollback=True),
        ):
            conn.execute("UPDATE users SET updated_at = updated_at")
    except psycopg.Error as exc:
        return type(exc).__name__
    return None


def app_host_answers(stack: Sandbox, host: str) -> bool:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{stack.ports[host]}/api/health", timeout=5):
            return True
    except (urllib.error.URLError, OSError):
        return False


def assert_maintenance_page(stack: Sandbox) -> None:
    for route in ("/", "/api/products", "/api/orders"):
        status, headers, body = stack.fetch(route)
        assert status == 503, (route, status)
        assert int(headers["Retry-After"]) > 0
        assert "maintenance" in body
    # A write gets the page too (503, so clients retry), not a 405 of the static file.
    status, headers, body = stack.fetch("/api/login", method="POST")
    assert status == 503 and int(headers["Retry-After"]) > 0 and "maintenance" in body


# First in the file: it needs the stack's bad release current; the `good` fixture below rolls
# the module's stack to the good release for the tests after it.
def test_a_resume_whose_checklist_fails_puts_the_maintenance_page_back(sandbox: Sandbox) -> None:
    assert sandbox.served_release() == BAD
    assert sandbox.cli("emergency-stop", "sandbox").code == 0

    resumed = sandbox.cli("resume", "sandbox", "--yes", "--output", "json")

    assert resumed.code == 6, resumed.stderr
    last = resumed.stderr.strip().splitlines()[-1]
    assert last.startswith("rollbackctl: error: resume failed: application checklist failed")
    assert "order_placement" in last and "the maintenance page is up again" in last
    assert_maintenance_page(sandbox)
    assert resumed.json()["emergency"]["maintenance_page"] == {"lb1": "on"}


@pytest.fixture(scope="module")
def good(sandbox_stack: Sandbox) -> Sandbox:
    """The module's stack with the good release live, remembered as the state to reset to."""
    result = sandbox_stack.cli("app", "sandbox", "--yes")
    assert result.code == 0, result.stderr
    sandbox_stack.snapshot()
    return sandbox_stack


@pytest.fixture
def stack(good: Sandbox) -> Iterator[Sandbox]:
    yield good
    good.restore()


def test_emergency_stop_shows_the_maintenance_page_stops_writes_and_the_app(
    stack: Sandbox,
) -> None:
    assert stack.place_order() == 201 and app_write_error(stack) is None

    stopped = stack.cli("emergency-stop", "sandbox", "--output", "json")

    assert stopped.code == 0, stopped.stderr
    assert_maintenance_page(stack)
    # Health is proxied, not the page: it shows the app hosts as they are, stopped.
    health = stack.fetch("/api/health")
    assert health[0] == 502 and "maintenance" not in health[2]
    assert app_write_error(stack) == "ReadOnlySqlTransaction"
    assert not any(app_host_answers(stack, host) for host in APP_HOSTS)
    document = stopped.json()
    assert document["emergency"] == {
        "maintenance_page": {"lb1": "on"},
        "app_hosts": {"app1": "stopped", "app2": "stopped"},
    }
    assert document["database"]["read_only"] is True
    assert "run_id" in stack.maintenance_flag.read_text()


def test_a_second_stop_changes_nothing_and_keeps_the_first_record(stack: Sandbox) -> None:
    assert stack.cli("emergency-stop", "sandbox").code == 0
    record, state = stack.maintenance_flag.read_text(), stack.host_state()

    again = stack.cli("emergency-stop", "sandbox", "--output", "json")

    assert again.code == 0, again.stderr
    assert stack.maintenance_flag.read_text() == record
    assert stack.host_state() == state


def test_resume_serves_users_again_with_writes_and_a_passing_checklist(stack: Sandbox) -> None:
    assert stack.cli("emergency-stop", "sandbox").code == 0
    plan = stack.cli("resume", "sandbox", "--check")
    assert plan.code == 0, plan.stderr
    assert_maintenance_page(stack)

    resumed = stack.cli("resume", "sandbox", "--yes", "--output", "json")

    assert resumed.code == 0, resumed.stderr
    assert not stack.maintenance_flag.exists()
    assert stack.served_release() == GOOD
    assert stack.place_order() == 201
    assert app_write_error(stack) is None
    document = resumed.json()
    assert all(check["ok"] for check in document["checklist"]), document["checklist"]
    assert document["emergency"]["app_hosts"] == {"app1": "serving", "app2": "serving"}


def test_resume_when_not_stopped_is_refused_and_changes_nothing(stack: Sandbox) -> None:
    before = stack.host_state()

    refused = stack.cli("resume", "sandbox", "--yes")

    assert refused.code == 3, refused.stderr
    last = refused.stderr.strip().splitlines()[-1]
    assert "sandbox is not under an emergency stop" in last and "nothing to resume" in last
    assert stack.host_state() == before


def test_an_nginx_without_the_maintenance_switch_fails_the_stop_loudly(stack: Sandbox) -> None:
    conf = stack.root / "nginx" / "conf" / "nginx.conf"
    original = conf.read_text()
    conf.write_text(original.replace("return 503;", "set $old_config 1;"))
    stack.reload_nginx()
    try:
        stopped = stack.cli("emergency-stop", "sandbox")

        assert stopped.code != 0
        last = stopped.stderr.strip().splitlines()[-1]
        assert "not the maintenance page (503 with Retry-After)" in last
        assert "apply the nginx_server role" in last
        assert not stack.maintenance_flag.exists()  # a flag nginx ignores does not stay behind
        # The failure stops the run before writes or app hosts are touched.
        assert app_write_error(stack) is None
        assert all(app_host_answers(stack, host) for host in APP_HOSTS)
    finally:
        conf.write_text(original)
        stack.reload_nginx()
