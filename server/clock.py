"""The one clock. Services take ``now`` as an argument; the app reads it from ``app.ctx.clock``,
which tests may replace to move time (auto-release, expiry, check-in windows)."""

from datetime import datetime, timezone


def utc_now() -> datetime:
    return datetime.now(timezone.utc)
