"""System checks: a rule or feature table that names an unknown level or condition stops
start-up, and so does a canned reply table without the ``default`` that answers unknown kinds."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, register

from reliability.degradation.config import table_problems


@register()
def check_degradation_tables(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    problems = [
        Error(problem, id="reliability.E201")
        for problem in table_problems("DEGRADATION_RULES", settings.DEGRADATION_RULES, keys_are_conditions=True)
    ]
    problems += [
        Error(problem, id="reliability.E202")
        for problem in table_problems("DEGRADATION_FEATURES", settings.DEGRADATION_FEATURES, keys_are_conditions=False)
    ]
    replies = settings.DEGRADATION_CANNED_REPLIES
    if not isinstance(replies, dict) or not all(
        isinstance(kind, str) and isinstance(text, str) and text.strip() for kind, text in replies.items()
    ):
        problems.append(
            Error("DEGRADATION_CANNED_REPLIES must be an object of kind -> reply text", id="reliability.E203")
        )
    elif "default" not in replies:
        problems.append(
            Error(
                "DEGRADATION_CANNED_REPLIES needs a 'default' reply for kinds it does not name", id="reliability.E203"
            )
        )
    return problems
