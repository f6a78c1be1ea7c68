from __future__ import annotations

import email.utils

import pytest
import requests

from reliability.errors import TRANSIENT_ERRORS, CircuitOpenError, RateLimited
from reliability.retry import parse_retry_after, retry_http_requests
from tests.unit.retry.conftest import Flaky, metric

NOW = 1_700_000_000.0


def response(status: int, *, retry_after: str | None = None) -> requests.Response:
    result = requests.Response()
    result.status_code = status
    result.url = "http://127.0.0.1:9/api"
    if retry_after is not None:
        result.headers["Retry-After"] = retry_after
    return result


def raising(status: int, *, retry_after: str | None = None) -> requests.HTTPError:
    failed = response(status, retry_after=retry_after)
    return requests.HTTPError(f"{status} Server Error", response=failed)


@pytest.fixture
def http_retry(clock):
    """``retry_http_requests`` on the fake clock, without jitter, with a 60 s cap."""

    def make(**kwargs):
        kwargs.setdefault("jitter", "none")
        kwargs.setdefault("max_delay", 60.0)
        return retry_http_requests(
            sleep=clock.sleep, async_sleep=clock.async_sleep, clock=clock, wall_clock=clock, **kwargs
        )

    return make


def test_parse_retry_after_reads_delay_seconds():
    assert parse_retry_after("120", now=NOW) == 120.0
    assert parse_retry_after(" 3 ", now=NOW) == 3.0
    assert parse_retry_after("-5", now=NOW) == 0.0


def test_parse_retry_after_reads_an_http_date_relative_to_now():
    assert parse_retry_after(email.utils.formatdate(NOW + 30, usegmt=True), now=NOW) == 30.0
    assert parse_retry_after(email.utils.formatdate(NOW - 30, usegmt=True), now=NOW) == 0.0


@pytest.mark.parametrize("value", ["soon", "", "Thu, 99 Foo 2026", "nan", "inf"])
def test_parse_retry_after_gives_none_for_unreadable_values(value):
    assert parse_retry_after(value, now=NOW) is None


@pytest.mark.parametrize("status", [429, 502, 503, 504])
def test_retryable_statuses_are_retried_when_returned(http_retry, clock, status):
    fn = Flaky(response(status), result=response(200))
    assert http_retry(max_retries=2, base_delay=1.0)(fn)().status_code == 200
    assert fn.calls == 2
    assert clock.sleeps == [1.0]


@pytest.mark.parametrize("status", [429, 503])
def test_retryable_statuses_are_retried_when_raised(http_retry, status):
    fn = Flaky(raising(status), result="done")
    assert http_retry(max_retries=2, base_delay=1.0)(fn)() == "done"
    assert fn.calls == 2


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422])
def test_other_4xx_are_never_retried(http_retry, clock, status):
    returned = Flaky(response(status))
    assert http_retry(max_retries=3)(returned)().status_code == status
    assert returned.calls == 1
    raised = Flaky(raising(status))
    with pytest.raises(requests.HTTPError):
        http_retry(max_retries=3)(raised)()
    assert raised.calls == 1
    assert clock.sleeps == []


def test_500_is_retried_only_when_configured(http_retry):
    plain = Flaky(response(500), result=response(200))
    assert http_retry(max_retries=2)(plain)().status_code == 500
    assert plain.calls == 1
    configured = Flaky(response(500), result=response(200))
    assert http_retry(max_retries=2, retry_on_500=True)(configured)().status_code == 200
    assert configured.calls == 2


@pytest.mark.parametrize(
    "error",
    [
        requests.ConnectionError("refused"),
        requests.ConnectTimeout("slow"),
        requests.ReadTimeout("slow"),
        # Whatever the one list of transient errors holds, HTTP retries retry it.
        *(error_class("from the shared list") for error_class in TRANSIENT_ERRORS),
    ],
)
def test_connection_errors_and_timeouts_are_retried(http_retry, error):
    fn = Flaky(error, result="done")
    assert http_retry(max_retries=1)(fn)() == "done"
    assert fn.calls == 2


