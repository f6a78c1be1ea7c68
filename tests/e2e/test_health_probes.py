"""Health probes of a real gunicorn process on PostgreSQL and a Redis that we stop."""

from __future__ import annotations

import time

from tests.services import RedisServer


def test_ready_fails_fast_and_live_stays_up_when_redis_stops(fresh_database, web_server):
    redis = RedisServer().start()
    try:
        web = web_server(DATABASE_URL=fresh_database, REDIS_URL=redis.url)
        ready = web.get("/health/ready")
        assert ready.status_code == 200, ready.text
        assert ready.headers["Content-Type"] == "application/health+json"
        assert ready.json()["status"] == "pass"
        assert set(ready.json()["checks"]) == {"database", "cache", "broker"}

        redis.stop()
        time.sleep(1.1)  # past the readiness cache
        started = time.monotonic()
        ready = web.get("/health/ready")
        elapsed = time.monotonic() - started

        assert ready.status_code == 503
        assert elapsed < 3, f"readiness took {elapsed:.2f} s"
        body = ready.json()
        assert body["status"] == "fail"
        assert body["checks"]["cache"][0]["status"] == "fail"
        assert body["checks"]["broker"][0]["status"] == "fail"
        assert body["checks"]["database"][0]["status"] == "pass"
        assert "output" not in body["checks"]["cache"][0], "anonymous callers get no error texts"

        live = web.get("/health/live")
        assert live.status_code == 200
        assert live.json() == {"status": "pass"}
    finally:
        redis.cleanup()


def test_detailed_health_needs_a_token_and_hides_connection_strings(fresh_database, web_server):
    redis = RedisServer().start()
    try:
        web = web_server(DATABASE_URL=fresh_database, REDIS_URL=redis.url, HEALTH_TOKEN="probe-token-1234")
        anonymous = web.get("/health/detailed")
        assert anonymous.status_code == 401
        assert "checks" not in anonymous.json()
        wrong = web.get("/health/detailed", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401

        redis.stop()
        detailed = web.get("/health/detailed", headers={"Authorization": "Bearer probe-token-1234"})
        assert detailed.status_code == 503
        body = detailed.json()
        assert body["checks"]["cache"][0]["output"]
        assert body["checks"]["migrations"][0]["status"] == "pass"
        for path in ("/health/", "/health/ready", "/health/live"):
            text = web.get(path).text
            assert str(redis.port) not in text and "127.0.0.1" not in text and "postgres" not in text
    finally:
        redis.cleanup()
