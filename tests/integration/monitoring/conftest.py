"""Scrapes and processes for the monitoring tests."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.conf import settings

from config.metrics import scrape_registry
from sandbox import GreenApiStandIn
from tests.integration.dlq.conftest import start_worker, test_database_url  # noqa: F401 - fixture

# Autouse: fresh breakers and retry budgets, so failing checks here cannot drain the budgets later tests use.
from tests.integration.messaging.conftest import fresh_reliability  # noqa: F401 - fixture


def sample(name: str, labels: dict[str, str] | None = None) -> float | None:
    """One value of one scrape of this process's registry (None: no such series)."""
    return scrape_registry().get_sample_value(name, labels or {})


def manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    """``manage.py ...`` in a process of its own, against the test database and the suite's Redis."""
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=settings.BASE_DIR,
        env={**os.environ, "DATABASE_URL": test_database_url(), "REDIS_URL": settings.REDIS_URL, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def sample_in_another_process(name: str, labels: dict[str, str] | None = None) -> float | None:
    """``sample`` from a scrape by a new process of its own (nothing of this one's memory)."""
    code = (
        "import django; django.setup()\n"
        "from config.metrics import scrape_registry\n"
        f"print(scrape_registry().get_sample_value({name!r}, {labels or {}!r}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=settings.BASE_DIR,
        env={**os.environ, "DATABASE_URL": test_database_url(), "REDIS_URL": settings.REDIS_URL},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    value = done.stdout.strip().splitlines()[-1]
    return None if value == "None" else float(value)


@pytest.fixture
def green_api(settings):
    """A Green API stand-in the settings point at, whose instance is authorized: its health check passes."""
    with GreenApiStandIn(id_instance=settings.GREEN_API_ID_INSTANCE, token=settings.GREEN_API_TOKEN) as green:
        settings.GREEN_API_URL = green.url
        yield green
