"""The sample app as its users see it: real PostgreSQL, real release artifacts, real HTTP."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    # Neither sample_app nor tests/support is installed; import them from the checkout.
    sys.path.insert(0, str(REPO_ROOT))

from sample_app.build_release import build_release  # noqa: E402
from tests.support.pgcluster import PgCluster, free_port  # noqa: E402

pytestmark = pytest.mark.integration

GOOD, BAD, SCHEMA_2 = "2026.11.1", "2026.11.2", "2026.11.3"
BUILD_RELEASE = REPO_ROOT / "sample_app" / "build_release.py"
ADMIN = {"email": "admin@example.com", "password": "admin-pass"}
CUSTOMER = {"email": "customer@example.com", "password": "customer-pass"}


@dataclass(frozen=True)
class Market:
    """One database plus unpacked releases that can be migrated and served against it."""

    cluster: PgCluster
    dbname: str
    workdir: Path

    def release(self, release_id: str) -> Path:
        target = self.workdir / "releases" / release_id
        if not target.exists():
            artifact = build_release(release_id, self.workdir / "artifacts" / f"{release_id}.tgz")
            with tarfile.open(artifact) as tar:
                tar.extractall(target, filter="data")
        return target

    def env_file(self, port: int = 0) -> Path:
        path = self.workdir / f"{self.dbname}-{port}.env"
        path.write_text(
            "\n".join(
                [
                    "APP_BIND=127.0.0.1",
                    f"APP_PORT={port}",
                    "DB_HOST=127.0.0.1",
                    f"DB_PORT={self.cluster.port}",
                    f"DB_NAME={self.dbname}",
                    "DB_USER=postgres",
                    "DB_PASSWORD=",
                    "APP_SECRET=test-signing-key",
                ]
            )
            + "\n"
        )
        return path

    def migrate(self, release_id: str) -> dict[str, Any]:
        result = subprocess.run(
            [sys.executable, self.release(release_id) / "migrate.py", "--config", self.env_file()],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    def query(self, statement: str, *params: Any) -> list[tuple[Any, ...]]:
        with self.cluster.connect(self.dbname) as conn:
            return conn.execute(statement, params or None).fetchall()

    def count(self, table: str) -> int:
        return int(self.query(f"SELECT count(*) FROM {table}")[0][0])

    @contextmanager
    def serve(self, release_id: str) -> Iterator[App]:
        """Run the release's app.py on a free port until the block ends, then kill it."""
        port = free_port()
        log_path = self.workdir / f"app-{release_id}-{port}.log"
        command = [sys.executable, self.release(release_id) / "app.py"]
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [*command, "--config", self.env_file(port)], stdout=log, stderr=log
            )
        app = App(f"http://127.0.0.1:{port}", process, log_path)
        try:
            app.wait_until_listening()
            yield app
        finally:
            process.kill()
            process.wait(timeout=10)


