"""Helpers shared by fixtures: serving a Sanic app inside the test event loop."""

from __future__ import annotations

import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sanic import Sanic


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


def unique_app_name(prefix: str) -> str:
    # Sanic refuses two apps with one name in a process.
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


def require_services(settings, what: str) -> None:
    """Tests that need the real MariaDB + Redis (processes, proxies, EXPLAIN, statement limits).

    On the documented SQLite + fakeredis fallback of ``scripts/test`` they skip, saying why. Under
    ``HAIBEI_REQUIRE_SERVICES=1`` (what ``.ci/run`` sets) a missing service is a failure here, so this
    skip can never hide one in CI.
    """
    import os

    import pytest

    if settings.is_mysql and settings.redis_url:
        return
    message = f"{what} needs MariaDB + Redis; this run uses the SQLite/fakeredis fallback"
    if os.environ.get("HAIBEI_REQUIRE_SERVICES") == "1":
        pytest.fail(message + " although HAIBEI_REQUIRE_SERVICES=1")
    pytest.skip(message)
