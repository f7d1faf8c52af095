"""The admin scripts work against a real database (run as subprocesses, as an operator would)."""

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from models import UserRole

ROOT = Path(__file__).resolve().parent.parent


def run_script(name: str, *args: str, settings) -> subprocess.CompletedProcess:
    env = {**os.environ, "HAIBEI_DB_URL": settings.db_url, "HAIBEI_DATA_KEY": settings.data_key,
           "HAIBEI_INDEX_KEY": settings.index_key, "HAIBEI_JWT_SECRET": settings.jwt_secret}
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
