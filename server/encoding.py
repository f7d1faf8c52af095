"""JSON as the API writes it: compact UTF-8 (Chinese readable), datetimes in ISO 8601."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

import orjson


def _default(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def dumps(value: Any) -> bytes:
    """Compact UTF-8 JSON (Chinese readable, datetimes ISO 8601) by orjson: about ten times the
    standard library's speed, which every response pays (seen in profiles)."""
    try:
        return orjson.dumps(value, default=_default, option=orjson.OPT_NON_STR_KEYS)
    except orjson.JSONEncodeError:
        # What orjson refuses and the standard library writes, e.g. an integer beyond 64 bits
        # echoed from a request: same output, the slow way.
        return json.dumps(value, default=_default, ensure_ascii=False, separators=(",", ":")).encode()
