"""The marketplace's JSON endpoints, routed by method and path, independent of the HTTP server."""

from __future__ import annotations

import re
import secrets
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psycopg

import database
import passwords
import providers
import tokens
from release_info import Release
from settings import Settings

Body = dict[str, Any]
Response = tuple[int, Body]


class HttpError(Exception):
    """Ends a request early with a status and a one-line JSON error."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class App:
    settings: Settings
    release: Release

    def connect(self) -> psycopg.Connection:
        return database.connect(self.settings)


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: Body
    params: tuple[str, ...] = field(default=())

    def claims(self, app: App) -> tokens.Claims:
        """The caller's verified token claims; 401 when there is no valid bearer token."""
        scheme, _, token = self.headers.get("authorization", "").partition(" ")
        claims = tokens.verify(app.settings.secret, token.strip()) if scheme == "Bearer" else None
        if claims is None:
            raise HttpError(401, "missing, invalid or expired token")
        return claims

    def positive_int(self, name: str) -> int:
        value = self.body.get(name)
        # bool is an int in Python, but true is not a quantity.
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise HttpError(400, f"{name} must be a positive integer")
        return value

    def text(self, name: str) -> str:
        value = self.body.get(name)
        if not isinstance(value, str) or not value:
            raise HttpError(400, f"{name} must be a non-empty string")
        return value


def health(app: App, request: Request) -> Response:
    body: Body = {
        "status": "ok",
        "release": app.release.id,
        "schema_version": app.release.schema_version,
    }
    try:
        with app.connect() as conn:
            body["db_schema_version"] = database.schema_version(conn)
    except psycopg.Error as exc:
        return 503, {**body, "status": "degraded", "database": _first_line(exc)}
    return 200, {**body, "database": "ok"}


def login(app: App, request: Request) -> Response:
    email, password = request.text("email"), request.text("password")
    with app.connect() as conn:
        row = conn.execute(
            "SELECT id, password_hash, is_admin FROM users WHERE email = %s", (email,)
        ).fetchone()
    # One message for unknown user and wrong password, so logins cannot probe for accounts.
    if row is None or not passwords.verify_password(password, row[1]):
        raise HttpError(401, "invalid email or password")
    user_id, _, is_admin = row
    token = tokens.issue(app.settings.secret, user_id, is_admin)
    return 200, {"token": token, "user_id": user_id, "is_admin": is_admin}


def place_order(app: App, request: Request) -> Response:
    claims = request.claims(app)
    # Managed settings (settings.env): ordering can be switched off, and a quantity capped.
    if app.settings.get("ORDERS_ENABLED", "true") != "true":
        raise HttpError(503, "ordering is switched off (ORDERS_ENABLED)")
    product_id, quantity = request.positive_int("product_id"), request.positive_int("quantity")
    cap = app.settings.get("ORDER_MAX_QUANTITY", "")
    if cap and quantity > int(cap):
        raise HttpError(422, f"quantity over ORDER_MAX_QUANTITY ({cap})")
    with app.connect() as conn:
        # The conditional update takes the row lock, so concurrent orders cannot oversell.
        row = conn.execute(
            "UPDATE products SET stock = stock - %(q)s WHERE id = %(p)s AND stock >= %(q)s"
            " RETURNING price_cents",
            {"p": product_id, "q": quantity},
        ).fetchone()
        if row is None:
            exists = conn.execute("SELECT 1 FROM products WHERE id = %s", (product_id,)).fetchone()
            if exists:
                raise HttpError(409, "not enough stock")
            raise HttpError(404, "no such product")
        total = row[0] * quantity
        order = conn.execute(
            "INSERT INTO orders (user_id, product_id, quantity, total_cents, status)"
            " VALUES (%s, %s, %s, %s, 'placed') RETURNING id",
            (claims.user_id, product_id, quantity, total),
        ).fetchone()
    assert order is not None
    return 201, {"order_id": order[0], "total_cents": total, "status": "placed"}


def pay_order(app: App, request: Request) -> Response:
    claims = request.claims(app)
    order_id = int(request.params[0])
    with app.connect() as conn:
        status, payment_ref = _lock_visible_order(conn, order_id, claims)
        # Paying twice returns the first payment instead of charging again.
        if status != "paid":
            payment_ref = _charge(app, conn, order_id)
            conn.execute(
                "UPDATE orders SET status = 'paid', payment_ref = %s WHERE id = %s",
                (payment_ref, order_id),
            )
    return 200, {"order_id": order_id, "status": "paid", "payment_ref": payment_ref}


def send_notification(app: App, request: Request) -> Response:
    claims = request.claims(app)
    order_id = request.positive_int("order_id")
    channel = request.text("channel")
    if channel not in CHANNEL_PROVIDERS:
        raise HttpError(400, f"channel must be one of {', '.join(CHANNEL_PROVIDERS)}")
    with app.connect() as conn:
        _lock_visible_order(conn, order_id, claims)
        _deliver(app, CHANNEL_PROVIDERS[channel], order_id)
        row = conn.execute(
            "INSERT INTO notifications (order_id, channel) VALUES (%s, %s) RETURNING id",
            (order_id, channel),
        ).fetchone()
    assert row is not None
    return 202, {"sent": True, "notification_id": row[0]}


