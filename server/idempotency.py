"""Idempotency-Key replay: the same key and body get the first answer again; the same key with a
different body is refused (422). Records are per user; the caller holds a per-user lock (the
points account) so two requests with one key cannot both miss the record."""

from __future__ import annotations

import hashlib
from typing import Any

from models import IdempotencyRecord, User
from server.errors import DomainError, ValidationFailed


class KeyReused(DomainError):
    status = 422
    code = "IDEMPOTENCY_KEY_REUSED"
    message = "该请求标识已用于其他请求"


def request_hash(*, method: str, path: str, body: bytes) -> str:
    return hashlib.sha256(method.encode() + b" " + path.encode() + b"\n" + (body or b"")).hexdigest()


def check_key(key: str | None) -> str:
    if not key or len(key) > 100 or not key.isprintable():
        raise ValidationFailed("请提供 Idempotency-Key 请求头(1–100 个字符)",
                               details=[{"field": "Idempotency-Key", "type": "missing"}])
    return key


async def replay(*, user_id: int, key: str, digest: str) -> IdempotencyRecord | None:
    """The stored answer for this key, if any; a different request under the key is refused."""
    record = await IdempotencyRecord.get_or_none(user_id=user_id, key=key)
    if record is not None and record.request_hash != digest:
        raise KeyReused()
    return record


async def remember(*, user_id: int, key: str, digest: str, status: int, response: Any) -> None:
    await IdempotencyRecord.create(user_id=user_id, key=key, request_hash=digest, status_code=status, response=response)


async def hold(*, user_id: int) -> None:
    """The per-user lock for a route without one of its own (the first read of its transaction):
    a retry waits for the first request under its key, then finds its record."""
    # A model query: Tortoise drops FOR UPDATE from values() and values_list().
    await User.select_for_update().get_or_none(id=user_id)
