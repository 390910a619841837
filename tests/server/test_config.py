"""Settings read from the environment: defaults, bounds, production requirements, and one
error naming every bad variable."""

from __future__ import annotations

import pytest

from dispatch_server.config import ConfigError, Settings

pytestmark = pytest.mark.anyio


def test_defaults() -> None:
    settings = Settings.from_env({})
    assert settings.storage.database_url == "sqlite+aiosqlite:///./dispatch.db"
    assert settings.runtime.env == "development"
    assert settings.inbound.token is None


def test_plain_urls_get_async_drivers() -> None:
    assert Settings.from_env({"DATABASE_URL": "postgresql://u@h/db"}).storage.database_url == (
        "postgresql+asyncpg://u@h/db"
    )
    assert Settings.from_env({"DATABASE_URL": "sqlite:///x.db"}).storage.database_url == (
        "sqlite+aiosqlite:///x.db"
    )


def test_production_names_every_missing_value() -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({"DISPATCH_ENV": "production"})
    message = str(caught.value)
    for name in ("DATABASE_URL", "DISPATCH_INBOX_DOMAIN"):
        assert name in message
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({"DISPATCH_ENV": "production", "DATABASE_URL": "postgresql://h/db"})
    assert "DISPATCH_INBOX_DOMAIN" in str(caught.value)
    assert "DATABASE_URL" not in str(caught.value)


def test_production_needs_only_what_a_feature_uses() -> None:
    """Operator tokens need JWT_SECRET_KEY (a per-process key would end every session at each
    restart and differ between API processes); no feature uses the app's base URL yet."""
    needed = {
        "DISPATCH_ENV": "production",
        "DATABASE_URL": "postgresql://h/db",
        "DISPATCH_INBOX_DOMAIN": "mail.example.com",
    }
    with pytest.raises(ConfigError, match="JWT_SECRET_KEY"):
        Settings.from_env(needed)
    for short in ("k", "k" * 31):  # guessable offline from any token it signed
        with pytest.raises(ConfigError, match=r"JWT_SECRET_KEY.*at least 32"):
            Settings.from_env({**needed, "JWT_SECRET_KEY": short})
    settings = Settings.from_env({**needed, "JWT_SECRET_KEY": "k" * 40})
    assert settings.runtime.is_production


@pytest.mark.parametrize(
    "url",
    [
        "mysql://root:hunter2@db/dispatch",
        "mysql+pymysql://root:hunter2@db/dispatch",
        "oracle://scott:tiger@db",
        "dispatch.db",
        "://hunter2",
    ],
)
def test_an_unsupported_database_is_a_configuration_error(url: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({"DATABASE_URL": url})
    message = str(caught.value)
    assert "DATABASE_URL" in message and "sqlite://" in message and "postgresql://" in message
    assert "hunter2" not in message and "tiger" not in message  # never the password


def test_bad_values_are_all_reported() -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env(
            {
                "DISPATCH_SMTP_PORT": "twenty",
                "DISPATCH_ENFORCE_MULTI_INBOX_UPGRADE": "maybe",
                "DISPATCH_DAILY_INBOUND_QUOTA": "-3",
            }
        )
    message = str(caught.value)
    assert "DISPATCH_SMTP_PORT" in message
    assert "DISPATCH_ENFORCE_MULTI_INBOX_UPGRADE" in message
    assert "DISPATCH_DAILY_INBOUND_QUOTA" in message
    with pytest.raises(ConfigError):
        Settings.from_env({"DISPATCH_ENV": "staging"})


@pytest.mark.parametrize(
    "host",
    [
        "mx",
        "mx example.com",
        "-mx.example.com",
        "mx..example.com",
        "mx.exämple.com",
        "mx.example.com:25",
        "x" * 64 + ".com",
    ],
)
def test_the_custom_domains_hosts_must_be_host_names(host: str) -> None:
    for variable in ("DISPATCH_DOMAIN_MX_HOST", "DISPATCH_DOMAIN_SPF_INCLUDE"):
        with pytest.raises(ConfigError) as caught:
            Settings.from_env({variable: host})
        assert variable in str(caught.value)
    read = Settings.from_env({"DISPATCH_DOMAIN_MX_HOST": "MX.Example.com."}).inboxes
    assert read.mx_host == "mx.example.com" and read.spf_include is None


def test_values_are_read() -> None:
    settings = Settings.from_env(
        {
            "DISPATCH_INBOX_DOMAIN": "Mail.Example.COM",
            "DISPATCH_INBOUND_TOKEN": "tok",
            "DISPATCH_ENFORCE_MULTI_INBOX_UPGRADE": "true",
            "DISPATCH_MESSAGE_RETENTION_DAYS": "7",
        }
    )
    assert settings.inboxes.domain == "mail.example.com"
    assert settings.inbound.token == "tok"
    assert settings.inboxes.enforce_multi_inbox_upgrade is True
    assert settings.storage.message_retention_days == 7


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DISPATCH_WAIT_RECHECK_SECONDS", "0"),
        ("DISPATCH_WAIT_RECHECK_SECONDS", "-1"),
        ("DISPATCH_WAIT_RECHECK_SECONDS", "nan"),
        ("DISPATCH_WAIT_MAX_SECONDS", "-5"),
        ("DISPATCH_WAIT_MAX_SECONDS", "inf"),
        ("DISPATCH_WAIT_LOOKBACK_SECONDS", "-1"),
        ("DISPATCH_WAIT_LOOKBACK_SECONDS", "1e300"),
        ("DISPATCH_HTTP_PORT", "70000"),
        ("DISPATCH_SMTP_PORT", "-1"),
        ("DISPATCH_MAX_MESSAGE_BYTES", "0"),
        ("DISPATCH_MAX_MIME_PARTS", "0"),
        ("DISPATCH_MAX_MIME_DEPTH", "0"),
        ("DISPATCH_MESSAGE_RETENTION_DAYS", "0"),
        ("DISPATCH_MESSAGE_RETENTION_DAYS", "99999999999"),
        ("DISPATCH_DAILY_INBOUND_QUOTA", "0"),
    ],
)
def test_numbers_out_of_range_stop_startup_naming_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({name: value})
    assert name in str(caught.value) and repr(value) in str(caught.value)


