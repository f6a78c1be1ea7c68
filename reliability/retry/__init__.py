"""Bounded retries with backoff, jitter, deadlines and a per-service budget (DESIGN 5)."""

from __future__ import annotations

from reliability.retry.budget import LocalBudgetStore, RedisBudgetStore, RetryBudget, get_retry_budget
from reliability.retry.config import DEFAULT_RETRY_ON, RetryConfig
from reliability.retry.decorators import retry, retry_http_requests
from reliability.retry.handler import RetryHandler
from reliability.retry.http import parse_retry_after

__all__ = [
    "DEFAULT_RETRY_ON",
    "LocalBudgetStore",
    "RedisBudgetStore",
    "RetryBudget",
    "RetryConfig",
    "RetryHandler",
    "get_retry_budget",
    "parse_retry_after",
    "retry",
    "retry_http_requests",
]