def admin_summary(app: App, request: Request) -> Response:
    if not request.claims(app).is_admin:
        raise HttpError(403, "admin only")
    with app.connect() as conn:
        row = conn.execute(
            "SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM products),"
            " (SELECT count(*) FROM orders)"
        ).fetchone()
    assert row is not None
    return 200, {"users": row[0], "products": row[1], "orders": row[2]}


def integrations(app: App, request: Request) -> Response:
    """The integration checks: each configured provider asked with the pinned API version."""
    if not request.claims(app).is_admin:
        raise HttpError(403, "admin only")
    checked = {name: providers.status(i) for name, i in sorted(app.settings.integrations.items())}
    return 200, {"integrations": checked, "ok": all(c["ok"] for c in checked.values())}


# Which provider delivers a notification channel; sms has none (it is recorded only).
CHANNEL_PROVIDERS = {"email": "email", "sms": None, "push": "push"}


def _charge(app: App, conn: psycopg.Connection, order_id: int) -> str:
    """Charge the order's total through the payment provider when one is configured."""
    integration = app.settings.integrations.get("payment")
    if integration is None:
        return f"pay_{secrets.token_hex(8)}"
    row = conn.execute("SELECT total_cents FROM orders WHERE id = %s", (order_id,)).fetchone()
    assert row is not None
    try:
        charge = providers.call(
            integration, "POST", "/v1/charges", {"amount": row[0], "order": order_id}
        )
    except providers.ProviderError as exc:
        raise HttpError(502, f"payment failed: {exc}") from exc
    return str(charge.get("id") or f"pay_{secrets.token_hex(8)}")


def _deliver(app: App, service: str | None, order_id: int) -> None:
    integration = app.settings.integrations.get(service) if service else None
    if integration is None:
        return
    try:
        providers.call(integration, "POST", "/v1/messages", {"order": order_id})
    except providers.ProviderError as exc:
        raise HttpError(502, f"notification failed: {exc}") from exc


def _lock_visible_order(
    conn: psycopg.Connection, order_id: int, claims: tokens.Claims
) -> tuple[str, str | None]:
    """Status and payment reference of an order the caller may see; 404 hides other users'."""
    row = conn.execute(
        "SELECT user_id, status, payment_ref FROM orders WHERE id = %s FOR UPDATE", (order_id,)
    ).fetchone()
    if row is None or (row[0] != claims.user_id and not claims.is_admin):
        raise HttpError(404, "no such order")
    return row[1], row[2]


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    handler: Callable[[App, Request], Response]
    fault: str


ROUTES = (
    Route("GET", re.compile(r"/api/health"), health, "health"),
    Route("POST", re.compile(r"/api/login"), login, "authentication"),
    Route("POST", re.compile(r"/api/orders"), place_order, "order_placement"),
    Route("POST", re.compile(r"/api/orders/(\d+)/pay"), pay_order, "payment_processing"),
    Route("POST", re.compile(r"/api/notifications"), send_notification, "notifications"),
    Route("GET", re.compile(r"/api/admin/summary"), admin_summary, "admin"),
    Route("GET", re.compile(r"/api/admin/integrations"), integrations, "integrations"),
)


def route_name(method: str, path: str) -> str:
    """What requests to method and path are counted under: their handler's name, or
    'unmatched' (a raw path would give every URL a scanner tries a series of its own)."""
    route = next((r for r in ROUTES if r.method == method and r.pattern.fullmatch(path)), None)
    return route.handler.__name__ if route else "unmatched"


def dispatch(app: App, request: Request) -> Response:
    """Route a request and turn every failure into a JSON response; never raises."""
    matches = [(r, m) for r in ROUTES if (m := r.pattern.fullmatch(request.path))]
    route = next((r for r, _ in matches if r.method == request.method), None)
    if route is None:
        return (405, {"error": "method not allowed"}) if matches else (404, {"error": "not found"})
    if route.fault in app.release.faults:
        return _fault_response(app, route.fault)
    request.params = next(m for r, m in matches if r is route).groups()
    try:
        return route.handler(app, request)
    except HttpError as exc:
        return exc.status, {"error": exc.message}
    except psycopg.OperationalError as exc:
        # Connection-level trouble: the database is down or restarting, so ask clients to retry.
        return 503, {"error": f"database unavailable: {_first_line(exc)}"}
    except Exception:
        traceback.print_exc()
        return 500, {"error": "internal error"}


def _fault_response(app: App, fault: str) -> Response:
    message = f"{fault.replace('_', ' ')} is broken in release {app.release.id} (injected fault)"
    if fault == "health":
        return 503, {
            "status": "degraded",
            "release": app.release.id,
            "schema_version": app.release.schema_version,
            "error": message,
            "fault": fault,
        }
    return 500, {"error": message, "fault": fault}


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
