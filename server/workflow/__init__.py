"""The service workflow: needs, tasks, claims, referrals, pairings, their timeline and the
cascades that cross them (flows.py)."""