@dataclass(frozen=True)
class App:
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def call(
        self, method: str, path: str, body: dict[str, Any] | None = None, token: str = ""
    ) -> tuple[int, dict[str, Any]]:
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data, headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.load(response)
        except urllib.error.HTTPError as error:
            with error:
                return error.code, json.load(error)

    def metrics(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        """/metrics as Prometheus reads it: {(sample name, sorted labels): value}."""
        with urllib.request.urlopen(self.url + "/metrics", timeout=10) as response:
            assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
            text = response.read().decode()
        return {
            (sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        }

    def login(self, credentials: dict[str, str]) -> str:
        status, body = self.call("POST", "/api/login", credentials)
        assert status == 200, body
        return str(body["token"])

    def wait_until_listening(self, timeout: float = 15) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log_path.read_text()
            try:
                self.call("GET", "/api/health")
                return
            except OSError:
                time.sleep(0.1)
        raise AssertionError(f"app did not listen within {timeout}s: {self.log_path.read_text()}")


@contextmanager
def fresh_market(dbname: str) -> Iterator[Market]:
    """A cluster of its own and a work folder, both removed afterwards whatever happens."""
    with (
        tempfile.TemporaryDirectory(prefix="market-") as workdir,
        PgCluster() as cluster,
    ):
        cluster.createdb(dbname)
        yield Market(cluster, dbname, Path(workdir))


@pytest.fixture(scope="module")
def market() -> Iterator[Market]:
    with fresh_market("market") as market:
        market.migrate(GOOD)
        yield market


@pytest.fixture(scope="module")
def good_app(market: Market) -> Iterator[App]:
    with market.serve(GOOD) as app:
        yield app


@pytest.fixture(scope="module")
def bad_app(market: Market) -> Iterator[App]:
    with market.serve(BAD) as app:
        yield app


@pytest.fixture(scope="module")
def customer_token(good_app: App) -> str:
    return good_app.login(CUSTOMER)


@pytest.fixture(scope="module")
def admin_token(good_app: App) -> str:
    return good_app.login(ADMIN)


def product(market: Market, sku: str = "AM-COFFEE-250") -> tuple[int, int, int]:
    """id, price_cents and stock of a seeded product."""
    row = market.query("SELECT id, price_cents, stock FROM products WHERE sku = %s", sku)[0]
    return row[0], row[1], row[2]


def place_order(app: App, token: str, market: Market, quantity: int = 1) -> dict[str, Any]:
    status, body = app.call(
        "POST", "/api/orders", {"product_id": product(market)[0], "quantity": quantity}, token
    )
    assert status == 201, body
    return body


def test_health_reports_release_and_schema(good_app: App) -> None:
    status, body = good_app.call("GET", "/api/health")

    assert status == 200
    assert body == {
        "status": "ok",
        "release": GOOD,
        "schema_version": 1,
        "database": "ok",
        "db_schema_version": 1,
    }


def test_login_returns_token_for_right_password(good_app: App) -> None:
    status, body = good_app.call("POST", "/api/login", CUSTOMER)

    assert status == 200
    assert body["token"]
    assert body["is_admin"] is False


def test_login_rejects_wrong_password(good_app: App) -> None:
    status, body = good_app.call("POST", "/api/login", {**CUSTOMER, "password": "wrong"})

    assert status == 401
    assert "error" in body


def test_order_placement_charges_price_and_takes_stock(
    good_app: App, customer_token: str, market: Market
) -> None:
    product_id, price, stock_before = product(market)

    status, body = good_app.call(
        "POST", "/api/orders", {"product_id": product_id, "quantity": 3}, customer_token
    )

    assert status == 201
    assert body["status"] == "placed"
    assert body["total_cents"] == 3 * price
    assert product(market)[2] == stock_before - 3


def test_order_placement_needs_a_token(good_app: App, market: Market) -> None:
    status, _ = good_app.call("POST", "/api/orders", {"product_id": product(market)[0]})

    assert status == 401


def test_order_placement_fails_visibly_on_bad_release(
    bad_app: App, customer_token: str, market: Market
) -> None:
    orders_before = market.count("orders")

    status, body = bad_app.call(
        "POST", "/api/orders", {"product_id": product(market)[0], "quantity": 1}, customer_token
    )

    assert status == 500
    assert body["fault"] == "order_placement"
    assert market.count("orders") == orders_before


def test_bad_release_still_reports_healthy(bad_app: App) -> None:
    # Why verification must go beyond /api/health: the broken release passes it.
    status, body = bad_app.call("GET", "/api/health")

    assert (status, body["release"]) == (200, BAD)


def test_payment_marks_order_paid(good_app: App, customer_token: str, market: Market) -> None:
    order_id = place_order(good_app, customer_token, market)["order_id"]

    status, body = good_app.call("POST", f"/api/orders/{order_id}/pay", {}, customer_token)

    assert status == 200
    assert body["status"] == "paid"
    rows = market.query("SELECT status, payment_ref FROM orders WHERE id = %s", order_id)
    assert rows == [("paid", body["payment_ref"])]


def test_notification_is_recorded(good_app: App, customer_token: str, market: Market) -> None:
    order_id = place_order(good_app, customer_token, market)["order_id"]

    status, body = good_app.call(
        "POST", "/api/notifications", {"order_id": order_id, "channel": "email"}, customer_token
    )

    assert status == 202
    assert body["sent"] is True
    rows = market.query(
        "SELECT order_id, channel FROM notifications WHERE id = %s", body["notification_id"]
    )
    assert rows == [(order_id, "email")]


def test_admin_summary_counts_rows(good_app: App, admin_token: str, market: Market) -> None:
    status, body = good_app.call("GET", "/api/admin/summary", token=admin_token)

    assert status == 200
    assert body == {
        "users": market.count("users"),
        "products": market.count("products"),
        "orders": market.count("orders"),
    }


def test_admin_summary_is_forbidden_for_customer(good_app: App, customer_token: str) -> None:
    status, _ = good_app.call("GET", "/api/admin/summary", token=customer_token)

    assert status == 403


def test_token_from_one_instance_works_on_another(
    good_app: App, bad_app: App, admin_token: str
) -> None:
    # Two app hosts behind nginx share APP_SECRET, so a login survives a switch between them.
    status, _ = bad_app.call("GET", "/api/admin/summary", token=admin_token)

    assert status == 200


def test_migrate_twice_changes_nothing(market: Market) -> None:
    tables = ("users", "products", "orders", "schema_migrations")
    before = {table: market.count(table) for table in tables}

    result = market.migrate(GOOD)

    assert result == {"schema_version": 1, "applied": [], "seeded": {"users": 0, "products": 0}}
    assert {table: market.count(table) for table in tables} == before


def test_schema_2_release_migrates_and_schema_1_release_still_works() -> None:
    with fresh_market("upgrade") as market:
        market.migrate(GOOD)

        result = market.migrate(SCHEMA_2)

        assert result["applied"] == ["0002_product_description"]
        with market.serve(GOOD) as app:
            token = app.login(CUSTOMER)
            assert app.call("GET", "/api/health")[1]["db_schema_version"] == 2
            place_order(app, token, market)


def test_release_artifact_ships_only_known_migrations(tmp_path: Path) -> None:
    with tarfile.open(build_release(GOOD, tmp_path / "good.tgz")) as tar:
        names = tar.getnames()
        release = json.load(tar.extractfile("release.json"))  # type: ignore[arg-type]

    assert {"app.py", "migrate.py", "migrations/0001_init.sql"} <= set(names)
    assert "migrations/0002_product_description.sql" not in names
    assert release == {"id": GOOD, "schema_version": 1, "faults": []}


def test_build_release_is_byte_for_byte_deterministic(tmp_path: Path) -> None:
    first = build_release(BAD, tmp_path / "first.tgz").read_bytes()
    time.sleep(1.1)  # a build that leaked the clock into the archive would now differ

    second = build_release(BAD, tmp_path / "second.tgz").read_bytes()

    assert first == second


def test_build_release_rejects_unknown_id(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, BUILD_RELEASE, "1999.1.1", tmp_path / "x.tgz"],
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "unknown release" in result.stderr
    assert not (tmp_path / "x.tgz").exists()


def test_app_exits_zero_on_sigterm(market: Market) -> None:
    with market.serve(GOOD) as app:
        app.process.send_signal(signal.SIGTERM)

        assert app.process.wait(timeout=5) == 0


def test_health_is_503_while_database_is_down_and_recovers() -> None:
    with fresh_market("outage") as market:
        market.migrate(GOOD)
        with market.serve(GOOD) as app:
            market.cluster.stop_server()

            status, body = app.call("GET", "/api/health")

            assert (status, body["status"], body["release"]) == (503, "degraded", GOOD)
            market.cluster.start()
            assert app.call("GET", "/api/health")[0] == 200


def requests_of(metrics: dict, route: str, status: int) -> float:
    labels = {"route": route, "status": str(status)}
    return sum(
        value
        for (name, sample_labels), value in metrics.items()
        if name == "market_http_requests_total" and labels.items() <= dict(sample_labels).items()
    )


@contextmanager
def serving_an_order(dbname: str) -> Iterator[tuple[Market, App, str, int]]:
    """A market of its own served by the good release, a customer's token and their order."""
    with fresh_market(dbname) as market:
        market.migrate(GOOD)
        with market.serve(GOOD) as app:
            token = app.login(CUSTOMER)
            yield market, app, token, place_order(app, token, market)["order_id"]


def test_metrics_count_requests_by_route_orders_and_payments_and_not_themselves() -> None:
    with serving_an_order("metrics") as (_market, app, token, order_id):
        assert app.call("POST", f"/api/orders/{order_id}/pay", {}, token)[0] == 200
        assert app.call("GET", "/wp-login.php")[0] == 404
        assert app.call("POST", "/api/login", {**CUSTOMER, "password": "wrong"})[0] == 401

        first, again = app.metrics(), app.metrics()

    assert first == again  # scraping is not traffic
    assert requests_of(first, "place_order", 201) == 1
    assert requests_of(first, "pay_order", 200) == 1
    assert requests_of(first, "login", 401) == 1 and requests_of(first, "login", 200) == 1
    assert requests_of(first, "unmatched", 404) == 1  # the path itself is no label
    assert not [labels for name, labels in first if "/wp-login.php" in str(labels)]
    assert first[("market_orders_total", ())] == 1
    assert first[("market_payment_attempts_total", ())] == 1
    assert first[("market_payment_failures_total", ())] == 0
    assert first[("market_release_info", (("release", GOOD), ("schema", "1")))] == 1
    assert first[("market_data_integrity_up", ())] == 1
    checks = ("users_created_after_updated", "orders_negative_total")
    assert [first[("market_data_integrity_violations", (("check", c),))] for c in checks] == [0, 0]
    assert first[("market_security_signal", ())] == 0


def test_corrupt_rows_a_raised_signal_and_a_failed_payment_show_in_the_metrics() -> None:
    with serving_an_order("faults") as (market, app, token, order_id):
        market.query("UPDATE users SET created_at = updated_at + interval '1 day' RETURNING id")
        market.query("UPDATE orders SET total_cents = -1 RETURNING id")
        signal_file = market.env_file().parent / "security-signal"
        signal_file.touch()
        corrupt = app.metrics()

        market.cluster.stop_server()
        assert app.call("POST", f"/api/orders/{order_id}/pay", {}, token)[0] == 503
        # The counts are checked again once they are CHECK_SECONDS old, not per scrape.
        down = app.metrics()
        deadline = time.monotonic() + 20
        while down[("market_data_integrity_up", ())] == 1 and time.monotonic() < deadline:
            time.sleep(1)
            down = app.metrics()
        market.cluster.start()

    users, orders = (
        ("market_data_integrity_violations", (("check", check),))
        for check in ("users_created_after_updated", "orders_negative_total")
    )
    assert (corrupt[users], corrupt[orders]) == (2, 1)  # both seeded users, the one order
    assert corrupt[("market_security_signal", ())] == 1
    # The database gone: the checks cannot run, which is no data, never zero violations.
    assert down[("market_data_integrity_up", ())] == 0
    assert users not in down and orders not in down
    assert down[("market_payment_attempts_total", ())] == 1
    assert down[("market_payment_failures_total", ())] == 1
