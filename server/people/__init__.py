"""People: accounts, households (residents), volunteers and staff appointments."""
