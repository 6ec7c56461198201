"""AfricanMarket, the small marketplace that rollbackctl deploys and rolls back in its drills."""
