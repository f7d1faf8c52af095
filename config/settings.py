"""One Settings object, read from the environment (prefix ``HAIBEI_``) and an optional ``.env``.

Every setting has a default that runs the *embedded* mode: SQLite under ``./var/``, an in-process
Redis substitute, the local WeChat stand-in, and development keys generated once into
``./var/dev-keys.json``. ``HAIBEI_MODE=production`` turns the defaults off: a missing or
placeholder secret, or subscribe-message template id, then stops start-up with a message that
names the variable.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from config.data import NOTIFICATION_TEMPLATES

ROOT = Path(__file__).resolve().parent.parent
VAR_DIR = ROOT / "var"

PLACEHOLDERS = {"", "changeme", "change-me", "secret", "placeholder", "xxx", "todo", "your-secret"}
# config/notification_templates.json names each subscribe-message template by a placeholder id
# (TPL_NEED_PROGRESS) that only the stand-in knows; the mini-program's real id, chosen in the WeChat
# console (订阅消息 → 我的模板), comes from the variable named after it: HAIBEI_TEMPLATE_NEED_PROGRESS.
TEMPLATE_PLACEHOLDER_PREFIX = "TPL_"


class ConfigError(Exception):
    """Raised when settings cannot run the service; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    # Documented in README "Configuration"; keep the two in step.
    mode: str = "embedded"
    db_url: str = ""
    redis_url: str = ""
    redis_prefix: str = "haibei:"
    wechat_appid: str = ""
    wechat_secret: str = ""
    wechat_api_base: str = ""
    standin_host: str = "127.0.0.1"
    standin_port: int = 8001
    # Push callback (消息推送): the Token and EncodingAESKey set in the mini-program console.
    wechat_callback_token: str = ""
    wechat_aes_key: str = ""
    jwt_secret: str = ""
    jwt_ttl_seconds: int = 7 * 24 * 3600
    data_key: str = ""
    data_keys_retired: str = ""
    index_key: str = ""
    admin_openids: tuple[str, ...] = ()
    max_body_bytes: int = 256 * 1024
    upload_max_bytes: int = 3 * 1024 * 1024
    upload_dir: str = str(VAR_DIR / "uploads")
    # Service workflow; README "Configuration" explains each.
    claim_limit: int = 3
    checkin_radius_m: int = 300
    checkin_grace_minutes: int = 30
    claim_grace_minutes: int = 30
    referral_sla_hours: int = 48
    # Database pool and limits: connections per process, per-statement time limit
    # (MariaDB max_statement_time / MySQL max_execution_time; 0 = none), connect timeout.
    db_pool_size: int = 10
    db_statement_timeout_s: float = 10.0
    db_connect_timeout_s: float = 3.0
    # How long a starting process keeps trying to reach the database before it gives up.
    db_startup_wait_s: float = 30.0
    # Process-local caches of the caller and of open tasks by map cell (server/feed.py): trusted
    # only while subscribed to the change feed, and never older than this; 0 = no caching.
    cache_max_age_s: float = 60.0
    # auto: the outbox worker runs inside the API process in embedded mode only; on | off.
    run_worker: str = "auto"
    log_level: str = "INFO"
    # GET /metrics: with a token, only `Authorization: Bearer <token>`; without, loopback callers only.
    metrics_token: str = ""
    # A JSON file of rate limits in the shape of config/rate_limits.json's "limits" (benchmarks).
    rate_limits_file: str = ""
    # The outbox worker's own /metrics port (0 = none).
    worker_metrics_port: int = 0
    # The outbox worker: its WeChat timeout is longer than the API's, so a slow WeChat does not turn
    # into ambiguous timeouts (a timed-out send may have been delivered, and would be sent again);
    # a taken row is leased this long; failed sends wait base × 2^(attempt-1) seconds.
    worker_wechat_timeout_s: float = 20.0
    # Longer than a send can take (see load): a lease that runs out mid-send lets a second worker
    # send the same message.
    outbox_lease_s: int = 120
    outbox_backoff_base_s: float = 30.0
    # The TrueType font embedded in PDFs for their Chinese (the hours certificate): Debian's
    # fonts-wqy-microhei. Absent, reportlab's STSong-Light is used, which is not embedded: the
    # reader's own Chinese font then draws it (docs/points.md).
    pdf_font: str = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"
    # 信用威海's RSA public key (a PEM file): what the credit handoff is encrypted with when the
    # administrator gives neither a key nor a password; empty = they must give one.
    credit_receiver_key_file: str = ""
    # Filled in by load(): which secrets were generated for development, for the start-up log.
    generated: tuple[str, ...] = field(default=())

    @property
    def embedded(self) -> bool:
        return self.mode == "embedded"

    @property
    def uses_fake_redis(self) -> bool:
        return not self.redis_url

    @property
    def is_mysql(self) -> bool:
        return self.db_url.startswith("mysql://")

    def tortoise_config(self) -> dict[str, Any]:
        return tortoise_config(self.db_url)


