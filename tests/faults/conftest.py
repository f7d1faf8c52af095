"""Fault-injection harness: the API (and the outbox worker) as real processes whose MariaDB, Redis
and WeChat connections run through proxies this test process can cut, slow or restore.

Run alone with ``scripts/test -m faults``. MariaDB + Redis only: on the SQLite fallback these skip,
and CI (HAIBEI_REQUIRE_SERVICES=1) never falls back.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sys
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlparse, urlunparse

import httpx
import pytest
import pytest_asyncio

from tests.faults.proxy import TcpProxy
from tests.support import require_services

ROOT = Path(__file__).resolve().parents[2]


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/faults/" in str(item.fspath):
            item.add_marker(pytest.mark.faults)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _via(url: str, port: int) -> str:
    u = urlparse(url)
    netloc = u.netloc.rsplit("@", 1)
    host = f"127.0.0.1:{port}"
    return urlunparse(u._replace(netloc=f"{netloc[0]}@{host}" if len(netloc) == 2 else host))


@pytest_asyncio.fixture
async def proxies(api, standin):
    require_services(api.settings, "fault injection through proxies")
    db = urlparse(api.settings.db_url)
    redis = urlparse(api.settings.redis_url)
    wechat = urlparse(standin.url)
    p = SimpleNamespace(
        db=await TcpProxy(db.hostname, db.port or 3306).start(),
        redis=await TcpProxy(redis.hostname, redis.port or 6379).start(),
        wechat=await TcpProxy(wechat.hostname, wechat.port).start(),
    )
    yield p
    for proxy in (p.db, p.redis, p.wechat):
        await proxy.stop()


def process_env(api, standin, proxies, **extra: str) -> dict[str, str]:
    """The environment of an API or worker process of the test run; through ``proxies`` if given."""
    s = api.settings
    env = {k: v for k, v in os.environ.items() if not k.startswith("HAIBEI_")}
    env.update({
        "HAIBEI_MODE": "embedded",
        "HAIBEI_DB_URL": _via(s.db_url, proxies.db.port) if proxies else s.db_url,
        "HAIBEI_REDIS_URL": _via(s.redis_url, proxies.redis.port) if proxies else s.redis_url,
        "HAIBEI_REDIS_PREFIX": s.redis_prefix,
        "HAIBEI_WECHAT_API_BASE": f"http://127.0.0.1:{proxies.wechat.port}" if proxies else standin.url,
        "HAIBEI_WECHAT_APPID": s.wechat_appid,
        "HAIBEI_WECHAT_SECRET": s.wechat_secret,
        "HAIBEI_JWT_SECRET": s.jwt_secret,
        "HAIBEI_DATA_KEY": s.data_key,
        "HAIBEI_INDEX_KEY": s.index_key,
        "HAIBEI_RUN_WORKER": "off",
        "HAIBEI_DB_CONNECT_TIMEOUT_S": "2",
        "HAIBEI_LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT),
    })
    env.update(extra)
    return env


class Proc:
    def __init__(self, proc: asyncio.subprocess.Process, log: Path) -> None:
        self.proc, self.log = proc, log

    async def stop(self, sig: int = 15) -> None:
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(sig)
            try:
                await asyncio.wait_for(self.proc.wait(), 20)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()


async def start_process(args: list[str], env: dict[str, str], log: Path) -> Proc:
    log.parent.mkdir(parents=True, exist_ok=True)
    # A session of its own: Sanic's manager, when a worker fails to start, SIGKILLs the process
    # group of its workers (os.killpg), which would otherwise be the test run's own.
    proc = await asyncio.create_subprocess_exec(*args, cwd=ROOT, env=env, stdout=asyncio.subprocess.DEVNULL,
                                                stderr=open(log, "w"), start_new_session=True)
    return Proc(proc, log)


FEED_LIVE = '"msg": "change feed live"'


async def start_api(env: dict[str, str], log: Path, *, workers: int = 1, wait_s: float = 60) -> tuple[Proc, str]:
    """An API process (``workers`` > 1: Sanic's multi-process mode) and its URL, once it answers
    and, with several workers, once every worker is serving with its change feed live (each logs
    that line at INFO): a test must not start while a worker is still starting."""
    port = _free_port()
    mode = ["--single-process"] if workers == 1 else ["--workers", str(workers)]
    env = {**env, "HAIBEI_LOG_LEVEL": "INFO"} if workers > 1 else env
    proc = await start_process([sys.executable, "-m", "sanic", "server.app:create_app", "--factory", "--host", "127.0.0.1",
                                "--port", str(port), *mode, "--no-motd"], env, log)
    url = f"http://127.0.0.1:{port}"
    deadline = asyncio.get_running_loop().time() + wait_s
    async with httpx.AsyncClient(base_url=url, timeout=5) as client:
        while asyncio.get_running_loop().time() < deadline:
            try:
                if (await client.get("/livez")).status_code == 200 and \
                        (workers == 1 or log.read_text().count(FEED_LIVE) >= workers):
                    return proc, url
            except httpx.TransportError:
                pass
            if proc.proc.returncode is not None:
                raise AssertionError("API process died:\n" + log.read_text()[-3000:])
            await asyncio.sleep(0.1)
    await proc.stop()
    raise AssertionError("API process did not start:\n" + log.read_text()[-3000:])


@pytest.fixture
def app_env() -> dict[str, str]:
    """Environment ``app_process`` adds to ``process_env``'s; a test module overrides it to run its
    API process with settings of its own (and then checks timings against those settings)."""
    return {}


@pytest_asyncio.fixture
async def app_process(api, standin, proxies, tmp_path, app_env):
    """The API in its own process, talking to everything through the proxies."""
    proc, url = await start_api(process_env(api, standin, proxies, **app_env), tmp_path / "api.log")
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        yield SimpleNamespace(url=url, client=client, proc=proc)
    await proc.stop()
