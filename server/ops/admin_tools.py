"""Operations run from scripts rather than the API."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from tortoise.transactions import in_transaction

from models import User, UserRole
from server import audit, feed
from server.redis import make_clients


async def grant_admin(*, openid: str) -> tuple[User, bool]:
    """Make the account of ``openid`` an administrator; returns (user, newly granted)."""
    async with in_transaction():
        user = await User.get_or_none(openid=openid)
        if user is None:
            user = await User.create(openid=openid)
            await UserRole.create(user=user, role="resident")
        if await UserRole.exists(user_id=user.id, role="admin"):
            return user, False
        await UserRole.create(user=user, role="admin")
        await audit.record(actor_id=None, action="role.grant", subject_type="user", subject_id=user.id,
                           detail={"role": "admin", "source": "scripts/create_admin"})
        feed.changed("user", user.id)
    return user, True


class Refused(Exception):
    """An operation the operator asked for and this module will not do; the message says why."""

async def revoke_admin(*, openid: str, configured: tuple[str, ...]) -> User:
    """Take the admin role from the account of ``openid`` (an administrator leaving, a mistaken
    grant). Refused for an openid in HAIBEI_ADMIN_OPENIDS — its next login would grant the role
    again, so it must leave the configuration first — and for the last administrator, whom only
    another ``scripts/create_admin`` could replace. Audited."""
    if openid in configured:
        raise Refused(f"{openid} is in HAIBEI_ADMIN_OPENIDS: its next login would make it admin again;"
                      " remove it there (and restart the API) first")
    async with in_transaction():
        user = await User.select_for_update().get_or_none(openid=openid)
        if user is None or not await UserRole.exists(user_id=user.id, role="admin"):
            raise Refused(f"{openid} is not an administrator")
        # Every admin grant locked, in one order: two revocations at once cannot leave none.
        admins = await UserRole.select_for_update().filter(role="admin").order_by("id")
        if len(admins) <= 1:
            raise Refused("it is the last administrator: grant another with scripts/create_admin first")
        await UserRole.filter(user_id=user.id, role="admin").delete()
        await audit.record(actor_id=None, action="role.revoke", subject_type="user", subject_id=user.id,
                           detail={"role": "admin", "source": "scripts/revoke_admin"})
        feed.changed("user", user.id)
    return user


@contextlib.asynccontextmanager
async def announcing(settings) -> AsyncIterator[None]:
    """For a script: what ``feed.changed`` records inside is told to the running API processes
    through Redis on the way out (their caller caches drop the account at once instead of within
    ``cache_max_age_s``). Without Redis (the embedded default) there is nobody to tell."""
    clients = make_clients(settings.redis_url) if settings.redis_url else None
    if clients is not None:
        feed.install(feed.ChangeFeed(redis=clients.aio, channel=feed.channel(settings), max_age_s=0,
                                     local_only=False))
    try:
        yield
        await feed.current().flush()
    finally:
        feed.install(None)
        if clients is not None:
            await clients.close()
