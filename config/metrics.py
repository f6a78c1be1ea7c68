"""The Prometheus scrape endpoint.

Counters and histograms live in each process; under gunicorn and Celery prefork, and in
management commands, they reach the scrape through prometheus_client's multiprocess mode
(``PROMETHEUS_MULTIPROC_DIR``: one directory per host, wiped before its processes
start). Everything that describes shared state (breaker state and transitions, DLQ size,
degradation level, the health monitor's results, live workers, the outbox) is not
per-process: collectors read the shared store at scrape time, so a change counts once
whichever process made it. They are registered here with ``register_state_collector``
because the multiprocess collector ignores collectors registered on the default registry.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Iterable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.registry import Collector

_state_collectors: list[Collector] = []


def register_state_collector(collector: Collector) -> None:
    """Add a collector that reads shared state at scrape time (idempotent)."""
    if collector not in _state_collectors:
        _state_collectors.append(collector)


class _DefaultRegistryCollector(Collector):
    def collect(self) -> Iterable[Metric]:
        return REGISTRY.collect()


def scrape_registry() -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        MultiProcessCollector(registry)
    else:
        registry.register(_DefaultRegistryCollector())
    for collector in _state_collectors:
        registry.register(collector)
    return registry


def metrics_process_dead(pid: int) -> None:
    """Drop a finished process's live gauges from the multiprocess directory.

    Its counters and histograms stay (they keep counting in the sums); gauges declared
    ``live*`` would otherwise go on reporting a process that is gone. Called by gunicorn's
    ``child_exit`` hook and when a Celery worker process shuts down.
    """
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        mark_process_dead(pid)


def _header_bytes(value: str) -> bytes:
    # WSGI hands header values over as latin-1 text (PEP 3333): encoding them back gives
    # the bytes the client sent. Text beyond latin-1 (a test client's) cannot be a
    # token's bytes anyway; surrogatepass encodes any string without raising.
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:
        return value.encode("utf-8", "surrogatepass")


def bearer_token_matches(request: HttpRequest, token: str | None) -> bool:
    """Whether the request carries ``Authorization: Bearer <token>``.

    Compared as bytes in constant time: ``hmac.compare_digest`` refuses non-ASCII text,
    and a non-ASCII header is a wrong token (401), not a crash.
    """
    if not token:
        return False
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(_header_bytes(presented.strip()), token.encode("utf-8", "surrogatepass"))


def has_monitoring_access(request: HttpRequest, token: str | None) -> bool:
    """Staff sessions, or a bearer token equal to ``token``: the rule of every monitoring door."""
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated and user.is_staff:
        return True
    return bearer_token_matches(request, token)


@never_cache
def metrics_view(request: HttpRequest) -> HttpResponse:
    if not has_monitoring_access(request, settings.METRICS_TOKEN):
        return HttpResponse(
            "metrics need a staff session or 'Authorization: Bearer <METRICS_TOKEN>'\n",
            status=401,
            content_type="text/plain",
            headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
        )
    return HttpResponse(generate_latest(scrape_registry()), content_type="text/plain; version=0.0.4; charset=utf-8")
