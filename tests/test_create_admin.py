"""scripts/create_admin as an operator runs it on a new installation: a console-only administrator
and the one-time link that lets them in to the console, once."""

import asyncio
import re

import httpx

from models import User, UserRole
from tests.test_scripts import run_script


def printed_link(stdout: str, base_url: str) -> str:
    [link] = re.findall(r"^(\S+/console/login/link\?token=[A-Za-z0-9_-]+)$", stdout, re.MULTILINE)
    assert link.startswith(base_url + "/console/login/link?token="), link
    return link.removeprefix(base_url)


async def log_in(api, path: str) -> httpx.Response:
    """A fresh browser follows the link and presses its button; then opens the console."""
    async with httpx.AsyncClient(base_url=api.url, timeout=20) as pc:
        r = await pc.get(path)
        if r.status_code != 200:
            return r
        r = await pc.post(path)
        if r.status_code != 303:
            return r
        return await pc.get("/console/")


async def test_the_first_administrator_logs_in_by_the_printed_link_once(api):
    done = await asyncio.to_thread(run_script, "create_admin", "--label", "first-admin", "--base-url", api.url + "/",
                                   settings=api.settings)
    assert done.returncode == 0, done.stderr
    assert "role newly granted" in done.stdout and "valid for 24 hours" in done.stdout
    link = printed_link(done.stdout, api.url)
    [user] = await User.filter(openid="console:first-admin")
    assert await UserRole.exists(user_id=user.id, role="admin")

    r = await log_in(api, link)
    assert r.status_code == 302 and r.headers["location"] == "/console/stats", r.text  # in, as an administrator
    r = await log_in(api, link)
    assert r.status_code == 410 and "链接已失效" in r.text

    # Run again for the same person: the same account, a new link.
    again = await asyncio.to_thread(run_script, "create_admin", "--label", "first-admin", "--base-url", api.url,
                                    settings=api.settings)
    assert again.returncode == 0 and "already was" in again.stdout, again.stderr
    assert await User.filter(openid="console:first-admin").count() == 1
    r = await log_in(api, printed_link(again.stdout, api.url))
    assert r.status_code == 302 and r.headers["location"] == "/console/stats"


async def test_an_openid_gets_a_link_too_and_a_bad_label_nothing(api):
    done = await asyncio.to_thread(run_script, "create_admin", "ops-admin-link", settings=api.settings)
    assert done.returncode == 0, done.stderr
    # Embedded mode's default address: what scripts/run serves.
    [token] = re.findall(r"^http://127\.0\.0\.1:8000/console/login/link\?token=(\S+)$", done.stdout, re.MULTILINE)
    r = await log_in(api, f"/console/login/link?token={token}")
    assert r.status_code == 302, r.text

    bad = await asyncio.to_thread(run_script, "create_admin", "--label", "a b", settings=api.settings)
    assert bad.returncode == 2 and "label" in bad.stderr
    both = await asyncio.to_thread(run_script, "create_admin", "someone", "--label", "x", settings=api.settings)
    assert both.returncode == 2 and "usage" in both.stderr
    assert not await User.filter(openid__startswith="console:").exists()
