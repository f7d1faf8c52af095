"""Needs, tasks, referrals, pairings and service-record photos."""