def test_numbers_at_the_edges_of_their_range_are_accepted() -> None:
    settings = Settings.from_env(
        {
            "DISPATCH_WAIT_MAX_SECONDS": "0",
            "DISPATCH_WAIT_RECHECK_SECONDS": "0.1",
            "DISPATCH_WAIT_LOOKBACK_SECONDS": "0",
            "DISPATCH_HTTP_PORT": "0",
            "DISPATCH_SMTP_PORT": "65535",
            "DISPATCH_MESSAGE_RETENTION_DAYS": "36500",
        }
    )
    assert settings.waits.max_seconds == 0 and settings.waits.recheck_seconds == 0.1
    assert (settings.http.port, settings.smtp.port) == (0, 65535)
    assert settings.storage.message_retention_days == 36500


def test_the_configuration_reference_is_the_declarations() -> None:
    """docs/server.md shows the table made from the declarations, and every declared variable
    is read: setting it to a bad value is reported under its name."""
    from pathlib import Path

    from dispatch_server.config import declarations
    from dispatch_server.config.reference import markdown_table

    docs = (Path(__file__).parents[2] / "docs" / "server.md").read_text()
    assert markdown_table() in docs, "regenerate: python -m dispatch_server.config.reference"
    for setting in declarations():
        with pytest.raises(ConfigError) as caught:
            Settings.from_env({setting.env: " "})  # blank: no setting takes it
        assert setting.env in str(caught.value)


def test_worker_settings_are_bounded_and_named() -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env(
            {
                "DISPATCH_WORKER_CONCURRENCY": "0",
                "DISPATCH_WORKER_WAIT_SECONDS": "21",
                "DISPATCH_WORKER_VISIBILITY_SECONDS": "43201",
                "DISPATCH_WORKER_HEARTBEAT_SECONDS": "nan",
                "DISPATCH_METRICS_ENABLED": "perhaps",
                "DISPATCH_OPS_TOKEN": " ",
            }
        )
    message = str(caught.value)
    for name in (
        "DISPATCH_WORKER_CONCURRENCY",
        "DISPATCH_WORKER_WAIT_SECONDS",
        "DISPATCH_WORKER_VISIBILITY_SECONDS",
        "DISPATCH_WORKER_HEARTBEAT_SECONDS",
        "DISPATCH_METRICS_ENABLED",
        "DISPATCH_OPS_TOKEN",
    ):
        assert name in message
    with pytest.raises(ConfigError, match="DISPATCH_SQS_DLQ_URL needs DISPATCH_SQS_QUEUE_URL"):
        Settings.from_env({"DISPATCH_SQS_DLQ_URL": "https://sqs.example/1/dlq"})
    settings = Settings.from_env({"DISPATCH_WORKER_HEARTBEAT_SECONDS": "10"})
    assert settings.worker.stale_after_seconds == 30


@pytest.mark.parametrize(
    "arn",
    [
        "arn:aws:sns:nowhere:123456789012:events",  # no region
        "arn:aws:sns:cn-north-1:123456789012:events",  # a region of another partition
    ],
)
def test_a_topic_arn_the_sns_door_would_refuse_is_a_configuration_error(arn: str) -> None:
    # Not a ValueError when the services start: the variable is named, with the others.
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({"DISPATCH_SNS_TOPIC_ARNS": arn})
    assert "DISPATCH_SNS_TOPIC_ARNS" in str(caught.value)


def test_a_fifo_topic_arn_is_taken() -> None:
    arn = "arn:aws:sns:us-east-1:123456789012:events.fifo"
    assert Settings.from_env({"DISPATCH_SNS_TOPIC_ARNS": arn}).outbound.topic_arns == (arn,)


def test_the_webhook_loopback_setting_is_refused_in_production() -> None:
    """Development and the tests may deliver to loopback over http; production never."""
    production = {
        "DISPATCH_ENV": "production",
        "DATABASE_URL": "postgresql://h/db",
        "DISPATCH_INBOX_DOMAIN": "mail.example.com",
        "JWT_SECRET_KEY": "k" * 40,
    }
    with pytest.raises(ConfigError, match="DISPATCH_WEBHOOK_ALLOW_LOOPBACK"):
        Settings.from_env({**production, "DISPATCH_WEBHOOK_ALLOW_LOOPBACK": "true"})
    assert not Settings.from_env(production).webhooks.allow_loopback
    for env in ("development", "test"):
        settings = Settings.from_env(
            {"DISPATCH_ENV": env, "DISPATCH_WEBHOOK_ALLOW_LOOPBACK": "true"}
        )
        assert settings.webhooks.allow_loopback
