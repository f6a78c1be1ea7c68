"""Real Celery worker processes running messaging's tasks against loopback Green API and DeepSeek."""

from __future__ import annotations

import pytest

from tests.integration.dlq.conftest import start_worker  # noqa: F401 - fixture
from tests.integration.messaging.conftest import (  # noqa: F401 - fixtures
    DEEPSEEK_KEY,
    GREEN_API_INSTANCE,
    GREEN_API_TOKEN,
    deepseek,
    fresh_reliability,
    green_api,
)
from tests.integration.outbox.conftest import green  # noqa: F401 - fixture


@pytest.fixture
def messaging_worker(start_worker, green, deepseek, settings):  # noqa: F811
    """``messaging_worker(name, **env)``: a worker whose Green API and DeepSeek are the loopback servers.

    Short timeouts and backoffs, so retries and reconciliation happen within seconds.
    """
    settings.GREEN_API_ID_INSTANCE = GREEN_API_INSTANCE

    def start(name: str, pool: str = "prefork", **env: str):
        defaults = dict(
            GREEN_API_URL=green.url,
            GREEN_API_ID_INSTANCE=GREEN_API_INSTANCE,
            GREEN_API_TOKEN=GREEN_API_TOKEN,
            GREEN_API_CONNECT_TIMEOUT="0.5",
            GREEN_API_READ_TIMEOUT="0.5",
            DEEPSEEK_BASE_URL=deepseek.url,
            DEEPSEEK_API_KEY=DEEPSEEK_KEY,
            DEEPSEEK_READ_TIMEOUT="0.5",
            OUTBOX_RETRY_BASE_SECONDS="0.2",
            OUTBOX_RETRY_MAX_SECONDS="1",
            OUTBOX_MAX_ATTEMPTS="3",
            GREEN_API_JOURNAL_LAG_SECONDS="1",
        )
        return start_worker(name, pool=pool, **{**defaults, **env})

    return start
