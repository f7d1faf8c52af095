"""The WeChat access token, shared by every process through Redis (wechatpy's session storage).

WeChat rotates the token on every ``/cgi-bin/token`` call and rate-limits that endpoint, so
per-process tokens would keep invalidating each other: one process fetches it under a small
cross-process lock, and all read it from here.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from redis.exceptions import RedisError, WatchError
from wechatpy.session import SessionStorage

logger = logging.getLogger("haibei.wechat")

# How long one process may hold the cross-process "I am fetching the token" lock, and how long the
# others wait for it before fetching anyway (a slow fetch must not turn into an outage).
TOKEN_LOCK_TTL_SECONDS = 10.0
TOKEN_LOCK_WAIT_SECONDS = 5.0


class RedisTokenStorage(SessionStorage):
    """wechatpy session storage on a *sync* Redis client (``redis.Redis`` / ``fakeredis.FakeRedis``).

    Values are JSON-encoded, keys are ``"{prefix}:{key}"`` (same layout as wechatpy's own
    ``RedisStorage``). Besides the SessionStorage API it offers a small cross-process lock that the
    gateway uses so only one process fetches a new token at a time.
    """

    def __init__(self, redis: Any, prefix: str = "haibei:wechat"):
        self.redis = redis
        self.prefix = prefix.rstrip(":")
        # The last value this process stored per key, with its expiry (monotonic): what ``get``
        # answers while Redis is unreachable. Without it every call fetched a token of its own,
        # and WeChat allows 2 000 token fetches a day, each voiding the one before.
        self._local: dict[str, tuple[Any, float | None]] = {}
        self._local_lock = threading.Lock()

    def _remember(self, key: str, value: Any, ttl: int | None) -> None:
        with self._local_lock:
            self._local[key] = (value, time.monotonic() + ttl if ttl else None)

    def _recalled(self, key: str, default: Any) -> Any:
        with self._local_lock:
            value, expires_at = self._local.get(key, (default, None))
            if expires_at is not None and expires_at <= time.monotonic():
                self._local.pop(key, None)
                return default
            return value

    def _forget(self, key: str, value: Any = None) -> None:
        with self._local_lock:
            if value is None or self._local.get(key, (None, None))[0] == value:
                self._local.pop(key, None)

    def key_name(self, key: str) -> str:
        return f"{self.prefix}:{key}"

    # Redis down must not take WeChat down with it: every storage call fails open, to the
    # process's own copy of what it stored (a token is then fetched once per process, not per call).

    def get(self, key: str, default: Any = None) -> Any:
        try:
            raw = self.redis.get(self.key_name(key))
        except RedisError as exc:
            logger.warning("token cache unreachable, using this process's copy", extra={"error": type(exc).__name__})
            return self._recalled(key, default)
        if raw is None:
            return default
        if isinstance(raw, bytes):
            raw = raw.decode("utf-8")
        try:
            return json.loads(raw)
        except ValueError:
            # Someone wrote a non-JSON value; treat it as absent rather than failing every call.
            return default

    def set(self, key: str, value: Any, ttl: int | None = None) -> None:
        if value is None:
            return
        ex = int(ttl) if ttl and int(ttl) > 0 else None
        self._remember(key, value, ex)
        try:
            self.redis.set(self.key_name(key), json.dumps(value), ex=ex)
        except RedisError:
            pass  # not cached this time; the next call fetches again

    def delete(self, key: str) -> None:
        self._forget(key)
        try:
            self.redis.delete(self.key_name(key))
        except RedisError:
            pass

    def delete_if_equal(self, key: str, value: Any) -> bool:
        """Delete ``key`` only if it still holds ``value``.

        Dropping a rejected token must not drop a fresh one another process stored meanwhile.
        WATCH/MULTI instead of a Lua script because fakeredis needs the optional ``lupa`` for Lua.
        """
        self._forget(key, value)
        name = self.key_name(key)
        with self.redis.pipeline() as pipe:
            try:
                pipe.watch(name)
                raw = pipe.get(name)
                if raw is None:
                    return False
                if isinstance(raw, bytes):
                    raw = raw.decode("utf-8")
                try:
                    current = json.loads(raw)
                except ValueError:
                    current = raw
                if current != value and raw != value:
                    return False
                pipe.multi()
                pipe.delete(name)
                pipe.execute()
                return True
            except (WatchError, RedisError):
                return False

    @contextmanager
    def lock(self, name: str, *, ttl: float = TOKEN_LOCK_TTL_SECONDS, wait: float = TOKEN_LOCK_WAIT_SECONDS) -> Iterator[bool]:
        """Best-effort mutex; yields whether it was acquired (the caller proceeds either way)."""
        lock_key = self.key_name(f"lock:{name}")
        owner = uuid.uuid4().hex
        deadline = time.monotonic() + wait
        acquired = False
        while True:
            try:
                if self.redis.set(lock_key, owner, nx=True, px=int(ttl * 1000)):
                    acquired = True
                    break
            except RedisError:
                break  # no lock service: proceed unlocked

            if time.monotonic() >= deadline:
                break
            time.sleep(0.05)
        try:
            yield acquired
        finally:
            if acquired:
                self._release(lock_key, owner)

    def _release(self, lock_key: str, owner: str) -> None:
        with self.redis.pipeline() as pipe:
            try:
                pipe.watch(lock_key)
                raw = pipe.get(lock_key)
                if isinstance(raw, bytes):
                    raw = raw.decode("utf-8")
                if raw != owner:
                    return  # expired and taken by someone else: not ours to delete
                pipe.multi()
                pipe.delete(lock_key)
                pipe.execute()
            except (WatchError, RedisError):
                pass
