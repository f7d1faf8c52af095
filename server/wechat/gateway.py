"""Async gateway to the WeChat server APIs (the only module that imports wechatpy).

wechatpy is synchronous (requests underneath), so every call runs in a dedicated thread pool and
the event loop only awaits the future. The access token lives in Redis through wechatpy's session
storage, so all worker processes share one token: WeChat rotates the token on every
``/cgi-bin/token`` call and rate-limits that endpoint, so per-process tokens would keep
invalidating each other.

Secrets in URLs: ``/cgi-bin/token`` and ``/sns/jscode2session`` carry the app secret in the query
string and every other call carries the access token, and requests' exception messages quote the
URL. Network errors are therefore re-raised with a sanitized message and without chaining.
``session_key`` is returned to the caller and never logged here.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, TypeVar
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from wechatpy import WeChatClient
from wechatpy.exceptions import WeChatClientException
from wechatpy.session import SessionStorage


logger = logging.getLogger("haibei.wechat")

T = TypeVar("T")

# 40001 invalid credential, 40014 invalid access_token, 42001 access_token expired.
TOKEN_REJECTED_ERRCODES = frozenset({40001, 40014, 42001})
SYSTEM_BUSY_ERRCODE = -1

# Cache the token a little shorter than WeChat says, so no request goes out with a token that
# expires in flight.
TOKEN_TTL_MARGIN_SECONDS = 300

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# msgSecCheck is advisory (server/workflow/content.py saves and flags for a worker what it could not
# check): after this many unanswered calls in a row it is not tried for SEC_CHECK_PAUSE_S, so that
# while WeChat is down or slow a household asking for help does not wait out the timeout each
# time, nor hold one of the threads logins need. After the pause one failure pauses it again.
SEC_CHECK_FAILURES = 3
SEC_CHECK_PAUSE_S = 30.0


class WeChatError(Exception):
    """WeChat answered with a non-zero ``errcode``.

    ``errcode``/``errmsg`` are WeChat's own (e.g. 40029 invalid code, 43101 user refused the
    subscribe message).
    """

    def __init__(self, errcode: int | None, errmsg: str):
        super().__init__(errcode, errmsg)
        self.errcode = errcode
        self.errmsg = errmsg

    def __str__(self) -> str:
        return f"WeChat error {self.errcode}: {self.errmsg}"


class WeChatUnavailable(WeChatError):
    """WeChat could not be reached or said it is busy; the call may succeed if retried later.

    ``errcode`` is ``-1`` when WeChat itself answered "system busy", and ``None`` when no usable
    WeChat answer was obtained at all (connection refused, timeout, HTTP error status, non-JSON
    body).
    """


class _Client(WeChatClient):
    """WeChatClient pointed at ``api_base`` whose token lives only in the shared storage.

    Differences from stock wechatpy, and why:
    - ``fetch_access_token`` hard-codes https://api.weixin.qq.com and sends no timeout; ours uses
      ``api_base`` and the client timeout.
    - The stock ``access_token`` property trusts a per-instance ``expires_at``: a process that did
      not fetch the token itself treats it as user-provided and never refreshes it, while the one
      that did refreshes on its own clock. We rely on the storage TTL alone instead.
    - ``auto_retry`` is off: wechatpy's retry recurses without bound and refetches unconditionally;
      the gateway retries once, with compare-and-delete on the rejected token.
    """

    def __init__(self, *, appid: str, secret: str, api_base: str, session: SessionStorage, timeout: float, pool_size: int):
        super().__init__(appid, secret, session=session, timeout=timeout, auto_retry=False)
        # Instance attributes shadow the class-level https://api.weixin.qq.com URLs. Endpoint
        # objects (client.wxa, ...) are re-created per client in BaseWeChatClient.__new__, so this
        # does not leak into other clients.
        self.API_BASE_URL = f"{api_base}/cgi-bin/"
        self.wxa.API_BASE_URL = f"{api_base}/"
        self.api_base = api_base
        # requests' default pool keeps 10 connections per host; match the worker count so parallel
        # calls do not open and discard connections.
        adapter = HTTPAdapter(pool_connections=2, pool_maxsize=max(pool_size, 1))
        self._http.mount("http://", adapter)
        self._http.mount("https://", adapter)
        self._token_lock = threading.Lock()

    @property
    def access_token(self) -> str:
        return self.ensure_access_token()

    def ensure_access_token(self, rejected: str | None = None) -> str:
        """The shared token, fetching a new one if there is none or it equals ``rejected``."""
        token = self.session.get(self.access_token_key)
        if token and token != rejected:
            return token
        # Threads of this process queue on a local lock, processes on the Redis lock; whoever
        # gets in second finds the token the first one stored.
        with self._token_lock, self._storage_lock():
            token = self.session.get(self.access_token_key)
            if token and token != rejected:
                return token
            if token and token == rejected:
                drop = getattr(self.session, "delete_if_equal", None)
                if drop is not None:
                    drop(self.access_token_key, rejected)
                else:
                    self.session.delete(self.access_token_key)
            result = self.fetch_access_token()
            # Use the fetched token even if the cache could not store it (Redis down).
            token = (result or {}).get("access_token") or self.session.get(self.access_token_key)
            if not token:
                raise WeChatUnavailable(None, "access token could not be stored")
            return token

    @contextmanager
    def _storage_lock(self) -> Iterator[None]:
        lock = getattr(self.session, "lock", None)
        if lock is None:
            yield
            return
        with lock(f"{self.appid}_access_token"):
            yield

    def fetch_access_token(self) -> dict[str, Any]:
        res = self._http.get(
            f"{self.api_base}/cgi-bin/token",
            params={"grant_type": "client_credential", "appid": self.appid, "secret": self.secret},
            timeout=self.timeout,
        )
        result = _json_or_unavailable(res)
        if result.get("errcode"):
            raise WeChatClientException(result["errcode"], result.get("errmsg", ""), client=self, request=res.request, response=res)
        token = result.get("access_token")
        if not token:
            raise WeChatUnavailable(None, "token response without access_token")
        expires_in = int(result.get("expires_in") or 7200)
        ttl = max(expires_in - TOKEN_TTL_MARGIN_SECONDS, expires_in // 2, 1)
        self.session.set(self.access_token_key, token, ttl)
        logger.info("wechat access token fetched", extra={"appid": self.appid, "expires_in": expires_in})
        return result


def _json_or_unavailable(res: requests.Response) -> dict[str, Any]:
    if res.status_code != 200:
        raise WeChatUnavailable(None, f"HTTP {res.status_code} from WeChat")
    try:
        data = res.json()
    except ValueError:
        raise WeChatUnavailable(None, "non-JSON response from WeChat") from None
    if not isinstance(data, dict):
        raise WeChatUnavailable(None, "unexpected JSON response from WeChat")
    return data


def _expect_dict(result: Any) -> dict[str, Any]:
    # wechatpy hands back the raw Response when the body is not JSON (an HTML error page from a
    # proxy, say); for JSON endpoints that means WeChat did not really answer.
    if not isinstance(result, dict):
        raise WeChatUnavailable(None, "non-JSON response from WeChat")
    return result


def _wrap_template_data(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    wrapped: dict[str, dict[str, Any]] = {}
    for key, value in data.items():
        if isinstance(value, dict) and "value" in value:
            wrapped[key] = value  # already in WeChat's {"value": ...} form
        else:
            wrapped[key] = {"value": str(value)}
    return wrapped


class WeChatGateway:
    """Async facade over the WeChat mini-program server APIs used by Haibei."""

    def __init__(
        self,
        *,
        appid: str,
        secret: str,
        api_base: str,
        token_storage: SessionStorage,
        timeout: float = 5.0,
        max_workers: int = 8,
    ):
        self.appid = appid
        self.api_base = api_base.rstrip("/")
        self._client = _Client(
            appid=appid,
            secret=secret,
            api_base=self.api_base,
            session=token_storage,
            timeout=timeout,
            pool_size=max_workers,
        )
        self._executor = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="wechat")
        self._closed = False
        self._sec_failures, self._sec_paused_until = 0, 0.0

    async def __aenter__(self) -> WeChatGateway:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._executor.shutdown(wait=False, cancel_futures=True)
        # Let in-flight calls finish off-loop before their HTTP session is torn down.
        await asyncio.get_running_loop().run_in_executor(None, functools.partial(self._executor.shutdown, wait=True))
        self._client._http.close()

    # ---- public API -------------------------------------------------------------------------

    async def code_to_session(self, *, code: str) -> dict[str, Any]:
        """code2Session: ``{"openid", "session_key", "unionid" (None unless bound)}``."""

        def call() -> dict[str, Any]:
            # A list (not a dict) of params: wechatpy only injects access_token into dict params,
            # and code2Session needs none — the stock client.wxa.code_to_session would fetch a
            # token just to log a user in.
            result = _expect_dict(
                self._client.get(
                    f"{self.api_base}/sns/jscode2session",
                    params=[
                        ("appid", self.appid),
                        ("secret", self._client.secret),
                        ("js_code", code),
                        ("grant_type", "authorization_code"),
                    ],
                )
            )
            if not result.get("openid") or not result.get("session_key"):
                raise WeChatUnavailable(None, "code2Session response without openid/session_key")
            return {
                "openid": result["openid"],
                "session_key": result["session_key"],
                "unionid": result.get("unionid"),
            }

        return await self._run(call, "jscode2session")

    async def get_phone_number(self, *, code: str) -> str:
        """phonenumber.getPhoneNumber: the number without country code (``purePhoneNumber``)."""

        def op(token: str) -> str:
            result = _expect_dict(
                self._client.post(
                    "wxa/business/getuserphonenumber",
                    api_base_url=self._client.wxa.API_BASE_URL,
                    params={"access_token": token},
                    data={"code": code},
                )
            )
            phone = (result.get("phone_info") or {}).get("purePhoneNumber")
            if not phone:
                raise WeChatUnavailable(None, "getuserphonenumber response without purePhoneNumber")
            return phone

        return await self._run_with_token(op, "getuserphonenumber")

    async def msg_sec_check(self, *, openid: str, content: str, scene: int = 2) -> dict[str, Any]:
        """msgSecCheck v2: ``{"suggest": "pass"|"review"|"risky", "label": int, "trace_id": str}``.

        scene: 1 profile, 2 comment, 3 forum, 4 social log.
        """

        def op(token: str) -> dict[str, Any]:
            result = _expect_dict(
                self._client.post(
                    "wxa/msg_sec_check",
                    api_base_url=self._client.wxa.API_BASE_URL,
                    params={"access_token": token},
                    data={"version": 2, "openid": openid, "scene": scene, "content": content},
                )
            )
            verdict = result.get("result") or {}
            if "suggest" not in verdict:
                raise WeChatUnavailable(None, "msg_sec_check response without result.suggest")
            return {"suggest": verdict["suggest"], "label": verdict.get("label"), "trace_id": result.get("trace_id")}

        if time.monotonic() < self._sec_paused_until:
            raise WeChatUnavailable(None, "msg_sec_check paused after repeated failures")
        try:
            result = await self._run_with_token(op, "msg_sec_check")
        except WeChatUnavailable:
            self._sec_failures += 1
            if self._sec_failures >= SEC_CHECK_FAILURES:
                self._sec_paused_until = time.monotonic() + SEC_CHECK_PAUSE_S
                logger.warning("msg_sec_check paused", extra={"failures": self._sec_failures,
                                                              "seconds": SEC_CHECK_PAUSE_S})
            raise
        self._sec_failures, self._sec_paused_until = 0, 0.0
        return result

    async def send_subscribe_message(
        self,
        *,
        openid: str,
        template_id: str,
        data: dict[str, Any],
        page: str | None = None,
        miniprogram_state: str | None = None,
        lang: str = "zh_CN",
    ) -> None:
        """subscribeMessage.send. ``data`` may be ``{"thing1": "text"}``; it is wrapped as
        ``{"thing1": {"value": "text"}}``. 43101 (user has no quota left) raises WeChatError."""
        body: dict[str, Any] = {"touser": openid, "template_id": template_id, "data": _wrap_template_data(data), "lang": lang}
        if page is not None:
            body["page"] = page
        if miniprogram_state is not None:
            body["miniprogram_state"] = miniprogram_state

        def op(token: str) -> None:
            _expect_dict(self._client.post("message/subscribe/send", params={"access_token": token}, data=body))

        await self._run_with_token(op, "subscribe/send")

    async def get_wxa_code_unlimited(
        self,
        *,
        scene: str,
        page: str | None = None,
        width: int = 430,
        check_path: bool | None = None,
        env_version: str | None = None,
    ) -> bytes:
        """getUnlimitedQRCode: the image bytes. ``check_path=False`` + ``env_version="trial"`` let
        unpublished pages be encoded during development."""
        body: dict[str, Any] = {"scene": scene, "width": width}
        if page is not None:
            body["page"] = page
        if check_path is not None:
            body["check_path"] = check_path
        if env_version is not None:
            body["env_version"] = env_version

        def op(token: str) -> bytes:
            # Success is an image, errors are JSON: wechatpy raises on errcode JSON and returns the
            # raw Response when the body does not parse as JSON.
            result = self._client.post(
                "wxa/getwxacodeunlimit",
                api_base_url=self._client.wxa.API_BASE_URL,
                params={"access_token": token},
                data=body,
            )
            if isinstance(result, requests.Response):
                if result.headers.get("Content-Type", "").startswith("image/") or result.content.startswith(PNG_SIGNATURE):
                    return result.content
                raise WeChatUnavailable(None, "getwxacodeunlimit returned neither an image nor JSON")
            raise WeChatUnavailable(None, "getwxacodeunlimit returned JSON without an image")

        return await self._run_with_token(op, "getwxacodeunlimit")

    # ---- plumbing ---------------------------------------------------------------------------

    async def _run(self, fn: Callable[[], T], endpoint: str) -> T:
        if self._closed:
            raise RuntimeError("WeChatGateway is closed")
        loop = asyncio.get_running_loop()
        # Run in a copy of the caller's context so log lines from the worker thread carry the
        # request id (contextvars do not cross into executor threads by themselves).
        context = contextvars.copy_context()
        return await loop.run_in_executor(
            self._executor, functools.partial(context.run, self._translated, fn, endpoint)
        )

    async def _run_with_token(self, op: Callable[[str], T], endpoint: str) -> T:
        def call() -> T:
            token = self._client.ensure_access_token()
            try:
                return op(token)
            except WeChatClientException as exc:
                if exc.errcode not in TOKEN_REJECTED_ERRCODES:
                    raise
                logger.info("wechat rejected the cached access token, refreshing", extra={"errcode": exc.errcode, "endpoint": endpoint})
                token = self._client.ensure_access_token(rejected=token)
                return op(token)

        return await self._run(call, endpoint)

    @staticmethod
    def _translated(fn: Callable[[], T], endpoint: str) -> T:
        """Runs in the worker thread: turn wechatpy/requests failures into our two exceptions."""
        try:
            return fn()
        except WeChatError as exc:
            logger.warning("wechat call failed", extra={"endpoint": endpoint, "errcode": exc.errcode, "errmsg": exc.errmsg})
            raise
        except WeChatClientException as exc:
            errcode = exc.errcode
            errmsg = str(exc.errmsg) if exc.errmsg is not None else ""
            logger.warning("wechat call failed", extra={"endpoint": endpoint, "errcode": errcode, "errmsg": errmsg})
            if errcode is None:
                # wechatpy's raise_for_status path: an HTTP error status, no WeChat errcode.
                status = exc.response.status_code if exc.response is not None else "?"
                raise WeChatUnavailable(None, f"HTTP {status} from WeChat") from None
            if errcode == SYSTEM_BUSY_ERRCODE:
                raise WeChatUnavailable(errcode, errmsg) from exc
            raise WeChatError(int(errcode), errmsg) from exc
        except requests.RequestException as exc:
            # Deliberately not chained and not quoting str(exc): it contains the full URL, i.e.
            # the app secret or the access token.
            url = getattr(getattr(exc, "request", None), "url", None)
            where = urlsplit(url).path if url else endpoint
            logger.warning("wechat unreachable", extra={"endpoint": where, "error": type(exc).__name__})
            raise WeChatUnavailable(None, f"{type(exc).__name__} calling {where}") from None
