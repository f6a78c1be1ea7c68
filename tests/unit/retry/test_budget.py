from __future__ import annotations

import threading

import pytest

from reliability.errors import TransientError
from reliability.retry import LocalBudgetStore, RetryBudget, get_retry_budget
from tests.unit.retry.conftest import Flaky, metric


def test_a_new_budget_is_full():
    assert RetryBudget("svc").tokens == 10.0


def test_each_failure_takes_a_token_and_each_success_gives_back_a_tenth():
    budget = RetryBudget("svc")
    assert budget.record_failure() is True
    assert budget.tokens == 9.0
    budget.record_success()
    assert budget.tokens == 9.1


def test_tokens_never_exceed_max_or_drop_below_zero():
    budget = RetryBudget("svc", max_tokens=4, token_ratio=1)
    budget.record_success()
    assert budget.tokens == 4.0
    for _ in range(10):
        budget.record_failure()
    assert budget.tokens == 0.0


def test_retries_are_allowed_only_while_more_than_half_the_tokens_are_left():
    budget = RetryBudget("svc", max_tokens=10, token_ratio=0.1)
    allowed = [budget.record_failure() for _ in range(7)]
    # 9, 8, 7, 6 tokens are above half; at 5 and below retries stop.
    assert allowed == [True, True, True, True, False, False, False]


def test_many_small_refills_add_up_exactly():
    budget = RetryBudget("svc", max_tokens=10, token_ratio=0.1)
    for _ in range(10):
        budget.record_failure()
    for _ in range(51):
        budget.record_success()
    assert budget.tokens == pytest.approx(5.1)
    assert budget.record_failure() is False  # 4.1 left: not above half
    for _ in range(20):
        budget.record_success()
    assert budget.tokens == pytest.approx(6.1)
    assert budget.record_failure() is True  # 5.1 left: above half


def test_bad_budget_parameters_are_refused():
    with pytest.raises(ValueError, match="max_tokens"):
        RetryBudget("svc", max_tokens=0)
    with pytest.raises(ValueError, match="token_ratio"):
        RetryBudget("svc", token_ratio=0)


def test_buckets_of_different_services_are_independent():
    store = LocalBudgetStore()
    green, deepseek = RetryBudget("green", store=store), RetryBudget("deepseek", store=store)
    for _ in range(6):
        green.record_failure()
    assert green.tokens == 4.0
    assert deepseek.tokens == 10.0


def test_concurrent_threads_lose_no_update():
    budget = RetryBudget("svc", max_tokens=1000, token_ratio=1)

    def fail_many():
        for _ in range(100):
            budget.record_failure()

    threads = [threading.Thread(target=fail_many) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert budget.tokens == 200.0


def test_get_retry_budget_gives_one_budget_per_service():
    assert get_retry_budget("unit-registry-a") is get_retry_budget("unit-registry-a")
    assert get_retry_budget("unit-registry-a") is not get_retry_budget("unit-registry-b")


def test_a_handler_naming_a_service_spends_that_services_budget(make_handler):
    handler = make_handler(max_retries=1, service="unit-named-budget")
    assert handler.budget is get_retry_budget("unit-named-budget")


def test_budget_denies_retries_after_sustained_failure_and_recovers_after_successes(make_handler, clock):
    budget = RetryBudget("unit-budget", max_tokens=10, token_ratio=0.1)
    handler = make_handler(max_retries=3, base_delay=0.1, strategy="fixed", service="unit-budget", budget=budget)
    labels = {"service": "unit-budget", "outcome": "budget_exhausted"}
    exhausted_before = metric("retry_attempts_total", **labels)

    # An outage: every call fails. The first call gets its 3 retries (10 -> 6 tokens);
    # the second call's failure leaves 5 tokens, no longer above half: no retry, and the
    # caller gets that original error.
    first = Flaky(*[TransientError("down")] * 10)
    with pytest.raises(TransientError):
        handler.execute(first)
    assert first.calls == 4
    second_error = TransientError("still down")
    second = Flaky(second_error, *[TransientError("down")] * 10)
    with pytest.raises(TransientError) as caught:
        handler.execute(second)
    assert second.calls == 1
    assert caught.value is second_error

    # From here on no call is retried: each fails once and goes straight back.
    for _ in range(5):
        call = Flaky(*[TransientError("down")] * 10)
        with pytest.raises(TransientError):
            handler.execute(call)
        assert call.calls == 1
    assert metric("retry_attempts_total", **labels) - exhausted_before == 6
    assert budget.tokens == 0.0

    # Recovery: 61 successes refill 6.1 tokens, so after a failure takes one, more than
    # half is left and that failure may be retried again.
    for _ in range(61):
        handler.execute(Flaky())
    recovered = Flaky(TransientError("blip"))
    assert handler.execute(recovered) == "ok"
    assert recovered.calls == 2


def test_budget_exhaustion_raises_the_original_error_and_logs_it(make_handler):
    from structlog.testing import capture_logs

    budget = RetryBudget("unit-budget-log", max_tokens=2, token_ratio=0.1)
    handler = make_handler(max_retries=3, service="unit-budget-log", budget=budget)
    error = TransientError("down")
    with capture_logs() as logs, pytest.raises(TransientError) as caught:
        handler.execute(Flaky(error))
    assert caught.value is error
    assert [entry["reason"] for entry in logs if entry["event"] == "retry_gave_up"] == ["budget_exhausted"]


def test_errors_that_are_not_retried_do_not_spend_the_budget(make_handler):
    budget = RetryBudget("unit-budget-permanent")
    handler = make_handler(max_retries=3, service="unit-budget-permanent", budget=budget)
    with pytest.raises(ValueError):
        handler.execute(Flaky(ValueError("our bug")))
    assert budget.tokens == 10.0
