"""The app's Prometheus metrics, served on /metrics with prometheus_client: what the rollback
triggers watch (meta/triggers.yml in rollbackctl).

Requests are counted by route name, never by raw path, so a scan of random URLs cannot grow
the series without bound. The data-integrity gauge runs the runbook's assessment queries at
most every CHECK_SECONDS; a database that does not answer gives no sample (no data, which
never triggers a rollback) and market_data_integrity_up 0.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

import database
from release_info import Release
from settings import Settings

PATH = "/metrics"
# The runbook's assessment queries: rows no correct write can produce.
INTEGRITY_CHECKS = {
    "users_created_after_updated": "SELECT count(*) FROM users WHERE created_at > updated_at",
    "orders_negative_total": "SELECT count(*) FROM orders WHERE total_cents < 0",
}
# A scrape must not hang on a slow database: Prometheus would time out and see no data anyway.
QUERY_TIMEOUT = "2s"
# How old the counts may be: one check per this many seconds, however many scrapes.
CHECK_SECONDS = 10.0
# Beside app.env: `touch shared/security-signal` raises the signal (an operator or a scanner).
SECURITY_SIGNAL_FILE = "security-signal"

REGISTRY = CollectorRegistry()
REQUESTS = Counter(
    "market_http_requests",
    "Requests answered, by method, route and status.",
    ["method", "route", "status"],
    registry=REGISTRY,
)
PAYMENT_ATTEMPTS = Counter(
    "market_payment_attempts", "Payment requests (POST /api/orders/N/pay).", registry=REGISTRY
)
PAYMENT_FAILURES = Counter(
    "market_payment_failures",
    "Payment requests that failed on the server or at the provider (5xx).",
    registry=REGISTRY,
)
ORDERS = Counter("market_orders", "Orders placed.", registry=REGISTRY)
RELEASE = Gauge(
    "market_release_info",
    "The release this process runs.",
    ["release", "schema"],
    registry=REGISTRY,
)


def observe(method: str, route: str, status: int) -> None:
    """Count one answered request under its route name."""
    REQUESTS.labels(method, route, str(status)).inc()
    if route == "pay_order":
        PAYMENT_ATTEMPTS.inc()
        if status >= 500:
            PAYMENT_FAILURES.inc()
    elif route == "place_order" and status == 201:
        ORDERS.inc()


def watch(settings: Settings, release: Release, config_path: Path) -> None:
    """Add what needs the running app: its release, the integrity checks, the signal file."""
    RELEASE.labels(release.id, str(release.schema_version)).set(1)
    REGISTRY.register(IntegrityCollector(settings))
    REGISTRY.register(SecuritySignalCollector(config_path.parent / SECURITY_SIGNAL_FILE))


def exposition() -> tuple[bytes, str]:
    """The metrics in Prometheus's text format, and its content type."""
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


class IntegrityCollector(Collector):
    """The assessment queries' counts, run at most once per CHECK_SECONDS whatever the number
    of scrapes: /metrics answers anyone who reaches the app's port, and each check is a scan."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._checked_at = float("-inf")
        self._counts: dict[str, int] | None = None

    def collect(self) -> Iterator[GaugeMetricFamily]:
        up = GaugeMetricFamily(
            "market_data_integrity_up", "1 when the integrity checks ran at their last turn."
        )
        counts = self._latest()
        if counts is None:
            up.add_metric([], 0)
            yield up
            return
        violations = GaugeMetricFamily(
            "market_data_integrity_violations",
            "Rows the runbook's assessment queries find wrong, by check.",
            labels=["check"],
        )
        for check, count in counts.items():
            violations.add_metric([check], count)
        up.add_metric([], 1)
        yield violations
        yield up

    def _latest(self) -> dict[str, int] | None:
        """The counts of the last check, checking again once they are CHECK_SECONDS old; None
        when the last check could not run. Scrapes that come meanwhile wait for one check."""
        with self._lock:
            if time.monotonic() - self._checked_at >= CHECK_SECONDS:
                try:
                    self._counts = self._check()
                except psycopg.Error:
                    self._counts = None
                self._checked_at = time.monotonic()
            return self._counts

    def _check(self) -> dict[str, int]:
        with database.connect(self.settings, application_name="africanmarket-metrics") as conn:
            conn.execute(f"SET LOCAL statement_timeout = '{QUERY_TIMEOUT}'")
            return {
                check: int(conn.execute(query).fetchone()[0])
                for check, query in INTEGRITY_CHECKS.items()
            }


class SecuritySignalCollector(Collector):
    def __init__(self, path: Path) -> None:
        self.path = path

    def collect(self) -> Iterator[GaugeMetricFamily]:
        yield GaugeMetricFamily(
            "market_security_signal",
            f"1 while {self.path.name} exists beside the app's settings (raised by an "
            "operator or a scanner).",
            value=1 if self.path.exists() else 0,
        )