def test_other_request_errors_are_not_retried(http_retry):
    fn = Flaky(requests.exceptions.InvalidURL("no host"))
    with pytest.raises(requests.exceptions.InvalidURL):
        http_retry(max_retries=3)(fn)()
    assert fn.calls == 1


def test_retry_after_seconds_on_a_429_sets_the_wait(http_retry, clock):
    fn = Flaky(response(429, retry_after="7"), result=response(200))
    http_retry(max_retries=2, base_delay=0.1)(fn)()
    assert clock.sleeps == [7.0]


def test_retry_after_date_on_a_503_sets_the_wait(http_retry, clock):
    when = email.utils.formatdate(clock.now + 25, usegmt=True)
    fn = Flaky(raising(503, retry_after=when), result="done")
    http_retry(max_retries=2, base_delay=0.1)(fn)()
    assert clock.sleeps == [25.0]


def test_unreadable_retry_after_falls_back_to_backoff(http_retry, clock):
    fn = Flaky(response(503, retry_after="later please"), result=response(200))
    http_retry(max_retries=2, base_delay=0.5)(fn)()
    assert clock.sleeps == [0.5]


def test_retry_after_is_capped_by_max_delay_and_deadline(http_retry, clock):
    capped = Flaky(response(429, retry_after="600"), result=response(200))
    http_retry(max_retries=2, max_delay=15.0)(capped)()
    assert clock.sleeps == [15.0]
    too_late = Flaky(response(429, retry_after="40"), result=response(200))
    assert http_retry(max_retries=2, deadline=30.0)(too_late)().status_code == 429
    assert too_late.calls == 1


def test_rate_limited_from_a_client_is_honoured(http_retry, clock):
    fn = Flaky(RateLimited(retry_after=2.5), result="done")
    assert http_retry(max_retries=1)(fn)() == "done"
    assert clock.sleeps == [2.5]


def test_when_retries_run_out_the_last_response_is_returned(http_retry):
    last = response(503)
    fn = Flaky(response(503), response(503), last)
    assert http_retry(max_retries=2, base_delay=0.1)(fn)() is last
    assert fn.calls == 3


def test_when_retries_run_out_the_last_error_is_raised(http_retry):
    last = raising(502)
    fn = Flaky(raising(502), last)
    with pytest.raises(requests.HTTPError) as caught:
        http_retry(max_retries=1)(fn)()
    assert caught.value is last


def test_an_open_breaker_is_not_retried(http_retry):
    fn = Flaky(response(503), CircuitOpenError("green_api", 60.0))
    with pytest.raises(CircuitOpenError):
        http_retry(max_retries=5)(fn)()
    assert fn.calls == 2


def test_http_retries_are_counted_per_service(http_retry):
    labels = {"service": "unit-http", "outcome": "retried"}
    before = metric("retry_attempts_total", **labels)
    fn = Flaky(response(503), response(429), result=response(200))
    http_retry(max_retries=3, service="unit-http")(fn)()
    assert metric("retry_attempts_total", **labels) - before == 2


def test_a_retried_response_is_logged_by_status_with_the_token_redacted(http_retry):
    from structlog.testing import capture_logs

    failed = response(503)
    failed.url = "https://api.green-api.com/waInstance1101/sendMessage/0123456789abcdefTOKEN"
    with capture_logs() as logs:
        http_retry(max_retries=1, service="green_api")(Flaky(failed, result=response(200)))()
    [entry] = [e for e in logs if e["event"] == "retry_attempt"]
    assert entry["error"].startswith("HTTP 503 from ")
    assert "0123456789abcdefTOKEN" not in entry["error"]


def test_async_callers_get_the_last_response_when_retries_run_out(http_retry, clock):
    import asyncio

    last = response(504)
    fn = Flaky(response(503), last)

    @http_retry(max_retries=1, base_delay=0.25)
    async def send():
        return fn()

    assert asyncio.run(send()) is last
    assert clock.sleeps == [0.25]
