"""The request's transaction, and the work that waits for it to commit.

A handler opens ``atomic()`` around the service calls of one unit of work. A service that has
something to do only once the data is committed — feed the leaderboards, say — registers it with
``after_commit``; it runs after the commit, once per hook with every item registered for it, and
never after a rollback. WeChat messages do not go this way: they are outbox rows written in the
same transaction, which survive a crash between commit and send.
"""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import Any, AsyncIterator, Awaitable, Callable, Iterable

from tortoise.transactions import in_transaction

log = logging.getLogger("haibei.transactions")

Hook = Callable[[list[Any]], Awaitable[None]]

_pending: ContextVar[dict[Hook, list[Any]] | None] = ContextVar("after_commit", default=None)


@asynccontextmanager
async def atomic() -> AsyncIterator[Any]:
    """One transaction; what was registered with ``after_commit`` inside it runs once it commits.

    Inside another ``atomic()`` it is part of that one (the ORM's nested transaction), and its
    hooks wait for the outermost commit.
    """
    if _pending.get() is not None:
        async with in_transaction() as conn:
            yield conn
        return
    hooks: dict[Hook, list[Any]] = {}
    token = _pending.set(hooks)
    try:
        async with in_transaction() as conn:
            yield conn
    finally:
        _pending.reset(token)
    for hook, items in hooks.items():
        try:
            await hook(items)
        except Exception:  # noqa: BLE001 - committed is committed: the caller's answer stands
            log.exception("after-commit hook failed", extra={"hook": getattr(hook, "__qualname__", repr(hook))})


def after_commit(hook: Hook, items: Iterable[Any] = ()) -> None:
    """Run ``hook(items)`` once the current ``atomic()`` commits, with the items of every call.

    Outside ``atomic()`` (scripts, scheduled jobs, seeding) nothing waits for a commit and the hook
    is not run: what it would have done must heal by itself (the leaderboards are checked against
    the ledger every few seconds).
    """
    hooks = _pending.get()
    if hooks is not None:
        hooks.setdefault(hook, []).extend(items)
