"""Business rules. Functions are keyword-only, run inside the caller's transaction and never commit."""
