from __future__ import annotations

import email.utils

import pytest
import requests
from structlog.testing import capture_logs

from reliability.errors import CircuitOpenError, PermanentError, RateLimited, TransientError
from reliability.retry import RetryConfig, RetryHandler
from tests.unit.retry.conftest import Flaky, metric


def test_a_first_success_is_returned_without_sleeping(make_handler, clock):
    fn = Flaky()
    assert make_handler(max_retries=3, base_delay=1.0).execute(fn) == "ok"
    assert fn.calls == 1
    assert clock.sleeps == []


def test_transient_failures_are_retried_with_the_strategy_delays(make_handler, clock):
    fn = Flaky(TransientError("a"), TransientError("b"), TransientError("c"))
    handler = make_handler(max_retries=3, base_delay=1.0, max_delay=60.0)
    assert handler.execute(fn, "arg", key="value") == "ok"
    assert fn.calls == 4
    assert clock.sleeps == [1.0, 2.0, 4.0]


def test_arguments_reach_the_function():
    seen = []
    handler = RetryHandler(RetryConfig(max_retries=0))
    handler.execute(lambda *args, **kwargs: seen.append((args, kwargs)), 1, 2, x=3)
    assert seen == [((1, 2), {"x": 3})]


def test_gives_up_after_max_retries_and_reraises_the_last_error(make_handler, clock):
    errors = [TransientError(f"failure {n}") for n in range(5)]
    fn = Flaky(*errors)
    with pytest.raises(TransientError) as caught:
        make_handler(max_retries=2, base_delay=0.5, service="unit-give-up").execute(fn)
    assert caught.value is errors[2]
    assert fn.calls == 3
    assert clock.sleeps == [0.5, 1.0]


def test_zero_retries_means_one_attempt(make_handler, clock):
    fn = Flaky(TransientError("down"))
    with pytest.raises(TransientError):
        make_handler(max_retries=0).execute(fn)
    assert fn.calls == 1
    assert clock.sleeps == []


def test_errors_not_listed_are_not_retried(make_handler, clock):
    fn = Flaky(ValueError("a bug"))
    with pytest.raises(ValueError):
        make_handler(max_retries=5, base_delay=1.0).execute(fn)
    assert fn.calls == 1
    assert clock.sleeps == []


def test_permanent_errors_are_not_retried_by_default(make_handler):
    fn = Flaky(PermanentError("400 bad phone number"))
    with pytest.raises(PermanentError):
        make_handler(max_retries=5).execute(fn)
    assert fn.calls == 1


def test_explicit_retry_on_classes_replace_the_defaults(make_handler):
    fn = Flaky(KeyError("cache miss"), result="found")
    assert make_handler(max_retries=2, base_delay=0.1, retry_on=(KeyError,)).execute(fn) == "found"
    assert fn.calls == 2
    other = Flaky(TransientError("not listed"))
    with pytest.raises(TransientError):
        make_handler(max_retries=2, retry_on=(KeyError,)).execute(other)
    assert other.calls == 1


def test_a_predicate_decides_which_errors_are_retried(make_handler):
    def only_busy(error: BaseException) -> bool:
        return "busy" in str(error)

    busy = Flaky(OSError("device busy"))
    assert make_handler(max_retries=2, retry_on=only_busy).execute(busy) == "ok"
    assert busy.calls == 2
    gone = Flaky(OSError("no such device"))
    with pytest.raises(OSError):
        make_handler(max_retries=2, retry_on=only_busy).execute(gone)
    assert gone.calls == 1


def test_circuit_open_error_ends_the_loop_at_once(make_handler, clock):
    open_error = CircuitOpenError("green_api", 30.0)
    fn = Flaky(TransientError("first"), open_error, TransientError("never reached"))
    with pytest.raises(CircuitOpenError) as caught:
        make_handler(max_retries=5, base_delay=1.0).execute(fn)
    assert caught.value is open_error
    assert fn.calls == 2
    assert clock.sleeps == [1.0]


