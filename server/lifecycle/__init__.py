"""The ends of a person's life in the system, which cross every domain: closing an account."""
