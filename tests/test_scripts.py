"""The admin scripts work against a real database (run as subprocesses, as an operator would)."""

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from models import UserRole

ROOT = Path(__file__).resolve().parent.parent


def run_script(name: str, *args: str, settings, **extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "HAIBEI_DB_URL": settings.db_url, "HAIBEI_DATA_KEY": settings.data_key,
           "HAIBEI_INDEX_KEY": settings.index_key, "HAIBEI_JWT_SECRET": settings.jwt_secret,
           "HAIBEI_REDIS_URL": settings.redis_url, "HAIBEI_REDIS_PREFIX": settings.redis_prefix, **extra}
    return subprocess.run([sys.executable, str(ROOT / "scripts" / name), *args], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


async def test_create_admin_grants_admin_then_login_sees_it(api, client):
    done = await asyncio.to_thread(run_script, "create_admin", "ops-admin-1", settings=api.settings)
    assert done.returncode == 0, done.stderr
    assert "role newly granted" in done.stdout
    again = await asyncio.to_thread(run_script, "create_admin", "ops-admin-1", settings=api.settings)
    assert "already was" in again.stdout
    r = await client.post("/api/v1/auth/wechat-login", json={"code": "fake:ops-admin-1"})
    assert "admin" in r.json()["user"]["roles"]
    assert await UserRole.filter(role="admin", user__openid="ops-admin-1").count() == 1


async def test_create_admin_needs_an_openid(api):
    done = await asyncio.to_thread(run_script, "create_admin", settings=api.settings)
    assert done.returncode == 2 and "usage" in done.stderr


async def test_revoke_admin_takes_the_role_at_once_and_refuses_what_would_not_hold(api, client):
    from models import AuditLog

    for openid in ("ops-admin-a", "ops-admin-b"):
        done = await asyncio.to_thread(run_script, "create_admin", openid, settings=api.settings)
        assert done.returncode == 0, done.stderr
    r = await client.post("/api/v1/auth/wechat-login", json={"code": "fake:ops-admin-a"})
    headers = {"Authorization": f"Bearer {r.json()['token']}"}
    assert (await client.get("/api/v1/admin/districts", headers=headers)).status_code == 200  # cached as admin

    # Still in the configuration: its next login would grant it again, so nothing is done.
    kept = await asyncio.to_thread(run_script, "revoke_admin", "ops-admin-a", settings=api.settings,
                                   HAIBEI_ADMIN_OPENIDS="ops-admin-a")
    assert kept.returncode == 1 and "HAIBEI_ADMIN_OPENIDS" in kept.stderr
    assert await UserRole.filter(role="admin", user__openid="ops-admin-a").exists()

    done = await asyncio.to_thread(run_script, "revoke_admin", "ops-admin-a", settings=api.settings)
    assert done.returncode == 0, done.stderr
    assert not await UserRole.filter(role="admin", user__openid="ops-admin-a").exists()
    [audit] = await AuditLog.filter(action="role.revoke")
    assert audit.detail == {"role": "admin", "source": "scripts/revoke_admin"} and audit.actor_id is None
    # The API heard of it through Redis: the cached caller is dropped, not kept for its minute.
    status = 200
    for _ in range(50):
        status = (await client.get("/api/v1/admin/districts", headers=headers)).status_code
        if status == 403:
            break
        await asyncio.sleep(0.1)
    assert status == 403, f"the API still answers the revoked administrator {status} after 50 polls (5 s+)"
    assert (await client.get("/api/v1/me", headers=headers)).status_code == 200  # still a resident

    again = await asyncio.to_thread(run_script, "revoke_admin", "ops-admin-a", settings=api.settings)
    assert again.returncode == 1 and "not an administrator" in again.stderr
    last = await asyncio.to_thread(run_script, "revoke_admin", "ops-admin-b", settings=api.settings)
    assert last.returncode == 1 and "last administrator" in last.stderr
    assert await UserRole.filter(role="admin", user__openid="ops-admin-b").exists()
