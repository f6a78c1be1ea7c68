"""System checks: production refuses to start without the messaging settings, and any
environment refuses malformed ones, naming each, instead of failing at the first send."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, register

from messaging.clients.config import REQUIRED_IN_PRODUCTION, URL_SETTINGS, missing_settings, setting_problem


@register()
def check_messaging_settings(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    errors = []
    if settings.APP_ENV == "production":
        missing = missing_settings()
        if missing:
            errors.append(
                Error(
                    f"APP_ENV=production needs {', '.join(missing)} (see .env.example)",
                    hint="Green API's instance URL, id and token, the webhook token and the DeepSeek key.",
                    id="messaging.E001",
                )
            )
    for name in dict.fromkeys((*REQUIRED_IN_PRODUCTION, *URL_SETTINGS)):
        problem = setting_problem(name, getattr(settings, name, None))
        if problem:
            errors.append(Error(f"{name} {problem}", id="messaging.E002"))
    return errors
