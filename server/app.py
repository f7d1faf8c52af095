"""The application factory: ``sanic server.app:create_app --factory``."""

from __future__ import annotations

import asyncio
import copy
import gc
import json
import time
import logging
import os
import re

from sanic import Request, Sanic
from sanic.response import HTTPResponse

from config import Settings, load
from config.data import RATE_LIMITS
from handlers import blueprints
from server import db, error_responses, feed, http, metrics, openapi
from server.clock import utc_now
from server.logs import log_config, request_id_var
from server.pii import install_cipher
from server.points import leaderboard
from server.redis import make_clients
from server.reference import catalogue
from server.storage import LocalStorage
from server.wechat import RedisTokenStorage, WeChatGateway
from server.worker import OutboxWorker, run_forever
from server.workflow import claims

log = logging.getLogger("haibei.app")

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")

# The routes that read a body that is not JSON. Every other route either declares its JSON body
# (server.http.body) or is refused one (server.http.install_guards).
RAW_BODY_ROUTES = (
    ("POST", "/api/v1/uploads"),  # a photo: multipart, or the image itself
    ("POST", "/api/v1/residents/imports"),  # a roster: multipart xlsx
    ("POST", "/api/v1/wechat/callback"),  # WeChat's push messages: XML, signature-checked
)


def create_app(settings: Settings | None = None, *, name: str = "haibei") -> Sanic:
    # `sanic --factory` calls this with its parsed CLI arguments; those are not our settings.
    if not isinstance(settings, Settings):
        settings = load()
    app = Sanic(name, log_config=log_config(settings.log_level), configure_logging=True)
    # Uploads need more room than JSON; JSON bodies are held to max_body_bytes in server.http.
    app.config.REQUEST_MAX_SIZE = max(settings.max_body_bytes, settings.upload_max_bytes + 64 * 1024)
    app.config.FALLBACK_ERROR_FORMAT = "json"
    app.config.CORS = False
    app.config.HEALTH = False
    openapi.install_ui(app)  # before app.ext below: sanic-ext reads its UI settings as it starts
    app.ext.openapi.describe(
        "Haibei (海贝) API",
        version="1",
        description="Service-type social assistance in Weihai (威民发〔2024〕27号). Errors: "
        '`{"error": {"code", "message", "details"}}`.',
    )
    app.ext.openapi.add_security_scheme("token", "http", scheme="bearer", bearer_format="JWT")

    app.ctx.settings = settings
    app.ctx.clock = utc_now
    app.ctx.rate_limits = copy.deepcopy(RATE_LIMITS)
    if settings.rate_limits_file:
        with open(settings.rate_limits_file, encoding="utf-8") as f:
            app.ctx.rate_limits = json.load(f)["limits"]
    app.ctx.storage = LocalStorage(settings.upload_dir)
    app.ctx.cipher = install_cipher(settings)
    app.ctx.claims = claims.Claims()

    error_responses.install(app)
    openapi.install(app)
    _install_request_id(app)
    _install_lifecycle(app, settings)
    for bp in blueprints:
        app.blueprint(bp)
    http.install_guards(app, raw_body_routes=RAW_BODY_ROUTES)
    return app


def _install_request_id(app: Sanic) -> None:
    @app.on_request(priority=100)
    async def assign_request_id(request: Request) -> None:
        # Accept the caller's id (a gateway's trace id) only when it looks like one.
        incoming = request.headers.get("x-request-id", "")
        # 128 random bits as hex (uuid4's hex without building a UUID: a hot path in profiles).
        request.ctx.request_id = incoming if _REQUEST_ID.match(incoming) else os.urandom(16).hex()
        request_id_var.set(request.ctx.request_id)
        feed.current().begin_request()
        request.ctx.started = time.perf_counter()

    @app.on_response(priority=100)
    async def echo_request_id(request: Request, response: HTTPResponse) -> None:
        # What the request changed is committed by now: tell every process's caches.
        await feed.current().end_request()
        request_id = getattr(request.ctx, "request_id", None) if request else None
        if request_id:
            response.headers["X-Request-ID"] = request_id
        started = getattr(request.ctx, "started", None) if request else None
        if started is not None:
            # The route's pattern, not the path: ids must not explode the label set.
            route = request.route.path if request.route else "unmatched"
            if route.startswith("console"):
                # The console's pages say how long the server took on them (browsers' developer
                # tools show it; scripts/bench reads it for the console's server-time percentiles).
                response.headers["Server-Timing"] = f"app;dur={(time.perf_counter() - started) * 1000:.1f}"
            metrics.observe_request(route="/" + route.lstrip("/"), method=request.method, status=response.status,
                                    started=started)


