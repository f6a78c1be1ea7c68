from __future__ import annotations

import pytest

from reliability.degradation.fallbacks import FallbackService, MemoryCache
from reliability.degradation.metrics import fallback_usage
from tests.clock import FakeClock


def used(service: str, reason: str) -> float:
    return fallback_usage.labels(service=service, reason=reason)._value.get()


@pytest.fixture
def service():
    return FallbackService(clock=FakeClock())


def test_ai_fallback_answers_a_canned_reply_marked_degraded_and_counts_it(service, settings):
    before = used("deepseek", "circuit_open")
    reply = service.ai_fallback("greeting", reason="circuit_open")
    assert reply == {
        "text": settings.DEGRADATION_CANNED_REPLIES["greeting"],
        "kind": "greeting",
        "source": "fallback",
        "degraded": True,
    }
    assert used("deepseek", "circuit_open") == before + 1


def test_ai_fallback_answers_the_default_reply_for_a_kind_it_does_not_have(service, settings):
    assert service.ai_fallback("weather")["text"] == settings.DEGRADATION_CANNED_REPLIES["default"]
    assert service.ai_fallback(None)["kind"] == "default"


def test_whatsapp_fallback_says_the_message_stays_queued_without_repeating_its_text(service):
    before = used("green_api", "not_allowed")
    answer = service.whatsapp_fallback({"id": 42, "chatId": "79001234567@c.us", "message": "secret words"})
    assert answer["status"] == "queued" and answer["degraded"] is True
    assert (answer["message_id"], answer["chat_id"]) == (42, "79001234567@c.us")
    assert "secret words" not in repr(answer)
    assert used("green_api", "not_allowed") == before + 1


def test_database_fallback_serves_reads_and_refuses_writes_while_read_only(service, at_level):
    at_level(4, read_only=True)
    before = used("database", "read_only")
    assert service.database_fallback("read")["allowed"] is True
    refused = service.database_fallback("write")
    assert (refused["allowed"], refused["read_only"]) == (False, True)
    assert used("database", "read_only") == before + 1
    at_level(0)
    assert service.database_fallback("write") == {
        "operation": "write",
        "allowed": True,
        "read_only": False,
        "detail": "",
    }


@pytest.mark.parametrize("call", [("ai_fallback", "greeting", "bored"), ("database_fallback", "drop")])
def test_fallbacks_refuse_arguments_outside_their_fixed_lists(service, call):
    method, *args = call
    with pytest.raises(ValueError):
        if method == "ai_fallback":
            service.ai_fallback(args[0], reason=args[1])
        else:
            service.database_fallback(args[0])


def test_the_memory_cache_is_bounded_and_drops_the_least_recently_used_entry():
    memory = MemoryCache(3, clock=FakeClock())
    for key in "abc":
        memory.set(key, key.upper(), timeout=60)
    memory.get("a")
    memory.set("d", "D", timeout=60)
    assert len(memory) == 3
    assert [memory.get(key) for key in "abcd"] == ["A", None, "C", "D"]


def test_memory_cache_entries_expire():
    clock = FakeClock()
    memory = MemoryCache(10, clock=clock)
    memory.set("k", 1, timeout=5)
    clock.advance(4.9)
    assert memory.get("k") == 1
    clock.advance(0.1)
    assert memory.get("k", "gone") == "gone"
