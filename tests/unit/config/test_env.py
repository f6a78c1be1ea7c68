from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool, env_choice, env_int, env_list, env_str


@pytest.mark.parametrize("raw, expected", [("true", True), ("ON", True), ("1", True), ("no", False), ("0", False)])
def test_env_bool_reads_the_usual_spellings(monkeypatch, raw, expected):
    monkeypatch.setenv("FLAG", raw)
    assert env_bool("FLAG", not expected) is expected


def test_env_bool_refuses_anything_else_with_the_variable_named(monkeypatch):
    monkeypatch.setenv("DEBUG", "maybe")
    with pytest.raises(ImproperlyConfigured, match=r"DEBUG='maybe' is not a boolean"):
        env_bool("DEBUG", False)


def test_unset_and_empty_variables_take_the_default(monkeypatch):
    monkeypatch.delenv("FLAG", raising=False)
    assert env_bool("FLAG", True) is True
    monkeypatch.setenv("FLAG", "")
    assert env_bool("FLAG", False) is False


def test_env_int_checks_type_and_minimum(monkeypatch):
    monkeypatch.setenv("N", "ten")
    with pytest.raises(ImproperlyConfigured, match="not a whole number"):
        env_int("N", 1)
    monkeypatch.setenv("N", "-1")
    with pytest.raises(ImproperlyConfigured, match="at least 0"):
        env_int("N", 1, minimum=0)


def test_env_choice_lists_the_allowed_values(monkeypatch):
    monkeypatch.setenv("APP_ENV", "staging")
    with pytest.raises(ImproperlyConfigured, match="development, production, testing"):
        env_choice("APP_ENV", "development", ("development", "production", "testing"))


def test_secrets_can_come_from_a_file(monkeypatch, tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("from-a-file\n")
    monkeypatch.setenv("SECRET_KEY_FILE", str(secret))
    assert env_str("SECRET_KEY") == "from-a-file"
    monkeypatch.setenv("SECRET_KEY_FILE", str(tmp_path / "missing"))
    with pytest.raises(ImproperlyConfigured, match="cannot be read"):
        env_str("SECRET_KEY")


def test_env_list_splits_and_trims(monkeypatch):
    monkeypatch.setenv("HOSTS", " a.example , b.example,,")
    assert env_list("HOSTS", []) == ["a.example", "b.example"]


@pytest.mark.parametrize("value", ["nan", "NaN", "inf", "-inf", "1e999"])
def test_a_float_setting_must_be_finite(monkeypatch, value):
    from config.env import env_float

    monkeypatch.setenv("SOME_SECONDS", value)
    with pytest.raises(ImproperlyConfigured, match="is not a finite number"):
        env_float("SOME_SECONDS", 1.0, minimum=0.0)


@pytest.mark.parametrize(
    ("value", "message"),
    [("{not json", "is not valid JSON"), ('["redis_down"]', "must be a JSON object, not list"), ("3", "not int")],
)
def test_a_json_object_setting_is_refused_when_it_is_not_one(monkeypatch, value, message):
    from config.env import env_json_object

    monkeypatch.setenv("SOME_TABLE", value)
    with pytest.raises(ImproperlyConfigured, match=message):
        env_json_object("SOME_TABLE", {})


def test_a_json_object_setting_is_read(monkeypatch):
    from config.env import env_json_object

    monkeypatch.setenv("SOME_TABLE", '{"redis_down": "critical"}')
    assert env_json_object("SOME_TABLE", {"x": "y"}) == {"redis_down": "critical"}
    monkeypatch.delenv("SOME_TABLE")
    assert env_json_object("SOME_TABLE", {"x": "y"}) == {"x": "y"}
