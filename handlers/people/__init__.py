"""Login, the caller's own account, households and volunteers."""
