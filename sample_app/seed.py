"""Insert the demo users and products every environment needs; re-running changes nothing."""

from __future__ import annotations

import psycopg

import passwords
from settings import Settings

# Plenty of stock so drills and smoke tests never run a product out.
PRODUCTS = (
    ("AM-BASKET-001", "Woven bolga basket", 2500, 100_000),
    ("AM-COFFEE-250", "Kenyan AA coffee, 250 g", 1200, 100_000),
    ("AM-SHEA-100", "Shea butter, 100 ml", 800, 100_000),
)


def seed(conn: psycopg.Connection, settings: Settings) -> dict[str, int]:
    """Rows inserted per table; existing rows (matched by email or SKU) are left untouched."""
    users = (
        ("admin@example.com", settings.get("SEED_ADMIN_PASSWORD", "admin-pass"), True),
        ("customer@example.com", settings.get("SEED_CUSTOMER_PASSWORD", "customer-pass"), False),
    )
    inserted = {"users": 0, "products": 0}
    with conn.cursor() as cur:
        for email, password, is_admin in users:
            # Hash only for missing users: hashing is deliberately slow and a re-run is the norm.
            if cur.execute("SELECT 1 FROM users WHERE email = %s", (email,)).fetchone():
                continue
            cur.execute(
                "INSERT INTO users (email, password_hash, is_admin) VALUES (%s, %s, %s)"
                " ON CONFLICT (email) DO NOTHING",
                (email, passwords.hash_password(password), is_admin),
            )
            inserted["users"] += cur.rowcount
        for product in PRODUCTS:
            cur.execute(
                "INSERT INTO products (sku, name, price_cents, stock) VALUES (%s, %s, %s, %s)"
                " ON CONFLICT (sku) DO NOTHING",
                product,
            )
            inserted["products"] += cur.rowcount
    return inserted
