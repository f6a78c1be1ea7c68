from __future__ import annotations

import asyncio

import pytest

from reliability.degradation import get_degradation_handler


@pytest.mark.parametrize("interval", [0, -1, 0.01, float("nan"), float("inf"), "30", True, None])
def test_start_monitoring_refuses_an_interval_that_is_not_a_sane_number_of_seconds(interval):
    async def start() -> None:
        await get_degradation_handler().start_monitoring(interval=interval)

    with pytest.raises(ValueError, match="interval"):
        asyncio.run(start())
    assert not get_degradation_handler().monitoring


def test_the_handler_is_one_per_process_and_answers_the_gates(at_level):
    at_level(1)
    handler = get_degradation_handler()
    assert handler is get_degradation_handler()
    assert handler.current_level.slug == "minor"
    assert handler.allows("reports") and not handler.allows("ai_sentiment")
