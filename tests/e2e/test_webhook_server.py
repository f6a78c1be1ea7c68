"""The webhook under a real gunicorn: bad input, chunked bodies, duplicates at once, raw header bytes, lost database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections import Counter

import psycopg
import requests

from tests.e2e.conftest import ROOT
from tests.integration.webhook import bodies
from tests.services import PostgresServer

URL = "/api/v1/webhooks/green-api/"


def _post_all_at_once(web, body: dict, copies: int) -> list[requests.Response]:
    barrier = threading.Barrier(copies)
    responses: list[requests.Response] = []
    lock = threading.Lock()

    def send() -> None:
        barrier.wait()
        response = web.post(
            URL, data=json.dumps(body), headers={**bodies.auth_header(), "Content-Type": "application/json"}
        )
        with lock:
            responses.append(response)

    threads = [threading.Thread(target=send) for _ in range(copies)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return responses


def _stored(database_url: str) -> list[tuple[str, dict]]:
    with psycopg.connect(database_url) as conn:
        return conn.execute("SELECT id_message, payload FROM messaging_webhookevent ORDER BY id").fetchall()


def _chunks(raw: bytes, size: int = 1000):
    # A generator body: requests sends it with Transfer-Encoding: chunked and no Content-Length.
    for start in range(0, len(raw), size):
        yield raw[start : start + size]


def test_bad_input_over_http_gets_its_4xx_and_stores_nothing(fresh_database, web_server):
    web = web_server(DATABASE_URL=fresh_database)
    json_type = {"Content-Type": "application/json"}
    valid = json.dumps(bodies.incoming_text(id_message="VALID")).encode()
    foreign = bodies.incoming_text(id_message="FOREIGN")
    foreign["instanceData"]["idInstance"] = 1101999999
    oversize = json.dumps(bodies.incoming_text("x" * 300_000, id_message="HUGE")).encode()

    missing = web.post(URL, data=valid, headers=json_type)
    wrong = web.post(URL, data=valid, headers={"Authorization": "Bearer not-the-token", **json_type})
    too_large = web.post(URL, data=oversize, headers={**bodies.auth_header(), **json_type})
    too_large_chunked = web.post(URL, data=_chunks(oversize, 65536), headers={**bodies.auth_header(), **json_type})
    not_json = web.post(URL, data=b'{"typeWebhook": ', headers={**bodies.auth_header(), **json_type})
    other_instance = web.post(URL, data=json.dumps(foreign), headers={**bodies.auth_header(), **json_type})

    assert (missing.status_code, wrong.status_code) == (401, 401)
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    assert (too_large.status_code, too_large_chunked.status_code) == (413, 413)
    assert "larger than 262144 bytes" in too_large_chunked.json()["detail"]
    assert not_json.status_code == 400 and "not valid JSON" in not_json.json()["detail"]
    assert other_instance.status_code == 403 and "instance" in other_instance.json()["detail"]
    assert _stored(fresh_database) == []


def test_unknown_fields_are_stored_with_the_event_and_otherwise_ignored_over_http(fresh_database, web_server):
    web = web_server(DATABASE_URL=fresh_database)
    body = bodies.incoming_text(id_message="FUTURE")
    body["futureField"] = {"nested": [1, 2, 3]}
    body["senderData"]["senderContactName"] = "Anna K."
    response = web.post(
        URL, data=json.dumps(body), headers={**bodies.auth_header(), "Content-Type": "application/json"}
    )
    assert (response.status_code, response.json()) == (200, {"status": "stored"})
    [(id_message, payload)] = _stored(fresh_database)
    assert id_message == "FUTURE"
    assert payload["futureField"] == {"nested": [1, 2, 3]}


def test_an_event_sent_in_chunks_is_stored_like_any_other(fresh_database, web_server):
    web = web_server(DATABASE_URL=fresh_database)
    raw = json.dumps(bodies.incoming_text("My order never arrived", id_message="CHUNKED")).encode()
    response = web.post(
        URL, data=_chunks(raw, 50), headers={**bodies.auth_header(), "Content-Type": "application/json"}
    )
    assert (response.status_code, response.json()) == (200, {"status": "stored"})
    again = web.post(URL, data=_chunks(raw, 7), headers={**bodies.auth_header(), "Content-Type": "application/json"})
    assert (again.status_code, again.json()) == (200, {"status": "duplicate"})
    [(id_message, payload)] = _stored(fresh_database)
    assert id_message == "CHUNKED"
    assert payload["messageData"]["textMessageData"]["textMessage"] == "My order never arrived"


def test_identical_webhooks_arriving_at_the_same_moment_are_stored_once(fresh_database, web_server):
    web = web_server(DATABASE_URL=fresh_database)
    outcomes: Counter[str] = Counter()
    for n in range(20):
        responses = _post_all_at_once(web, bodies.incoming_text(f"message {n}", id_message=f"RACE{n:04d}"), copies=8)
        assert [r.status_code for r in responses] == [200] * 8, [r.text for r in responses]
        per_message = Counter(r.json()["status"] for r in responses)
        assert per_message == {"stored": 1, "duplicate": 7}
        outcomes.update(per_message)
    with psycopg.connect(fresh_database) as conn:
        rows = conn.execute(
            "SELECT id_message, count(*) FROM messaging_webhookevent GROUP BY id_message ORDER BY id_message"
        ).fetchall()
    assert rows == [(f"RACE{n:04d}", 1) for n in range(20)]
    assert outcomes == {"stored": 20, "duplicate": 140}


def test_authorization_headers_with_raw_non_ascii_bytes_are_401_not_500(fresh_database, web_server):
    web = web_server(DATABASE_URL=fresh_database)
    for header in ("Bearer tökén".encode(), "Bearer ☃".encode(), b"Bearer \xff\xfe", b"\xc3\xa9"):
        response = web.post(URL, data=json.dumps(bodies.incoming_text()), headers={"Authorization": header})
        assert response.status_code == 401, (header, response.status_code, response.text[:200])
    ok = web.post(URL, data=json.dumps(bodies.incoming_text()), headers=bodies.auth_header())
    assert ok.status_code == 200


def test_a_lost_database_answers_503_with_retry_after_so_green_api_delivers_again(web_server, tmp_path):
    postgres = PostgresServer().start()
    try:
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--no-input", "-v0"],
            cwd=ROOT,
            env={**os.environ, "DATABASE_URL": postgres.url, "VAR_DIR": str(tmp_path / "var")},
            check=True,
            timeout=180,
        )
        web = web_server(DATABASE_URL=postgres.url)
        first = web.post(URL, data=json.dumps(bodies.incoming_text(id_message="BEFORE")), headers=bodies.auth_header())
        assert first.status_code == 200

        postgres.stop()
        response = web.post(
            URL, data=json.dumps(bodies.incoming_text(id_message="DURING")), headers=bodies.auth_header()
        )
        assert response.status_code == 503, response.text
        assert response.headers["Retry-After"] == "5"
        assert response.json() == {"detail": "the database is unavailable right now; try again in a few seconds"}
    finally:
        postgres.cleanup()
