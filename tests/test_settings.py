"""Settings: embedded defaults run anywhere; production refuses missing or placeholder secrets."""

import base64
import secrets
from pathlib import Path

import pytest

from config.settings import ConfigError, load

NO_ENV = Path("/nonexistent/.env")

PROD = {
    "HAIBEI_MODE": "production",
    "HAIBEI_DB_URL": "mysql://haibei:pw@db:3306/haibei",
    "HAIBEI_REDIS_URL": "redis://cache:6379/0",
    "HAIBEI_WECHAT_APPID": "wx1234567890",
    "HAIBEI_WECHAT_SECRET": "a" * 32,
    "HAIBEI_JWT_SECRET": secrets.token_urlsafe(40),
    "HAIBEI_DATA_KEY": "k1:" + base64.b64encode(secrets.token_bytes(32)).decode(),
    "HAIBEI_INDEX_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
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
