"""messaging.E001 names every missing setting in production; E002 refuses malformed ones anywhere."""

from __future__ import annotations

import pytest

from messaging.checks import check_messaging_settings
from messaging.clients.config import setting_problem

COMPLETE = {
    "GREEN_API_URL": "https://7105.api.greenapi.com",
    "GREEN_API_ID_INSTANCE": "7105123456",
    "GREEN_API_TOKEN": "d75b3a66374942c5b3c019c698abc2067e151558acbd412345",
    "GREEN_API_WEBHOOK_TOKEN": "webhook-token-0123456789",
    "DEEPSEEK_BASE_URL": "https://api.deepseek.com",
    "DEEPSEEK_API_KEY": "sk-0123456789abcdef0123456789abcdef",
}


@pytest.fixture
def configured(settings):
    for name, value in COMPLETE.items():
        setattr(settings, name, value)
    return settings


def ids(errors) -> list[str]:
    return [error.id for error in errors]


def test_a_complete_production_configuration_passes(configured):
    configured.APP_ENV = "production"
    assert check_messaging_settings() == []


def test_production_names_every_missing_setting_in_one_error(configured):
    configured.APP_ENV = "production"
    configured.GREEN_API_TOKEN = None
    configured.GREEN_API_WEBHOOK_TOKEN = ""
    configured.DEEPSEEK_API_KEY = None
    [error] = check_messaging_settings()
    assert error.id == "messaging.E001"
    assert "GREEN_API_TOKEN, GREEN_API_WEBHOOK_TOKEN, DEEPSEEK_API_KEY" in error.msg
    assert "GREEN_API_URL" not in error.msg


def test_outside_production_unset_settings_are_not_an_error(configured):
    configured.APP_ENV = "development"
    configured.GREEN_API_TOKEN = None
    assert check_messaging_settings() == []


@pytest.mark.parametrize(
    "name, value",
    [
        ("GREEN_API_ID_INSTANCE", "71051234x"),
        ("GREEN_API_ID_INSTANCE", "-1"),
        ("GREEN_API_URL", "api.green-api.com"),
        ("GREEN_API_URL", "ftp://api.green-api.com"),
        ("GREEN_API_URL", "https://user:pass@api.green-api.com"),
        ("GREEN_API_URL", "https://api.green-api.com/?x=1"),
        ("DEEPSEEK_BASE_URL", "file:///etc/passwd"),
        ("DEEPSEEK_BASE_URL", "https://"),
        ("GREEN_API_TOKEN", "has/slash/in-it"),
        ("GREEN_API_TOKEN", "short"),
        ("DEEPSEEK_API_KEY", "sk key with spaces"),
        ("GREEN_API_WEBHOOK_TOKEN", "tok\x00en-123"),
    ],
)
def test_malformed_settings_are_refused_in_any_environment(configured, name, value):
    configured.APP_ENV = "development"
    setattr(configured, name, value)
    errors = check_messaging_settings()
    assert ids(errors) == ["messaging.E002"]
    assert errors[0].msg.startswith(name)


@pytest.mark.parametrize(
    "name, value",
    [
        ("GREEN_API_URL", "http://127.0.0.1:8100"),
        ("GREEN_API_URL", "https://api.green-api.com/"),
        ("DEEPSEEK_BASE_URL", "https://api.deepseek.com/v1"),
        ("GREEN_API_WEBHOOK_TOKEN", "Pa$$w0rd!#%&"),
        ("GREEN_API_ID_INSTANCE", "1101000001"),
    ],
)
def test_well_formed_values(name, value):
    assert setting_problem(name, value) is None
