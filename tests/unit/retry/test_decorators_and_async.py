from __future__ import annotations

import asyncio

import pytest

from reliability.errors import CircuitOpenError, TransientError
from reliability.retry import RetryBudget, retry
from tests.unit.retry.conftest import Flaky, metric


@pytest.fixture
def on_clock(clock):
    return {"sleep": clock.sleep, "async_sleep": clock.async_sleep, "clock": clock, "jitter": "none"}


def test_decorator_with_arguments_retries_a_sync_function(on_clock, clock):
    fn = Flaky(TransientError("a"), TransientError("b"))

    @retry(max_retries=3, base_delay=1.0, max_delay=10.0, **on_clock)
    def send(text: str) -> str:
        return f"{fn()}:{text}"

    assert send("hi") == "ok:hi"
    assert fn.calls == 3
    assert clock.sleeps == [1.0, 2.0]


def test_bare_decorator_uses_the_settings_defaults(settings):
    settings.RETRY_DEFAULTS = {"max_retries": 2, "base_delay": 0.0, "max_delay": 0.0}
    fn = Flaky(TransientError("a"), TransientError("b"), TransientError("c"))

    @retry
    def call():
        return fn()

    with pytest.raises(TransientError, match="c"):
        call()
    assert fn.calls == 3


def test_decorator_keeps_the_function_name_and_doc():
    @retry(max_retries=1)
    def send_message():
        """Send one message."""

    assert send_message.__name__ == "send_message"
    assert send_message.__doc__ == "Send one message."


def test_decorator_works_on_methods(on_clock):
    class Client:
        def __init__(self):
            self.flaky = Flaky(ConnectionResetError())

        @retry(max_retries=1, **on_clock)
        def fetch(self, key):
            return (self.flaky(), key)

    assert Client().fetch("k") == ("ok", "k")


def test_decorator_refuses_bad_arguments_when_applied():
    with pytest.raises(ValueError, match="strategy"):
        retry(strategy="random")


def test_decorator_on_a_coroutine_function_returns_a_coroutine_function(on_clock, clock):
    fn = Flaky(TransientError("a"))

    @retry(max_retries=2, base_delay=0.5, max_delay=10.0, **on_clock)
    async def analyse(text: str) -> str:
        await asyncio.sleep(0)
        return f"{fn()}:{text}"

    assert asyncio.iscoroutinefunction(analyse)
    assert asyncio.run(analyse("hello")) == "ok:hello"
    assert fn.calls == 2
    assert clock.sleeps == [0.5]


def test_async_decorator_gives_up_and_reraises(on_clock):
    error = TransientError("still down")
    fn = Flaky(TransientError("down"), error)

    @retry(max_retries=1, **on_clock)
    async def analyse():
        return fn()

    with pytest.raises(TransientError) as caught:
        asyncio.run(analyse())
    assert caught.value is error


def test_execute_async_retries_a_coroutine_function(make_handler, clock):
    fn = Flaky(TransientError("a"), TransientError("b"))

    async def call(value):
        return (fn(), value)

    handler = make_handler(max_retries=3, base_delay=1.0, strategy="linear")
    assert asyncio.run(handler.execute_async(call, 5)) == ("ok", 5)
    assert clock.sleeps == [1.0, 2.0]


def test_execute_async_accepts_a_plain_function(make_handler):
    fn = Flaky(TransientError("a"))
    assert asyncio.run(make_handler(max_retries=1).execute_async(fn)) == "ok"
    assert fn.calls == 2


def test_execute_async_never_retries_an_open_breaker(make_handler, clock):
    fn = Flaky(CircuitOpenError("deepseek", 120.0))

    async def call():
        return fn()

    with pytest.raises(CircuitOpenError):
        asyncio.run(make_handler(max_retries=5).execute_async(call))
    assert fn.calls == 1
    assert clock.sleeps == []


def test_execute_async_respects_deadline_and_budget(make_handler, clock):
    async def failing():
        raise TransientError("down")

    with pytest.raises(TransientError):
        asyncio.run(make_handler(max_retries=10, base_delay=1.0, deadline=5.0).execute_async(failing))
    assert clock.sleeps == [1.0, 2.0]  # 3 s slept; another 4 s would pass the 5 s deadline

    clock.sleeps.clear()
    budget = RetryBudget("unit-async-budget", max_tokens=2)
    labels = {"service": "unit-async-budget", "outcome": "budget_exhausted"}
    before = metric("retry_attempts_total", **labels)
    with pytest.raises(TransientError):
        asyncio.run(make_handler(max_retries=10, service="unit-async-budget", budget=budget).execute_async(failing))
    assert clock.sleeps == []
    assert metric("retry_attempts_total", **labels) - before == 1


def test_async_retries_really_sleep_with_asyncio_by_default():
    from reliability.retry import RetryConfig, RetryHandler

    fn = Flaky(TransientError("a"))
    handler = RetryHandler(RetryConfig(max_retries=1, base_delay=0.05, max_delay=0.05, jitter="none"))

    async def main():
        loop = asyncio.get_running_loop()
        started = loop.time()
        result = await handler.execute_async(fn)
        return result, loop.time() - started

    result, elapsed = asyncio.run(main())
    assert result == "ok"
    assert elapsed >= 0.05
