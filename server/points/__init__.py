"""Haibei points: the ledger, rewards, leaderboards and the 海贝分 credit export."""
