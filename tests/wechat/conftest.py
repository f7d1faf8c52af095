"""Fixtures: the WeChat stand-in served inside the test event loop, and gateways pointed at it.

The stand-in and the test share one event loop; the gateway runs wechatpy in worker threads and
only awaits their futures, so the loop stays free to serve the stand-in's side of each call (a
gateway that blocked the loop would deadlock these tests).
"""

from __future__ import annotations

import asyncio
import socket
import sys
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import fakeredis
import pytest
import pytest_asyncio
from sanic import Sanic

# `pytest` (unlike `python -m pytest`) does not put the repo root on sys.path, and tests/ is not a
# package, so `server` would not be importable otherwise.
ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from server.wechat import RedisTokenStorage, WeChatGateway  # noqa: E402
from server.wechat.standin import create_standin_app  # noqa: E402

APPID = "wx-test-appid"
SECRET = "test-secret-do-not-log"


@asynccontextmanager
async def serve_in_loop(app: Sanic, host: str = "127.0.0.1") -> AsyncIterator[str]:
    """Serve ``app`` on a free port in the running loop; yields its base URL.

    Binding the socket ourselves (port 0) avoids the pick-a-port-then-bind race. create_server()
    runs no lifecycle events by itself, hence the explicit startup/before/after calls.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    port = sock.getsockname()[1]
    # create_server() already awaits the AsyncioServer, so the socket is listening on return; do
    # not await it again ("cannot reuse already awaited coroutine").
    server = await app.create_server(sock=sock, return_asyncio_server=True, access_log=False)
    assert server is not None
    await server.startup()
    await server.before_start()
    await server.after_start()
    try:
        yield f"http://{host}:{port}"
    finally:
        await server.before_stop()
        for connection in list(server.connections):
            connection.close_if_idle()
        await server.close()
        await server.after_stop()


def unique_app_name(prefix: str = "wechat_standin") -> str:
    # Sanic refuses two apps with one name in a process.
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


@pytest.fixture
def wechat_appid() -> str:
    return APPID


@pytest.fixture
def wechat_secret() -> str:
    return SECRET


@pytest.fixture
def serve_app() -> Callable[[Sanic], AbstractAsyncContextManager[str]]:
    """``async with serve_app(app) as url:`` for tests that need an extra, differently built app.

    A fixture rather than an import so test modules never import conftest (which breaks under
    some pytest import modes)."""
    return serve_in_loop


@pytest.fixture
def new_app_name() -> Callable[[], str]:
    return unique_app_name


@pytest_asyncio.fixture
async def standin_app() -> Sanic:
    return create_standin_app(unique_app_name())


@pytest_asyncio.fixture
async def standin_url(standin_app: Sanic) -> AsyncIterator[str]:
    async with serve_in_loop(standin_app) as url:
        yield url


@pytest.fixture
def redis_server() -> fakeredis.FakeServer:
    """One fake Redis "server" per test; FakeRedis clients on it share data like processes would."""
    return fakeredis.FakeServer()


@pytest.fixture
def token_storage(redis_server: fakeredis.FakeServer) -> RedisTokenStorage:
    return RedisTokenStorage(fakeredis.FakeRedis(server=redis_server), prefix="test:wechat")


@pytest_asyncio.fixture
async def make_gateway(
    standin_url: str, redis_server: fakeredis.FakeServer
) -> AsyncIterator[Callable[..., WeChatGateway]]:
    """Factory: each gateway gets its own FakeRedis client on the shared fake server, like one
    worker process each. Overrides go straight to WeChatGateway."""
    created: list[WeChatGateway] = []

    def make(**overrides: Any) -> WeChatGateway:
        kwargs: dict[str, Any] = {
            "appid": APPID,
            "secret": SECRET,
            "api_base": standin_url,
            "token_storage": RedisTokenStorage(fakeredis.FakeRedis(server=redis_server), prefix="test:wechat"),
            "timeout": 2.0,
            "max_workers": 4,
        }
        kwargs.update(overrides)
        gateway = WeChatGateway(**kwargs)
        created.append(gateway)
        return gateway

    yield make
    await asyncio.gather(*(gateway.close() for gateway in created))


@pytest_asyncio.fixture
async def gateway(make_gateway: Callable[..., WeChatGateway]) -> WeChatGateway:
    return make_gateway()


@pytest.fixture
def closed_port_url() -> str:
    """A URL where nothing listens: bind a port, then release it (connection refused)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return f"http://127.0.0.1:{port}"


@pytest_asyncio.fixture
async def silent_url() -> AsyncIterator[str]:
    """A server that accepts connections and never answers, to exercise timeouts."""
    writers: list[asyncio.StreamWriter] = []

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        for writer in writers:
            writer.close()
        server.close()
        await server.wait_closed()

