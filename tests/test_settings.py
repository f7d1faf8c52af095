"""Settings: embedded defaults run anywhere; production refuses missing or placeholder secrets."""

import base64
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from config.data import NOTIFICATION_TEMPLATES
from config.settings import ROOT, ConfigError, load, template_ids

NO_ENV = Path("/nonexistent/.env")
# Each subscribe-message template's real id, as the WeChat console shows one (43 characters).
TEMPLATES = {
    "HAIBEI_TEMPLATE_" + placeholder.removeprefix("TPL_"): f"{n:02d}" + "Wq3Yk0B8y3hR5jLvsTg2XmhrsW25vrVdFrfC1CBXl"
    for n, placeholder in enumerate(sorted({spec["template_id"] for spec in NOTIFICATION_TEMPLATES.values()}))
}

PROD = {
    "HAIBEI_MODE": "production",
    "HAIBEI_DB_URL": "mysql://haibei:pw@db:3306/haibei",
    "HAIBEI_REDIS_URL": "redis://cache:6379/0",
    "HAIBEI_WECHAT_APPID": "wx1234567890",
    "HAIBEI_WECHAT_SECRET": "a" * 32,
    "HAIBEI_JWT_SECRET": secrets.token_urlsafe(40),
    "HAIBEI_DATA_KEY": "k1:" + base64.b64encode(secrets.token_bytes(32)).decode(),
    "HAIBEI_INDEX_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
    **TEMPLATES,
}


def test_embedded_defaults(tmp_path):
    s = load({}, dotenv=tmp_path / "none.env")
    assert s.embedded and s.db_url.startswith("sqlite://") and s.uses_fake_redis
    assert s.wechat_api_base == "http://127.0.0.1:8001"
    assert set(s.generated) == {"HAIBEI_JWT_SECRET", "HAIBEI_DATA_KEY", "HAIBEI_INDEX_KEY"}
    # Generated once and reused, so embedded data stays readable across restarts.
    assert load({}, dotenv=tmp_path / "none.env").data_key == s.data_key


def test_production_with_everything_set():
    s = load(dict(PROD), dotenv=NO_ENV)
    assert not s.embedded and s.wechat_api_base == "https://api.weixin.qq.com" and s.generated == ()


@pytest.mark.parametrize("missing", ["HAIBEI_DB_URL", "HAIBEI_REDIS_URL", "HAIBEI_WECHAT_SECRET", "HAIBEI_JWT_SECRET",
                                     "HAIBEI_DATA_KEY", "HAIBEI_INDEX_KEY"])
def test_production_refuses_missing_secret(missing):
    env = dict(PROD)
    del env[missing]
    with pytest.raises(ConfigError, match=missing):
        load(env, dotenv=NO_ENV)


@pytest.mark.parametrize("placeholder", ["changeme", "secret", ""])
def test_production_refuses_placeholder(placeholder):
    with pytest.raises(ConfigError, match="HAIBEI_JWT_SECRET"):
        load({**PROD, "HAIBEI_JWT_SECRET": placeholder}, dotenv=NO_ENV)


def test_short_jwt_secret_refused_in_production():
    with pytest.raises(ConfigError, match="32"):
        load({**PROD, "HAIBEI_JWT_SECRET": "x" * 20}, dotenv=NO_ENV)


