"""Fresh breakers, degradation copy and retry budgets for the report tests, and a way to
put a history's rows at chosen times (the services stamp them with now)."""

from __future__ import annotations

import datetime as dt

import pytest

from reliability.breaker.breaker import forget_circuit_breakers
from reliability.degradation.store import view
from tests.integration.messaging.conftest import deepseek, fresh_reliability, green_api  # noqa: F401 - fixtures

# A fixed hour in the past, so the periods of the tests are whole and far from "now".
T0 = dt.datetime(2026, 11, 2, 10, 0, tzinfo=dt.UTC)


def at(minutes: float) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


@pytest.fixture(autouse=True)
def _fresh_degradation(redis_client):
    forget_circuit_breakers()
    view.forget()
    yield
    view.forget()


def place(queryset, field: str, times: list[dt.datetime]) -> None:
    """Give the rows of ``queryset`` (oldest id first) the times ``times``, in that order."""
    rows = list(queryset.order_by("pk").values_list("pk", flat=True))
    assert len(rows) == len(times), (rows, times)
    for pk, moment in zip(rows, times, strict=True):
        queryset.model.objects.filter(pk=pk).update(**{field: moment})
