"""Excel ledgers (台账)."""