def test_dotenv_is_read_and_environment_wins(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("HAIBEI_ADMIN_OPENIDS=a, b\nHAIBEI_LOG_LEVEL=DEBUG\n", encoding="utf-8")
    s = load({"HAIBEI_LOG_LEVEL": "WARNING"}, dotenv=env_file)
    assert s.admin_openids == ("a", "b") and s.log_level == "WARNING"


def test_bad_integer_names_the_variable():
    with pytest.raises(ConfigError, match="HAIBEI_MAX_BODY_BYTES"):
        load({"HAIBEI_MAX_BODY_BYTES": "lots"}, dotenv=NO_ENV)


def test_database_limits_are_numbers():
    from config.settings import ConfigError, load

    settings = load({"HAIBEI_DB_POOL_SIZE": "20", "HAIBEI_DB_STATEMENT_TIMEOUT_S": "2.5"}, dotenv=Path("/nonexistent"))
    assert settings.db_pool_size == 20 and settings.db_statement_timeout_s == 2.5
    with pytest.raises(ConfigError, match="HAIBEI_DB_STATEMENT_TIMEOUT_S must be a number"):
        load({"HAIBEI_DB_STATEMENT_TIMEOUT_S": "soon"}, dotenv=Path("/nonexistent"))


def test_an_outbox_lease_shorter_than_a_send_can_take_is_refused():
    # Four timeouts: token, send, and both again after a stale token. Shorter, a second worker
    # takes the row while the first is still sending it, and the person gets the message twice.
    with pytest.raises(ConfigError, match="HAIBEI_OUTBOX_LEASE_S"):
        load({"HAIBEI_OUTBOX_LEASE_S": "60", "HAIBEI_WORKER_WECHAT_TIMEOUT_S": "20"}, dotenv=NO_ENV)
    assert load({"HAIBEI_OUTBOX_LEASE_S": "90", "HAIBEI_WORKER_WECHAT_TIMEOUT_S": "20"}, dotenv=NO_ENV).outbox_lease_s == 90
    defaults = load({}, dotenv=NO_ENV)
    assert defaults.outbox_lease_s > 4 * defaults.worker_wechat_timeout_s


def test_every_template_has_its_variable_named_after_its_placeholder():
    assert sorted(TEMPLATES) == [
        "HAIBEI_TEMPLATE_AUDIT", "HAIBEI_TEMPLATE_NEARBY", "HAIBEI_TEMPLATE_NEED_PROGRESS", "HAIBEI_TEMPLATE_POINTS",
        "HAIBEI_TEMPLATE_RATE", "HAIBEI_TEMPLATE_REDEEM", "HAIBEI_TEMPLATE_REVIEW_TODO", "HAIBEI_TEMPLATE_TASK_UPDATE"]


@pytest.mark.parametrize("variable", sorted(TEMPLATES))
@pytest.mark.parametrize("value", [None, "", "TPL_NEED_PROGRESS", "changeme"])
def test_production_refuses_a_template_id_not_configured_naming_the_variable(variable, value):
    """A placeholder id goes to WeChat as it is, and every message of that template dies (40037)."""
    env = {**PROD, variable: value}
    if value is None:
        del env[variable]
    with pytest.raises(ConfigError, match=f"set real values for {variable}$"):
        load(env, dotenv=NO_ENV)


def test_production_refuses_two_templates_sharing_one_id():
    one, other = sorted(TEMPLATES)[:2]
    with pytest.raises(ConfigError, match=f"{one}, {other} name the same template id"):
        load({**PROD, other: PROD[one]}, dotenv=NO_ENV)


def test_production_starts_with_every_template_id_set_and_uses_them(tmp_path):
    load(dict(PROD), dotenv=NO_ENV)
    assert template_ids(PROD, dotenv=NO_ENV) == {
        "TPL_" + variable.removeprefix("HAIBEI_TEMPLATE_"): real for variable, real in TEMPLATES.items()}
    # Also from .env, the environment winning, as every other setting.
    env_file = tmp_path / ".env"
    env_file.write_text("HAIBEI_TEMPLATE_POINTS=from-dotenv\nHAIBEI_TEMPLATE_RATE=rate-from-dotenv\n", encoding="utf-8")
    ids = template_ids({"HAIBEI_TEMPLATE_POINTS": "from-environment"}, dotenv=env_file)
    assert ids["TPL_POINTS"] == "from-environment" and ids["TPL_RATE"] == "rate-from-dotenv"


def test_embedded_mode_keeps_the_placeholders_the_standin_knows():
    assert template_ids({}, dotenv=NO_ENV) == {p: p for p in {s["template_id"] for s in NOTIFICATION_TEMPLATES.values()}}
    assert load({}, dotenv=NO_ENV).embedded


def test_the_ids_offered_and_sent_are_the_configured_ones():
    """What GET /subscriptions/templates offers, what POST /subscriptions counts and what the outbox
    sends (notify.TEMPLATES, notify.TEMPLATE_IDS) are the ids the process was started with."""
    code = ("from server.notifications import notify; "
            "print(notify.TEMPLATES['task_confirmed']['template_id'], notify.TEMPLATES['need_completed']['template_id'], "
            "sorted(notify.TEMPLATE_IDS) == sorted({t['template_id'] for t in notify.TEMPLATES.values()}), "
            "'TPL_POINTS' in notify.TEMPLATE_IDS)")
    env = {**os.environ, "HAIBEI_TEMPLATE_POINTS": "points-id-from-the-console"}
    env.pop("HAIBEI_TEMPLATE_RATE", None)
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True,
                         timeout=120, check=False)
    assert out.returncode == 0, out.stderr
    rate = template_ids(env)["TPL_RATE"]  # the placeholder, unless the checkout's .env sets it
    assert out.stdout.split() == ["points-id-from-the-console", rate, "True", "False"]
