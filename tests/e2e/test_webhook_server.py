"""The webhook under a real gunicorn: concurrent duplicates, raw header bytes, a lost database."""

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