def tortoise_config(db_url: str) -> dict[str, Any]:
    return {
        "connections": {"default": db_url},
        "apps": {
            "models": {
                "models": ["models"],
                "default_connection": "default",
                "migrations": "models.migrations",
            }
        },
        # Everything is stored and compared in UTC. MySQL DATETIME has no offset and the driver
        # writes an aware value's own wall time, so one zone everywhere is the only safe choice;
        # the API accepts any offset and converts at the edge (handlers.common.UtcDatetime).
        "use_tz": True,
        "timezone": "UTC",
    }


def _read_dotenv(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    if not path.is_file():
        return values
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        values[key.strip()] = value.strip().strip('"').strip("'")
    return values


def _dev_keys() -> dict[str, str]:
    """Development keys, generated once per checkout so embedded data stays readable across runs."""
    path = VAR_DIR / "dev-keys.json"
    if path.is_file():
        return json.loads(path.read_text(encoding="utf-8"))
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    keys = {
        "jwt_secret": "dev-" + secrets.token_urlsafe(32),
        "data_key": "dev1:" + base64.b64encode(secrets.token_bytes(32)).decode(),
        "index_key": base64.b64encode(secrets.token_bytes(32)).decode(),
    }
    path.write_text(json.dumps(keys), encoding="utf-8")
    os.chmod(path, 0o600)
    return keys


def _environment(environ: Mapping[str, str] | None, dotenv: Path | None) -> dict[str, str]:
    """The variables ``.env`` sets, overridden by the environment's."""
    env = dict(_read_dotenv(dotenv if dotenv is not None else ROOT / ".env"))
    env.update(os.environ if environ is None else environ)
    return env


def template_variable(placeholder: str) -> str:
    """``TPL_NEED_PROGRESS`` → ``HAIBEI_TEMPLATE_NEED_PROGRESS``: where that template's real id is set."""
    return "HAIBEI_TEMPLATE_" + placeholder.removeprefix(TEMPLATE_PLACEHOLDER_PREFIX)


def _is_template_placeholder(template_id: str) -> bool:
    return template_id.startswith(TEMPLATE_PLACEHOLDER_PREFIX) or template_id.strip().lower() in PLACEHOLDERS


def template_ids(environ: Mapping[str, str] | None = None, *, dotenv: Path | None = None) -> dict[str, str]:
    """Each placeholder template id of config/notification_templates.json → the id configured
    for it (``HAIBEI_TEMPLATE_…``, in the environment or ``.env``), or the placeholder itself
    when none is. ``load`` refuses a production start while any is a placeholder; the
    notifications domain reads its ids from here, from the same environment."""
    return _template_ids(_environment(environ, dotenv))


def _template_ids(env: Mapping[str, str]) -> dict[str, str]:
    placeholders = sorted({spec["template_id"] for spec in NOTIFICATION_TEMPLATES.values()})
    return {p: env.get(template_variable(p), "").strip() or p for p in placeholders}


def load(environ: dict[str, str] | None = None, *, dotenv: Path | None = None) -> Settings:
    """Build Settings from the environment; the environment wins over ``.env``."""
    env = _environment(environ, dotenv)
    raw: dict[str, Any] = {}
    for f in fields(Settings):
        if f.name == "generated":
            continue
        value = env.get("HAIBEI_" + f.name.upper())
        if value is None:
            continue
        if f.name == "admin_openids":
            raw[f.name] = tuple(v.strip() for v in value.split(",") if v.strip())
        elif f.type in ("int", int):
            try:
                raw[f.name] = int(value)
            except ValueError:
                raise ConfigError(f"HAIBEI_{f.name.upper()} must be an integer, got {value!r}") from None
        elif f.type in ("float", float):
            try:
                raw[f.name] = float(value)
            except ValueError:
                raise ConfigError(f"HAIBEI_{f.name.upper()} must be a number, got {value!r}") from None
        else:
            raw[f.name] = value
    mode = raw.get("mode", "embedded")
    if mode not in ("embedded", "production"):
        raise ConfigError(f"HAIBEI_MODE must be 'embedded' or 'production', got {mode!r}")

    generated: list[str] = []
    if mode == "production":
        missing = [
            "HAIBEI_" + name.upper()
            for name in ("db_url", "redis_url", "wechat_appid", "wechat_secret", "jwt_secret", "data_key", "index_key")
            if str(raw.get(name, "")).strip().lower() in PLACEHOLDERS
        ]
        # Each template's id as the WeChat console shows it: a placeholder would make every
        # message of it a dead letter (40037 invalid template_id).
        ids = _template_ids(env)
        missing += [template_variable(p) for p, configured in ids.items() if _is_template_placeholder(configured)]
        if missing:
            raise ConfigError(
                "production mode refuses to start: set real values for " + ", ".join(missing)
            )
        shared = sorted({template_variable(p) for p in ids for q in ids
                         if p != q and ids[p] == ids[q]})
        if shared:
            # Templates differ in their keywords: two sharing one id would send one of them wrong (47003).
            raise ConfigError("production mode refuses to start: " + ", ".join(shared) + " name the same template id")
        if len(raw["jwt_secret"]) < 32:
            raise ConfigError("HAIBEI_JWT_SECRET must be at least 32 characters in production")
        raw.setdefault("wechat_api_base", "https://api.weixin.qq.com")
    else:
        raw.setdefault("db_url", "sqlite://" + str(VAR_DIR / "haibei.sqlite3"))
        port = raw.get("standin_port", Settings.standin_port)
        host = raw.get("standin_host", Settings.standin_host)
        raw.setdefault("wechat_api_base", f"http://{host}:{port}")
        raw.setdefault("wechat_appid", "wx-standin-appid")
        raw.setdefault("wechat_secret", "standin-secret-not-real")
        raw.setdefault("wechat_callback_token", "standin-callback-token")
        # 43 characters, as WeChat's EncodingAESKey: clearly fake, for the stand-in only.
        raw.setdefault("wechat_aes_key", "HaibeiStandinFakeEncodingAESKey000000000000"[:43])
        needs_dev_keys = [n for n in ("jwt_secret", "data_key", "index_key") if not raw.get(n)]
        if needs_dev_keys:
            dev = _dev_keys()
            for name in needs_dev_keys:
                raw[name] = dev[name]
                generated.append("HAIBEI_" + name.upper())
    # A send may wait its timeout four times: the token, the message, and again both when WeChat
    # says the token went stale. A row leased for less than that can be taken and sent again by
    # another worker while the first is still sending it.
    lease = raw.get("outbox_lease_s", Settings.outbox_lease_s)
    timeout = raw.get("worker_wechat_timeout_s", Settings.worker_wechat_timeout_s)
    if lease <= 4 * timeout:
        raise ConfigError(f"HAIBEI_OUTBOX_LEASE_S ({lease}) must be longer than 4 × HAIBEI_WORKER_WECHAT_TIMEOUT_S "
                          f"({timeout}): a send can take that long, and a shorter lease sends it twice")
    if raw.get("db_url", "").startswith("sqlite://"):
        Path(raw["db_url"][len("sqlite://"):]).parent.mkdir(parents=True, exist_ok=True)
    return Settings(**raw, generated=tuple(generated))