def test_circuit_open_error_is_not_retried_even_with_a_catch_all_predicate(make_handler):
    fn = Flaky(CircuitOpenError("deepseek", 5.0))
    with pytest.raises(CircuitOpenError):
        make_handler(max_retries=5, retry_on=lambda error: True).execute(fn)
    assert fn.calls == 1


def test_jitter_draws_between_zero_and_the_backoff(make_handler, clock):
    bounds = []

    def lowest(low: float, high: float) -> float:
        bounds.append((low, high))
        return low

    fn = Flaky(TransientError("a"), TransientError("b"))
    make_handler(max_retries=2, base_delay=1.0, jitter="full", uniform=lowest).execute(fn)
    assert bounds == [(0.0, 1.0), (0.0, 2.0)]
    assert clock.sleeps == [0.0, 0.0]


def test_delays_never_exceed_max_delay(make_handler, clock):
    fn = Flaky(*[TransientError("x")] * 6)
    make_handler(max_retries=6, base_delay=1.0, max_delay=5.0).execute(fn)
    assert clock.sleeps == [1.0, 2.0, 4.0, 5.0, 5.0, 5.0]


def test_a_retry_that_would_pass_the_deadline_is_not_made(make_handler, clock):
    fn = Flaky(*[TransientError(f"x{n}") for n in range(10)])
    with pytest.raises(TransientError, match="x3"):
        make_handler(max_retries=10, base_delay=1.0, max_delay=60.0, deadline=10.0).execute(fn)
    # 1 + 2 + 4 = 7 s slept; the next wait (8 s) would end at 15 s, past the 10 s deadline.
    assert clock.sleeps == [1.0, 2.0, 4.0]
    assert fn.calls == 4


def test_the_deadline_counts_time_spent_inside_attempts(make_handler, clock):
    def slow_failure():
        clock.now += 4.0
        raise TransientError("slow and failing")

    with pytest.raises(TransientError):
        make_handler(max_retries=10, base_delay=1.0, strategy="fixed", deadline=9.5).execute(slow_failure)
    # 4 s call + 1 s wait + 4 s call = 9 s; one more 1 s wait would end past 9.5 s.
    assert clock.sleeps == [1.0]


def test_rate_limited_retry_after_sets_the_wait(make_handler, clock):
    fn = Flaky(RateLimited(retry_after=7.0))
    assert make_handler(max_retries=2, base_delay=0.1, max_delay=30.0).execute(fn) == "ok"
    assert clock.sleeps == [7.0]


def test_retry_after_is_capped_by_max_delay(make_handler, clock):
    fn = Flaky(RateLimited(retry_after=300.0))
    make_handler(max_retries=2, base_delay=0.1, max_delay=20.0).execute(fn)
    assert clock.sleeps == [20.0]


def test_retry_after_beyond_the_deadline_ends_the_loop(make_handler, clock):
    error = RateLimited(retry_after=30.0)
    fn = Flaky(error)
    with pytest.raises(RateLimited) as caught:
        make_handler(max_retries=3, base_delay=0.1, max_delay=60.0, deadline=10.0).execute(fn)
    assert caught.value is error
    assert clock.sleeps == []


def test_retry_after_is_used_without_jitter(make_handler, clock):
    fn = Flaky(RateLimited(retry_after=3.0))
    make_handler(max_retries=1, base_delay=0.1, max_delay=10.0, jitter="full", uniform=lambda a, b: a).execute(fn)
    assert clock.sleeps == [3.0]


def _http_error(status: int, retry_after: str | None = None) -> requests.HTTPError:
    response = requests.Response()
    response.status_code = status
    response.url = "http://127.0.0.1/test"
    if retry_after is not None:
        response.headers["Retry-After"] = retry_after
    return requests.HTTPError(f"{status} error", response=response)


def test_retry_after_header_on_a_listed_http_error_is_honoured(make_handler, clock):
    when = email.utils.formatdate(clock.now + 12, usegmt=True)
    fn = Flaky(_http_error(503, retry_after="4"), _http_error(503, retry_after=when))
    make_handler(max_retries=2, base_delay=0.1, max_delay=60.0, retry_on=(requests.HTTPError,)).execute(fn)
    # The date is absolute: 4 s of it passed during the first wait.
    assert clock.sleeps == [4.0, 8.0]


