"""Default data shipped as versioned files beside this module, loaded once at import."""

from __future__ import annotations

import json
from pathlib import Path

_DIR = Path(__file__).resolve().parent


def _load(name: str) -> dict:
    return json.loads((_DIR / name).read_text(encoding="utf-8"))


HOUSEHOLD_CATEGORY_ROWS: list[dict] = _load("household_categories.json")["categories"]
HOUSEHOLD_CATEGORIES: tuple[str, ...] = tuple(c["name"] for c in HOUSEHOLD_CATEGORY_ROWS)
SERVICE_CATALOGUE: dict = _load("service_catalogue.json")
POINTS_RULES: dict = _load("points_rules.json")
CREDIT_THRESHOLDS: list[dict] = _load("credit_thresholds.json")["thresholds"]
NOTIFICATION_TEMPLATES: dict = _load("notification_templates.json")["events"]
CONTENT_WORDS: frozenset[str] = frozenset(_load("content_words.json")["risky"])
QUESTIONNAIRE: dict = _load("questionnaire.json")
RECOMMENDATION_RULES: list[dict] = _load("recommendation_rules.json")["rules"]
RATE_LIMITS: dict = _load("rate_limits.json")["limits"]
REASSESSMENT: dict = _load("reassessment.json")
COMPLAINTS: dict = _load("complaints.json")
DEADLINES: dict = _load("deadlines.json")
CREDIT_CONSENT: dict = _load("credit_consent.json")
