"""Fixtures: the WeChat stand-in served inside the test event loop, and gateways pointed at it.

The stand-in and the test share one event loop; the gateway runs wechatpy in worker threads and
only awaits their futures, so the loop stays free to serve the stand-in's side of each call (a
gateway that blocked the loop would deadlock these tests).
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import fakeredis
import pytest
import pytest_asyncio
from sanic import Sanic

from server.wechat import RedisTokenStorage, WeChatGateway
from server.wechat.standin import create_standin_app
from tests.support import serve_in_loop, unique_app_name as _unique_app_name

APPID = "wx-test-appid"
SECRET = "test-secret-do-not-log"


def unique_app_name(prefix: str = "wechat_standin") -> str:
    return _unique_app_name(prefix)


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