def test_successes_after_retries_and_each_retry_are_counted(make_handler):
    labels = {"service": "unit-metrics"}
    before = {
        outcome: metric("retry_attempts_total", outcome=outcome, **labels)
        for outcome in ("retried", "succeeded_after_retry", "gave_up")
    }
    delay_count = metric("retry_delay_seconds_count", **labels)
    delay_sum = metric("retry_delay_seconds_sum", **labels)

    make_handler(max_retries=3, base_delay=0.5, service="unit-metrics").execute(
        Flaky(TransientError("a"), TransientError("b"))
    )
    with pytest.raises(TransientError):
        make_handler(max_retries=1, base_delay=0.5, service="unit-metrics").execute(
            Flaky(TransientError("c"), TransientError("d"))
        )

    assert metric("retry_attempts_total", outcome="retried", **labels) - before["retried"] == 3
    assert (
        metric("retry_attempts_total", outcome="succeeded_after_retry", **labels) - before["succeeded_after_retry"] == 1
    )
    assert metric("retry_attempts_total", outcome="gave_up", **labels) - before["gave_up"] == 1
    assert metric("retry_delay_seconds_count", **labels) - delay_count == 3
    assert metric("retry_delay_seconds_sum", **labels) - delay_sum == pytest.approx(0.5 + 1.0 + 0.5)


def test_a_first_time_success_counts_no_retry_outcome(make_handler):
    labels = {"service": "unit-plain-success"}
    make_handler(max_retries=3, service="unit-plain-success").execute(Flaky())
    assert metric("retry_attempts_total", outcome="succeeded_after_retry", **labels) == 0
    assert metric("retry_attempts_total", outcome="retried", **labels) == 0


def test_deadline_give_up_is_counted(make_handler):
    labels = {"service": "unit-deadline", "outcome": "deadline_exceeded"}
    before = metric("retry_attempts_total", **labels)
    with pytest.raises(RateLimited):
        make_handler(max_retries=3, max_delay=60.0, deadline=5.0, service="unit-deadline").execute(
            Flaky(RateLimited(retry_after=9.0))
        )
    assert metric("retry_attempts_total", **labels) - before == 1


def test_every_retry_is_logged_with_the_error_redacted(make_handler):
    secret_url = "https://api.green-api.com/waInstance1101/sendMessage/abcdef0123456789secret"
    fn = Flaky(TransientError(f"connection reset calling {secret_url}"))
    with capture_logs() as logs:
        make_handler(max_retries=2, base_delay=4.0, max_delay=60.0, service="green_api").execute(fn)
    retries = [entry for entry in logs if entry["event"] == "retry_attempt"]
    assert len(retries) == 1
    entry = retries[0]
    assert entry["log_level"] == "warning"
    assert (entry["service"], entry["attempt"], entry["delay"]) == ("green_api", 2, 4.0)
    assert "abcdef0123456789secret" not in entry["error"]
    assert "[REDACTED]" in entry["error"]
    assert entry["error"].startswith("TransientError: connection reset")


def test_giving_up_is_logged_with_the_reason(make_handler):
    with capture_logs() as logs, pytest.raises(TransientError):
        make_handler(max_retries=1, base_delay=0.1, service="unit-log-give-up").execute(
            Flaky(TransientError("a"), TransientError("b"))
        )
    gave_up = [entry for entry in logs if entry["event"] == "retry_gave_up"]
    assert [(e["reason"], e["attempts"]) for e in gave_up] == [("gave_up", 2)]


def test_a_named_service_has_its_retry_series_at_zero_before_its_first_retry():
    from prometheus_client import REGISTRY

    RetryHandler(RetryConfig(service="declared_svc"))

    assert REGISTRY.get_sample_value("retry_attempts_total", {"service": "declared_svc", "outcome": "gave_up"}) == 0
    assert REGISTRY.get_sample_value("retry_delay_seconds_count", {"service": "declared_svc"}) == 0