def _install_lifecycle(app: Sanic, settings: Settings) -> None:
    @app.before_server_start
    async def start(app: Sanic) -> None:
        if settings.embedded:
            log.warning(
                "EMBEDDED MODE: database %s, %s, WeChat at %s; development keys %s. Not for real data.",
                settings.db_url.split("@")[-1],
                "in-process fake Redis (single worker only)" if settings.uses_fake_redis else "Redis",
                settings.wechat_api_base,
                ", ".join(settings.generated) or "none",
            )
        elif settings.uses_fake_redis:
            log.warning("in-process fake Redis: correct only with a single worker process")
        await db.connect_when_ready(settings.db_url, wait_s=settings.db_startup_wait_s, then=catalogue.sync_defaults,
                                    pool_size=settings.db_pool_size,
                                    statement_timeout_s=settings.db_statement_timeout_s,
                                    connect_timeout_s=settings.db_connect_timeout_s)
        app.ctx.redis = make_clients(settings.redis_url)
        app.ctx.feed = feed.ChangeFeed(redis=app.ctx.redis.aio, channel=feed.channel(settings),
                                       max_age_s=settings.cache_max_age_s, local_only=app.ctx.redis.fake)
        feed.install(app.ctx.feed)
        leaderboard.install(clients=app.ctx.redis, prefix=settings.redis_prefix)
        app.ctx.feed_stop = asyncio.Event()
        app.ctx.wechat = WeChatGateway(
            appid=settings.wechat_appid,
            secret=settings.wechat_secret,
            api_base=settings.wechat_api_base,
            token_storage=RedisTokenStorage(app.ctx.redis.sync, prefix=settings.redis_prefix + "wechat:"),
        )
        # What exists by now lives as long as the process (modules, routes, schemas, the ORM's
        # metadata, the feed's caches and their dicts): out of the collector's sight, so that full
        # collections stop walking it. Under load they stalled a worker's event loop ~100 ms each,
        # every request in flight waiting (measured with gc.callbacks in a bench run).
        gc.freeze()
        metrics.watch_gc()

    @app.after_server_start
    async def start_worker(app: Sanic) -> None:
        # A plain task: the feed also runs under create_server (tests), where Sanic names none.
        app.ctx.feed_task = asyncio.get_running_loop().create_task(app.ctx.feed.run(app.ctx.feed_stop))
        # Embedded mode has one process, so the outbox worker and the jobs run inside it; in
        # production they run as `python -m server.worker` processes of their own.
        if settings.run_worker == "on" or (settings.run_worker == "auto" and settings.embedded):
            app.ctx.worker_stop = asyncio.Event()
            app.add_task(run_forever(worker=OutboxWorker(wechat=app.ctx.wechat, clock=app.ctx.clock), settings=settings,
                                     stop=app.ctx.worker_stop, redis=app.ctx.redis.aio), name="outbox-worker")

    @app.before_server_stop
    async def stop_worker(app: Sanic) -> None:
        app.ctx.feed_stop.set()
        if getattr(app.ctx, "worker_stop", None) is not None:
            app.ctx.worker_stop.set()

    @app.after_server_stop
    async def stop(app: Sanic) -> None:
        task = getattr(app.ctx, "feed_task", None)
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        await app.ctx.feed.stop_refreshing()
        leaderboard.install(clients=None, prefix="")
        await app.ctx.wechat.close()
        await app.ctx.redis.close()
        await db.disconnect()
