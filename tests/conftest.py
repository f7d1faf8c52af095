"""Test harness: one real server per session, on MariaDB + Redis when they answer.

The API, the WeChat stand-in and the tests share one event loop; requests go over real HTTP
(httpx → Sanic), wechatpy goes over real HTTP to the stand-in. Each test starts from empty
tables, a fresh Redis key prefix and an empty stand-in mailbox.

Backend choice happens once, before anything imports Tortoise models against a connection:
Tortoise caches SQL per connection name, so SQLite and MySQL never mix in one process.
"""

from __future__ import annotations

import asyncio
import base64
import os
import secrets
import tempfile
import uuid
from types import SimpleNamespace

import httpx
import pytest
import pytest_asyncio
import redis
from sanic import Request
from tortoise import connections
from tortoise.transactions import in_transaction

from config import Settings
from server.app import create_app
from server.db import apply_migrations, drop_database
from server.pii import generate_key
from server.reference import catalogue
from server.wechat.standin import create_standin_app
from tests import pii_scanner
from tests.support import serve_in_loop, unique_app_name

# One scanner for the whole run: every response and log line.
SCANNER = pii_scanner.Scanner()

# A database of its own per run, so two runs on one machine (a developer and CI) never collide.
DEFAULT_DB = f"mysql://root:@127.0.0.1:3306/haibei_test_{uuid.uuid4().hex[:8]}"
DEFAULT_REDIS = "redis://127.0.0.1:6379/15"
ENV_ADMIN_OPENID = "env-admin"


def _mysql_reachable(url: str) -> str | None:
    import aiomysql
    from urllib.parse import unquote, urlparse

    u = urlparse(url)

    async def probe() -> None:
        conn = await aiomysql.connect(host=u.hostname, port=u.port or 3306, user=unquote(u.username or "root"),
                                      password=unquote(u.password or ""), connect_timeout=3)
        conn.close()

    try:
        asyncio.run(probe())
        return None
    except Exception as exc:  # noqa: BLE001
        return f"{type(exc).__name__}: {exc}"


def _redis_reachable(url: str) -> str | None:
    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
        return None
    except Exception as exc:  # noqa: BLE001
        return f"{type(exc).__name__}: {exc}"


def _choose_backend() -> SimpleNamespace:
    db_url = os.environ.get("HAIBEI_TEST_DB_URL", DEFAULT_DB)
    redis_url = os.environ.get("HAIBEI_TEST_REDIS_URL", DEFAULT_REDIS)
    require = os.environ.get("HAIBEI_REQUIRE_SERVICES") == "1"
    db_problem = _mysql_reachable(db_url) if db_url.startswith("mysql://") else None
    redis_problem = _redis_reachable(redis_url)
    if require and (db_problem or redis_problem):
        pytest.exit(
            f"HAIBEI_REQUIRE_SERVICES=1 but services are not reachable: db={db_problem} redis={redis_problem}",
            returncode=3,
        )
    if db_problem:
        db_url = "sqlite://" + os.path.join(tempfile.mkdtemp(prefix="haibei-test-"), "test.sqlite3")
    return SimpleNamespace(
        db_url=db_url,
        redis_url="" if redis_problem else redis_url,
        db_note=(f"MariaDB/MySQL {db_url.split('@')[-1]}" if db_url.startswith("mysql://")
                 else f"SQLite {db_url}" + (f" (MySQL unreachable: {db_problem})" if db_problem else "")),
        redis_note="Redis " + redis_url if not redis_problem else f"fakeredis (Redis unreachable: {redis_problem})",
    )


BACKEND = _choose_backend()


def pytest_report_header(config: pytest.Config) -> list[str]:
    return [f"haibei test backend: {BACKEND.db_note}; {BACKEND.redis_note}"]


def pytest_terminal_summary(terminalreporter) -> None:
    terminalreporter.write_line(f"haibei test backend: {BACKEND.db_note}; {BACKEND.redis_note}")
    terminalreporter.write_line(f"PII scanner: {SCANNER.responses} responses and {SCANNER.log_lines} log lines searched, "
                                f"{len(SCANNER.violations)} unmasked values found"
                                f" (and the {SCANNER.planted} planted by its own test, caught)")


@pytest.fixture(scope="session")
def backend() -> SimpleNamespace:
    return BACKEND


@pytest_asyncio.fixture(scope="session")
async def standin():
    app = create_standin_app(unique_app_name("standin"))
    async with serve_in_loop(app) as url:
        yield SimpleNamespace(app=app, url=url)


@pytest.fixture(scope="session")
def settings(standin) -> Settings:
    return Settings(
        mode="embedded",
        db_url=BACKEND.db_url,
        redis_url=BACKEND.redis_url,
        redis_prefix=f"haibei-test-{uuid.uuid4().hex[:8]}:",
        wechat_appid="wx-test-appid",
        wechat_secret="test-secret-not-real",
        wechat_callback_token="test-callback-token",
        wechat_aes_key=base64.b64encode(secrets.token_bytes(32)).decode()[:43],
        wechat_api_base=standin.url,
        jwt_secret="test-" + secrets.token_urlsafe(32),
        data_key="t1:" + generate_key(),
        index_key=base64.b64encode(secrets.token_bytes(32)).decode(),
        admin_openids=(ENV_ADMIN_OPENID,),
        max_body_bytes=64 * 1024,
        log_level="INFO",
        run_worker="off",  # tests drive the outbox worker themselves
    )


