"""Staff console sessions: a random id in an HttpOnly cookie, the rest in Redis.

The browser holds only the id; Redis holds, under a digest of it (a copy of Redis holds no
usable id), the user, the token version the session was opened under and the session's CSRF
token. A session ends when it has been idle for ``IDLE_SECONDS`` (every request renews it), on
logout, and when the account's token version moves (a role removed, the account closed: the
same revocation the API's tokens follow, checked by the caller on every request).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass

COOKIE = "haibei_console"
IDLE_SECONDS = 30 * 60  # a PC left unattended at a station


@dataclass(frozen=True)
class ConsoleSession:
    user_id: int
    token_version: int
    csrf: str


def _key(prefix: str, session_id: str) -> str:
    return f"{prefix}console:{hashlib.sha256(session_id.encode()).hexdigest()}"


async def open_session(redis, *, prefix: str, user_id: int, token_version: int) -> tuple[str, ConsoleSession]:
    """A new session: its id (for the cookie, never stored as it is) and what it holds."""
    session_id = secrets.token_urlsafe(32)
    session = ConsoleSession(user_id=user_id, token_version=token_version, csrf=secrets.token_urlsafe(32))
    await redis.set(_key(prefix, session_id), json.dumps(session.__dict__), ex=IDLE_SECONDS)
    return session_id, session


async def find_session(redis, *, prefix: str, session_id: str | None) -> ConsoleSession | None:
    """The live session of this id, its idle time restarted; None if there is none."""
    if not session_id or len(session_id) > 100:
        return None
    # Read and renewed in one round trip (GETEX, Redis 6.2+).
    raw = await redis.getex(_key(prefix, session_id), ex=IDLE_SECONDS)
    if raw is None:
        return None
    return ConsoleSession(**json.loads(raw))


async def close_session(redis, *, prefix: str, session_id: str | None) -> None:
    if session_id:
        await redis.delete(_key(prefix, session_id))


def csrf_ok(session: ConsoleSession, sent: str | None) -> bool:
    return bool(sent) and hmac.compare_digest(session.csrf, sent)
