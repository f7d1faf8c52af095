"""Operations run from scripts rather than the API."""

from __future__ import annotations

from tortoise.transactions import in_transaction

from models import User, UserRole
from server import feed
from server.services import audit


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