async def _echo(request: Request):
    from sanic.response import json

    return json({"echo": request.args.get("text", "")})


async def _boom(request: Request):
    raise RuntimeError("secret internals: password=hunter2")


@pytest_asyncio.fixture(scope="session")
async def api(settings):
    if settings.is_mysql:
        # From empty every session: this is also the proof that migrations build the schema.
        await drop_database(settings.db_url)
    await apply_migrations(settings.db_url)
    app = create_app(settings, name=unique_app_name("haibei"))
    # A route that fails the way a bug would, to check what a 500 reveals.
    app.add_route(_boom, "/__test/boom")
    # A route that leaks what it is given, to prove the PII scanner catches a leak.
    app.add_route(_echo, "/__test/echo")
    pii_scanner.install(app, SCANNER)
    async with serve_in_loop(app) as url:
        yield SimpleNamespace(app=app, url=url, settings=settings, cipher=app.ctx.cipher)
    if settings.is_mysql and "HAIBEI_TEST_DB_URL" not in os.environ:
        await drop_database(settings.db_url)


async def _truncate_all() -> None:
    conn = connections.get("default")
    tables = [
        r["name"] if "name" in r else list(r.values())[0]
        for r in (
            await conn.execute_query_dict("SHOW TABLES")
            if BACKEND.db_url.startswith("mysql://")
            else await conn.execute_query_dict("SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'")
        )
    ]
    tables = [t for t in tables if t != "tortoise_migrations"]
    if BACKEND.db_url.startswith("mysql://"):
        async with in_transaction() as tx:
            await tx.execute_script("SET FOREIGN_KEY_CHECKS=0")
            for t in tables:
                await tx.execute_script(f"DELETE FROM `{t}`")
            await tx.execute_script("SET FOREIGN_KEY_CHECKS=1")
    else:
        await conn.execute_script("PRAGMA foreign_keys=OFF")
        for t in tables:
            await conn.execute_script(f'DELETE FROM "{t}"')
        await conn.execute_script("PRAGMA foreign_keys=ON")
    # The catalogue is default data the app loads at start; each test starts with it as shipped.
    await catalogue.sync_defaults()
    # The data went behind the app's back: no process-local cache may remember any of it.
    from server import feed
    from server.reports import dashboard
    from server.workflow import browse

    feed.current().reset()
    dashboard.forget()
    browse._START_HALF.clear()
    browse._DENSE_AREAS.clear()


@pytest.fixture(autouse=True)
def no_pii_leaks(request):
    """Fails the test whose responses or log lines carried an unmasked ID number, phone or session_key."""
    start = len(SCANNER.violations)
    yield
    found = SCANNER.violations[start:]
    if found and "pii_leak_expected" in request.keywords:
        # The scanner's own test planted these: counted apart, so that the summary line reports
        # only what the product leaked.
        SCANNER.planted += len(found)
        del SCANNER.violations[start:]
    elif found:
        pytest.fail("PII scanner: " + "; ".join(found[:5]), pytrace=False)


async def _reset_all(api, standin) -> None:
    """What ``clean`` does before a test: empty tables, Redis keys under the test prefix, the stand-in mailbox."""
    await _truncate_all()
    r = api.app.ctx.redis.aio
    keys = [k async for k in r.scan_iter(match=api.settings.redis_prefix + "*")]
    if keys:
        await r.delete(*keys)
    async with httpx.AsyncClient() as c:
        await c.delete(standin.url + "/__standin/messages")


def pytest_configure(config) -> None:
    config.addinivalue_line(
        "markers",
        "shared_world: the module's tests share data a module-scoped fixture built once (the role matrices); "
        "``clean`` leaves the tables and Redis alone for them, and that fixture starts from empty itself "
        "(reset_state)",
    )


@pytest_asyncio.fixture(autouse=True)
async def clean(request):
    """Empty tables, Redis keys under the test prefix, and the stand-in mailbox before each test.

    Not for a module marked ``shared_world``: its module-scoped fixture empties everything once with
    ``reset_state`` before building what its tests share, and keeps what they change apart."""
    if "api" not in request.fixturenames or request.node.get_closest_marker("shared_world"):
        yield
        return
    api = request.getfixturevalue("api")
    standin = request.getfixturevalue("standin")
    await _reset_all(api, standin)
    yield


@pytest.fixture(scope="session")
def reset_state(api, standin):
    """``await reset_state()``: what ``clean`` does before each test, on demand (``shared_world`` modules)."""

    async def reset() -> None:
        await _reset_all(api, standin)

    return reset


@pytest_asyncio.fixture
async def client(api):
    async with httpx.AsyncClient(base_url=api.url, timeout=20) as c:
        c._haibei_api = api  # builders that move the app's clock find it here
        yield c
