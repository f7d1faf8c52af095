"""Telling people: the in-app inbox, WeChat subscribe messages and WeChat's push events."""
