"""The one clock. Services take ``now`` as an argument; the app reads it from ``app.ctx.clock``,
which tests may replace to move time (auto-release, expiry, check-in windows)."""

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

# Calendar days (daily caps, ages, months of the leaderboard) are Weihai's, not UTC's.
CHINA_TZ = ZoneInfo("Asia/Shanghai")


def utc_now() -> datetime:
    return datetime.now(timezone.utc)
